"""Every requirement of a plugin component, stated once and checked when it registers.

A component that misses one is refused with a message naming the distribution, the component and its class and
what to add; ``kelcore plugins`` shows it as a load error and every other component keeps working. Where a default is
sensible the base class has one (``Options``, ``write_demo``, ``Trainer.Options``, ``Exporter.Options``).
"""
from __future__ import annotations

import inspect
from typing import Any

from .components import Command, Dataset, Exporter, Options, SequenceModel, Trainer
from .plugins import PluginError

BASES = {"models": SequenceModel, "datasets": Dataset, "trainers": Trainer, "exporters": Exporter}
ACTIVATIONS = ("softmax", "tanh", "sigmoid", "relu", "linear")

#: kind -> (attribute, what to add) a component must have (a class attribute, a property or a method).
REQUIRED: dict[str, list[tuple[str, str]]] = {
    "models": [
        ("spec_name", 'spec_name = "GroovePredictor" (a ModelSpec of ModelSpec.h; `kelcore spec` lists them)'),
        ("target_size", "target_size = N (width of the per-step target vector the dataset provides)"),
        ("output_activation", 'output_activation = "softmax" (or tanh, sigmoid, relu, linear: the last module)'),
        ("primary_metric", 'primary_metric = "name" (a key of metrics(); how "beats the baseline" is judged)'),
    ],
    "datasets": [
        ("produces", 'produces = "GroovePredictor" (the ModelSpec whose feature contract the sequences follow)'),
        ("target_size", "target_size = N (width of every Sequence.targets row)"),
    ],
    "trainers": [],
    "exporters": [("suffix", 'suffix = ".ext" (the file name ending of an exported model)')],
}
INDEXED_REQUIRED = [
    ("extract", "extract = staticmethod(fn) (a module-level fn(track, config) -> Extracted)"),
    ("check", "check = staticmethod(fn) (a module-level fn(track, config) -> Extracted, for `data validate`)"),
]


def _has(cls: type, attribute: str) -> bool:
    return any(attribute in vars(klass) for klass in cls.__mro__ if klass not in (object,)) and not (
        getattr(getattr(cls, attribute, None), "__isabstractmethod__", False))


def check_component(kind: str, name: str, obj: Any, distribution: str) -> None:
    """Raise :class:`PluginError` naming distribution, component and class, and what to add."""
    if kind == "commands":
        if not isinstance(obj, Command):
            raise PluginError(f"{distribution}: command {name!r}: register an instance of a kelcore.api.Command "
                              f"subclass, not {obj!r}")
        return
    base = BASES[kind]
    label = f"{distribution}: {kind[:-1]} {name!r}"
    if not isinstance(obj, type) or not issubclass(obj, base):
        raise PluginError(f"{label}: register a subclass of kelcore.api.{base.__name__}, not {obj!r}")
    where = f"{label} ({obj.__module__}.{obj.__qualname__})"
    missing = [what for attribute, what in REQUIRED[kind] if not _has(obj, attribute)]
    from .data import IndexedDataset

    if kind == "datasets" and issubclass(obj, IndexedDataset):
        missing += [what for attribute, what in INDEXED_REQUIRED if not _has(obj, attribute)]
        if not _has(obj, "name"):
            obj.name = name  # a sensible default: the registered name labels logs and reports
    abstract = sorted(getattr(obj, "__abstractmethods__", ()))
    if not isinstance(getattr(obj, "Options", None), type) or not issubclass(obj.Options, Options):
        missing.append("Options = a kelcore.api.Options subclass (pydantic; unknown keys are errors)")
    elif kind == "datasets" and "root" not in obj.Options.model_fields:
        missing.append("Options with a `root` field: subclass kelcore.api.DatasetOptions")
    if abstract:
        missing.append(f"the method(s) {', '.join(abstract)} (abstract in kelcore.api.{base.__name__})")
    if missing:
        raise PluginError(f"{where}: missing " + "; ".join(missing))
    if kind == "models" and obj.output_activation not in ACTIVATIONS:
        raise PluginError(f"{where}: output_activation = {obj.output_activation!r}: use one of "
                          f"{', '.join(ACTIVATIONS)}")
    if kind == "models":
        from .spec import SpecError, get_spec

        try:
            get_spec(obj.spec_name)
        except SpecError as exc:
            raise PluginError(f"{where}: spec_name {obj.spec_name!r}: {exc}") from None
    if kind == "datasets" and isinstance(inspect.getattr_static(obj, "target_size", None), int) is False \
            and not isinstance(inspect.getattr_static(obj, "target_size", None), property):
        raise PluginError(f"{where}: target_size must be an int (or a property), got "
                          f"{inspect.getattr_static(obj, 'target_size')!r}")
