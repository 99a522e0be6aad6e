"""Entry-point loading, isolation of broken plugins, and the component registry.

Each entry point of the group ``kelcore`` is imported on its own: a plugin
that raises is recorded with its error and every command keeps working
(``KELCORE_STRICT_PLUGINS=1`` makes it fatal). ``KELCORE_LOAD_PLUGINS`` is a
comma-separated allow-list of entry-point or distribution names (set but empty:
no external plugin). Built-in components register after external plugins.
"""
from __future__ import annotations

import difflib
import functools
import importlib
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "kelcore"
KINDS = ("datasets", "models", "trainers", "exporters", "commands")
BUILTIN_MODULES = ("kelcore.training.default", "kelcore.builtin_commands", "kelcore.testing.command")
BUILTIN_DIST = "kelcore (built-in)"


class PluginError(Exception):
    """A plugin could not be loaded or registered something invalid."""


class UnknownComponentError(LookupError):
    """A name no installed plugin registered; the message lists the installed ones."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name."""


@dataclass
class Component:
    """One registered thing: a model, dataset, trainer, exporter or command."""

    kind: str
    name: str
    obj: Any
    distribution: str
    version: str


@dataclass
class PluginInfo:
    """What ``kelcore plugins`` shows for one entry point."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    #: components this plugin tried to register but the core refused (missing requirement, duplicate name)
    problems: list[str] = field(default_factory=list)

    def add_problem(self, message: str) -> None:
        self.problems.append(message)
        self.error = message if self.error is None else f"{self.error}\n{message}"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Registry:
    """All components of all loaded plugins, by kind and name."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.plugins: list[PluginInfo] = []
        self.conflicts: dict[tuple[str, str], str] = {}

    def add(self, component: Component) -> None:
        existing = self.components[component.kind].get(component.name)
        if existing is not None:
            message = (
                f"{component.kind[:-1]} name {component.name!r} is registered twice: by "
                f"{existing.distribution} {existing.version} and by "
                f"{component.distribution} {component.version}; uninstall one of them"
            )
            self.conflicts[(component.kind, component.name)] = message
            raise DuplicateNameError(message)
        self.components[component.kind][component.name] = component

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; raises with the installed names, a suggestion, and what the installed
        distributions' metadata says about the name (a plugin that failed to load or is not allowed)."""
        if (kind, name) in self.conflicts:
            raise PluginError(self.conflicts[(kind, name)])
        try:
            return self.components[kind][name]
        except KeyError:
            raise UnknownComponentError(unknown_name_message(kind, name, self.names(kind), self.plugins)) from None


INSTALL_HINT = "README.md, section Installing, says which distribution provides which component"


def unknown_name_message(kind: str, name: str, installed: list[str], plugins: list[PluginInfo] | None = None) -> str:
    """``unknown model 'grove'; installed: a, b; did you mean 'groove'?`` plus what the installed distributions
    say: a plugin whose entry point has that name but is not loaded (the allow-list, a load error), or that no
    installed distribution provides it. The core names no distribution it does not see installed."""
    singular = kind[:-1]
    message = f"unknown {singular} {name!r}; installed: {', '.join(installed) or 'none'}"
    close = difflib.get_close_matches(name, installed, n=1)
    if close:
        return message + f"; did you mean {close[0]!r}?"
    broken = [p for p in plugins or [] if p.error and not p.components]
    unloaded = _installed_but_not_loaded(name, plugins or [])
    if unloaded:
        return message + f"; {unloaded}"
    if broken:
        return message + "; " + ", ".join(f"{p.distribution} {p.version} failed to load ({p.error.splitlines()[0]})"
                                          for p in broken) + ": it may provide it (see `kelcore plugins`)"
    return message + f"; no installed distribution provides it ({INSTALL_HINT})"


def _installed_but_not_loaded(name: str, plugins: list[PluginInfo]) -> str | None:
    """An installed distribution whose ``kelcore`` entry point is called ``name`` and that was not loaded."""
    loaded = {p.name for p in plugins}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name.replace("_", "-") != name.replace("_", "-") or entry_point.name in loaded:
            continue
        dist = entry_point.dist.metadata["Name"] if entry_point.dist is not None else entry_point.value
        return (f"the installed distribution {dist} has a plugin {entry_point.name!r} that is not loaded "
                "(KELCORE_LOAD_PLUGINS leaves it out)")
    return None


