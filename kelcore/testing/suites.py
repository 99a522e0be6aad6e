"""Conformance suites for dataset plugins and exporters (the model suite is :mod:`kelcore.testing.checks`).

Dataset checks take ``(dataset_cls, options=None)``: they write the dataset's demo corpus (skipped when it has
none), prepare it and hold it against the contract of the model it ``produces``. Exporter checks take
``(exporter_cls, options=None)`` and export the smallest registered model.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..components import SPLITS, Dataset, ExportContext, ExportError, Exporter, RunContext
from ..runs import build_model
from ..spec import SpecError, get_spec
from .checks import ConformanceError, ConformanceSkip, describe, kept_dir


def _fail(cls: type, check: str, message: str) -> ConformanceError:
    return ConformanceError(f"{describe(cls)}: {check}: {message}")


def _demo(cls: type[Dataset], options: Any, folder: Path) -> Dataset:
    try:
        cls.write_demo(folder / "demo", seed=0)
    except NotImplementedError as exc:
        raise ConformanceSkip(f"{describe(cls)} has no demo corpus ({exc})") from None
    values = dict(options or {})
    values.setdefault("root", folder / "demo")
    fields = getattr(cls.Options, "model_fields", {})
    for key, value in (("cache_dir", folder / "cache"), ("workers", 1)):
        if key in fields:
            values.setdefault(key, value)
    return cls(cls.Options(**values))


def _models_for(spec_name: str) -> list[type]:
    from ..plugins import get_registry

    return [c.obj for c in get_registry().components["models"].values()
            if getattr(c.obj, "spec_name", None) == spec_name]


def check_dataset_declares_contract(cls: type[Dataset], options: Any = None) -> None:
    """``Options`` has a ``root``; ``write_demo`` writes a folder the dataset reads; ``produces`` is a ModelSpec."""
    if "root" not in getattr(cls.Options, "model_fields", {}):
        raise _fail(cls, "declares its contract", "Options has no `root` field: subclass kelcore.api.DatasetOptions")
    with tempfile.TemporaryDirectory() as tmp:
        dataset = _demo(cls, options, Path(tmp))
        try:
            get_spec(dataset.produces)
        except SpecError as exc:
            raise _fail(cls, "declares its contract", f"produces {dataset.produces!r}: {exc}") from None


def check_dataset_demo_prepares(cls: type[Dataset], options: Any = None) -> None:
    """The demo corpus prepares into sequences whose widths are the ModelSpec's input size and the model's target
    size, split into train/validation/test with no track or group on two sides, counts adding up."""
    with tempfile.TemporaryDirectory() as tmp:
        dataset = _demo(cls, options, Path(tmp))
        spec = get_spec(dataset.produces)
        try:
            data = dataset.prepare(RunContext(run_dir=Path(tmp) / "run", seed=0))
        except ValueError as exc:  # its message may name a log in this folder, removed when the check ends
            raise _fail(cls, "demo prepares", str(exc).replace(tmp, "<the check's temporary folder, removed>")) \
                from None
        splits = {"train": data.train, "validation": data.validation, "test": data.test}
        if not data.train:
            raise _fail(cls, "demo prepares", "the demo corpus gives no training sequence")
        targets = {m.target_size for m in _models_for(spec.name)}
        for side, sequences in splits.items():
            for seq in sequences:
                if seq.inputs.ndim != 2 or seq.inputs.shape[1] != spec.input_size:
                    raise _fail(cls, "demo prepares", f"{side} {seq.track_id}: inputs of shape "
                                f"{list(seq.inputs.shape)}, but {spec.name} takes {spec.input_size} per step")
                if targets and seq.targets.shape[-1] not in targets:
                    raise _fail(cls, "demo prepares", f"{side} {seq.track_id}: targets of width "
                                f"{seq.targets.shape[-1]}, but {spec.name} models expect {sorted(targets)}")
                if seq.targets.shape[-1] != dataset.target_size or len(seq.targets) != len(seq.inputs):
                    raise _fail(cls, "demo prepares", f"{side} {seq.track_id}: targets of shape "
                                f"{list(seq.targets.shape)} for {len(seq.inputs)} steps, but the dataset declares "
                                f"target_size = {dataset.target_size}")
                if not np.isfinite(seq.inputs).all():
                    raise _fail(cls, "demo prepares", f"{side} {seq.track_id}: non-finite inputs")
        seen: dict[str, str] = {}
        for side, sequences in splits.items():
            for seq in sequences:
                for key in (f"track {seq.track_id}", f"group {seq.group}" if seq.group else None):
                    if key and seen.setdefault(key, side) != side:
                        raise _fail(cls, "splits", f"{key} is in both {seen[key]} and {side}: a leak between splits")
        report = data.report
        if report is not None and not report.adds_up:
            raise _fail(cls, "counts", f"{report.counts_line()}: the counts do not add up to listed")


def check_dataset_counts_a_corrupt_file(cls: type[Dataset], options: Any = None) -> None:
    """A demo file overwritten with garbage is counted as corrupt by ``validate()`` (never dropped, never fatal),
    and ``listed = usable + missing + corrupt + unlabelled + unsupported``."""
    from ..data import IndexedDataset

    with tempfile.TemporaryDirectory() as tmp:
        dataset = _demo(cls, options, Path(tmp))
        if not isinstance(dataset, IndexedDataset):
            raise ConformanceSkip(f"{describe(cls)} is not an IndexedDataset: no index to corrupt a file of")
        tracks = [t for t in dataset.tracks() if t.path is not None and Path(t.path).is_file()]
        if not tracks:
            raise _fail(cls, "counts a corrupt file", "the demo corpus lists no existing file")
        Path(tracks[0].path).write_bytes(b"\x00garbage, not a real file\xff" * 4)
        report = dataset.validate()
        if report.corrupt < 1:
            raise _fail(cls, "counts a corrupt file", f"{tracks[0].path} was overwritten with garbage but validate() "
                        f"says {report.counts_line()}: the check function must return Extracted(kind='corrupt')")
        if not report.adds_up:
            raise _fail(cls, "counts a corrupt file", f"{report.counts_line()}: the counts do not add up to listed")
        bad = [t.split for t in dataset.tracks() if t.split is not None and t.split not in SPLITS]
        if bad:
            raise _fail(cls, "splits", f"the index uses split names {sorted(set(bad))}; use {', '.join(SPLITS)}")


DATASET_CHECKS: list[Callable[..., None]] = [
    check_dataset_declares_contract, check_dataset_demo_prepares, check_dataset_counts_a_corrupt_file,
]


def _smallest_model() -> type:
    from ..plugins import get_registry

    models = []
    for component in get_registry().components["models"].values():
        try:
            models.append((get_spec(component.obj.spec_name).param_count, component.obj.__name__, component.obj))
        except (SpecError, AttributeError):
            continue
    import torch

    for _, _, cls in sorted(models, key=lambda item: item[:2]):  # the smallest model that is deterministic
        model = build_model(cls, None, seed=0)
        x = torch.zeros(1, 2, get_spec(cls.spec_name).input_size)
        with torch.no_grad():
            if torch.equal(model(x), model(x)):
                return cls
    raise ConformanceSkip("no (deterministic) model is registered to export (install a model plugin)")


def check_exporter_round_trip(cls: type[Exporter], options: Any = None) -> None:
    """The exporter writes the smallest registered model to ``path`` (its ``suffix``), and the re-read file
    matches PyTorch within the exporter's ``tolerance``; its own validator (if any) accepts the file."""
    model_cls = _smallest_model()
    exporter = cls(cls.Options(**(options or {})))
    if not isinstance(cls.suffix, str) or not cls.suffix.startswith("."):
        raise _fail(cls, "exporter round trip", f"suffix {cls.suffix!r} must start with '.'")
    model = build_model(model_cls, None, seed=0).train()
    spec = get_spec(model.spec_name)
    folder = kept_dir(cls, f"round-trip-{model.spec_name}")
    path = folder / f"{spec.name}{cls.suffix}"
    identity = {"mean": [0.0] * spec.input_size, "std": [1.0] * spec.input_size}
    try:
        result = exporter.export(model, path, ExportContext(normalization=identity, run_id="conformance"))
    except ExportError as exc:
        raise _fail(cls, "exporter round trip", f"{model.spec_name}: {exc} (files kept in {folder})") from None
    if not Path(result.path).is_file():
        raise _fail(cls, "exporter round trip", f"export() returned {result.path}, which does not exist")
    if not result.max_abs_error <= cls.tolerance:
        raise _fail(cls, "exporter round trip", f"{model.spec_name}: max |file - PyTorch| = "
                    f"{result.max_abs_error:.3g} > {cls.tolerance} (files kept in {folder})")
    if not model.training:
        raise _fail(cls, "exporter round trip", "export() left the model in eval mode: restore the mode it was given")
    if cls.can_check_files():
        checked = cls.check_file(Path(result.path))
        if checked.status != 0:
            raise _fail(cls, "exporter round trip", f"its own validator rejects the file it wrote: "
                        f"{'; '.join(checked.problems)} (files kept in {folder})")
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


EXPORTER_CHECKS: list[Callable[..., None]] = [check_exporter_round_trip]
