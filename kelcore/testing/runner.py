"""Running the checks: pick a plugin's components, run every check of their kind, collect results."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..plugins import Registry, UnknownComponentError, get_registry, unknown_name_message
from .checks import ConformanceError, ConformanceSkip, distribution_of, model_checks
from .suites import DATASET_CHECKS, EXPORTER_CHECKS

Target = Any  # a component class, or (class, options)


@dataclass
class CheckResult:
    model: str          # the component checked: "distribution Class" (kept as "model" for --json readers)
    check: str
    status: str  # "PASS", "FAIL" or "SKIP"
    message: str = ""
    kind: str = "models"


def unpack(target: Target) -> tuple[type, Any]:
    return target if isinstance(target, tuple) else (target, None)


def target_id(target: Target) -> str:
    """``kel-plugin-groove.GroovePredictor``: the distribution and the class."""
    cls, _ = unpack(target)
    return f"{distribution_of(cls)}.{cls.__qualname__}"


def checks_for(kind: str) -> list[Callable[..., None]]:
    return {"models": model_checks, "datasets": lambda: DATASET_CHECKS,
            "exporters": lambda: EXPORTER_CHECKS}[kind]()


def components_of_plugin(name: str, registry: Registry | None = None,
                         kinds: tuple[str, ...] = ("models", "datasets", "exporters")) -> dict[str, dict[str, type]]:
    """``{kind: {name: cls}}`` registered under ``name``, or by the plugin whose entry point or distribution is it."""
    registry = registry or get_registry()
    found: dict[str, dict[str, type]] = {}
    for kind in kinds:
        components = registry.components[kind]
        if name in components:
            found.setdefault(kind, {})[name] = components[name].obj
    if not found:
        for plugin in registry.plugins:
            if name in (plugin.name, plugin.distribution):
                for kind in kinds:
                    for component in plugin.components.get(kind, []):
                        if component in registry.components[kind]:
                            found.setdefault(kind, {})[component] = registry.components[kind][component].obj
    if not found:
        broken = next((p for p in registry.plugins if name in (p.name, p.distribution) and p.error), None)
        if broken is not None:  # the plugin is installed but did not load: its error, not "no such plugin"
            raise UnknownComponentError(f"plugin {broken.name!r} ({broken.distribution} {broken.version}) failed "
                                        f"to load: {broken.error}")
        candidates = sorted({n for k in kinds for n in registry.components[k]}
                            | {p.name for p in registry.plugins if any(p.components.get(k) for k in kinds)}
                            | {p.distribution for p in registry.plugins if any(p.components.get(k) for k in kinds)})
        raise UnknownComponentError(unknown_name_message("components", name, candidates, registry.plugins).replace(
            "unknown component", "no plugin or component"))
    return found


def run_check(check: Callable[..., None], target: Target, kind: str = "models") -> CheckResult:
    cls, options = unpack(target)
    label = target_id(target)
    try:
        check(cls, options)
    except ConformanceSkip as skip:
        return CheckResult(label, check.__name__, "SKIP", str(skip), kind)
    except ConformanceError as failure:
        return CheckResult(label, check.__name__, "FAIL", str(failure), kind)
    except Exception as exc:  # noqa: BLE001 - a crashing component fails the check, it does not stop the suite
        from ..errors import describe_exception

        return CheckResult(label, check.__name__, "FAIL",
                           f"{label}: {check.__name__} crashed: {describe_exception(exc)} "
                           f"({type(exc).__name__}; KELCORE_DEBUG=1 for the traceback)", kind)
    return CheckResult(label, check.__name__, "PASS", "", kind)


def run_all(targets: list[Target], kind: str = "models") -> list[CheckResult]:
    return [run_check(check, target, kind) for target in targets for check in checks_for(kind)]