def _allow_list() -> set[str] | None:
    raw = os.environ.get("KELCORE_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _strict() -> bool:
    return os.environ.get("KELCORE_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _make_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    return manager


def _collect(manager: pluggy.PluginManager, module: Any, info: PluginInfo, registry: Registry) -> None:
    """Call each hook of one plugin with a ``register`` bound to its distribution."""
    for caller in manager.get_hookcallers(module) or []:
        kind = caller.name.removeprefix("kelcore_register_")
        info.hooks.append(caller.name)
        for impl in caller.get_hookimpls():
            if impl.plugin is not module:
                continue

            def register(name: str, obj: Any, _kind: str = kind) -> None:
                if not isinstance(name, str) or not name:
                    raise PluginError(f"{info.distribution}: register() needs a non-empty name, got {name!r}")
                try:
                    from .requirements import check_component

                    check_component(_kind, name, obj, info.distribution)
                    registry.add(Component(_kind, name, obj, info.distribution, info.version))
                except PluginError as exc:  # refuse this component, keep the plugin's others
                    if _strict():
                        raise
                    info.add_problem(str(exc))
                    return
                info.components.setdefault(_kind, []).append(name)

            impl.function(register=register)


def _load_module(manager: pluggy.PluginManager, registry: Registry, info: PluginInfo, load: Any) -> None:
    try:
        module = load()
        manager.register(module, name=f"{info.distribution}:{info.name}")
        manager.check_pending()
        _collect(manager, module, info, registry)
    except Exception as exc:  # noqa: BLE001 - isolate any plugin failure
        info.error = f"{type(exc).__name__}: {exc}" if isinstance(exc, ImportError) or not str(exc) else str(exc)
        if _strict():
            raise PluginError(
                f"plugin {info.name!r} ({info.distribution} {info.version}) failed to load: {info.error}\n"
                + traceback.format_exc()
            ) from exc


def load_registry() -> Registry:
    """Load every allowed ``kelcore`` entry point, then the built-ins."""
    registry = Registry()
    manager = _make_manager()
    allowed = _allow_list()
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else "unknown"
        if allowed is not None and entry_point.name not in allowed and dist_name not in allowed:
            continue
        info = PluginInfo(
            name=entry_point.name, distribution=dist_name,
            version=dist.version if dist is not None else "?", module=entry_point.value,
        )
        registry.plugins.append(info)
        _load_module(manager, registry, info, entry_point.load)
    version = _kelcore_version()
    for module_name in BUILTIN_MODULES:
        info = PluginInfo(name=module_name, distribution=BUILTIN_DIST, version=version, module=module_name)
        registry.plugins.append(info)
        _load_module(manager, registry, info, lambda m=module_name: importlib.import_module(m))
    return registry


def _kelcore_version() -> str:
    try:
        return metadata.version("kelcore")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


_REGISTRY: Registry | None = None


def get_registry(reload: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None or reload:
        _REGISTRY = load_registry()
    return _REGISTRY


@functools.lru_cache(maxsize=1)
def _distributions_by_package(search_path: tuple[str, ...]) -> dict[str, list[str]]:
    # importlib.metadata.packages_distributions() reads every installed distribution's file list (torch's alone has
    # tens of thousands of lines): about 0.4 s a call. Once per sys.path is enough: what it finds changes only when
    # the path does (a test or an embedding host adding a folder)
    return metadata.packages_distributions()


def provider_of(cls: type) -> dict[str, str]:
    """``{"name", "version"}`` of the installed distribution that provides ``cls``: the registry's record when ``cls``
    is a registered component (``BUILTIN_DIST`` for the core's own), else the import package's distribution metadata,
    else its top-level module with version "unknown"."""
    for components in get_registry().components.values():
        for component in components.values():
            if component.obj is cls:
                return {"name": component.distribution, "version": str(component.version)}
    top = cls.__module__.split(".")[0]
    for name in _distributions_by_package(tuple(sys.path)).get(top, []):
        try:
            return {"name": name, "version": metadata.version(name)}
        except metadata.PackageNotFoundError:
            continue
    return {"name": top, "version": "unknown"}
