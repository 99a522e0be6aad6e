"""Every requirement of a plugin component, stated once and checked when it registers.

A component that misses one is refused with a message naming the distribution, the component and its class and
what to add; ``kelcore plugins`` shows it as a load error and every other component keeps working. Where a default is
sensible the base class has one (``Options``, ``write_demo``, ``Trainer.Options``, ``Exporter.Options``).
"""
from __future__ import annotations

from typing import Any

from .components import Command, Dataset, Exporter, Options, SequenceModel, Trainer
from .plugins import PluginError

BASES = {"models": SequenceModel, "datasets": Dataset, "trainers": Trainer, "exporters": Exporter}
ACTIVATIONS = ("softmax", "tanh", "sigmoid", "relu", "linear")

#: kind -> (attribute, what to add) a component must have (a class attribute, a property or a method).
REQUIRED: dict[str, list[tuple[str, str]]] = {
    "models": [
        ("spec_name", 'spec_name = "GroovePredictor" (a ModelSpec of ModelSpec.h; `kelcore spec` lists them)'),
        ("primary_metric", 'primary_metric = "name" (a key of metrics(); how "beats the baseline" is judged)'),
    ],
    "datasets": [
        ("produces", 'produces = "GroovePredictor" (the ModelSpec whose feature contract the sequences follow)'),
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
    if kind == "models":
        for attribute, example in (("target_size", "target_size=N"), ("output_activation", 'output_activation="softmax"')):
            try:
                getattr(obj, attribute)
            except Exception as exc:  # noqa: BLE001 - feature_contract() itself may fail: say so
                raise PluginError(f"{where}: missing {attribute}: its feature_contract() does not state it "
                                  f"(FeatureContract({example}, ...)) and the class does not set it "
                                  f"({type(exc).__name__}: {exc})") from None
        if obj.output_activation not in ACTIVATIONS:
            raise PluginError(f"{where}: output_activation = {obj.output_activation!r}: use one of "
                              f"{', '.join(ACTIVATIONS)}")
    if kind == "models":
        from .spec import SpecError, get_spec

        try:
            get_spec(obj.spec_name)
        except SpecError as exc:
            raise PluginError(f"{where}: spec_name {obj.spec_name!r}: {exc}") from None
    if kind == "datasets" and _has(obj, "standardised_tasks"):
        raise PluginError(f"{where}: standardised_tasks is gone: whether the inputs are standardised is the "
                          "produced model's feature contract's `standardised`; remove standardised_tasks")
