"""Conformance suites for dataset plugins and exporters (the model suite is :mod:`kelcore.testing.checks`).

Dataset checks take ``(dataset_cls, options=None)``: the contract check runs on an empty folder (no data needed);
the others write the dataset's demo corpus (skipped, with the reason, when it has none), prepare it and hold it
against the contract of the model it ``produces``. Exporter checks take
``(exporter_cls, options=None)`` and export the smallest registered model.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..components import SPLITS, Dataset, ExportContext, ExportError, Exporter, RunContext, contract_of
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


def _without_demo(cls: type[Dataset], options: Any, folder: Path) -> Dataset:
    """The dataset on an empty folder: what can be checked without any data."""
    values = dict(options or {})
    values.setdefault("root", folder)
    return cls(cls.Options(**values))


def check_dataset_declares_contract(cls: type[Dataset], options: Any = None) -> None:
    """Without any data: ``Options`` has a ``root``; ``produces`` is a ModelSpec whose feature contract an installed
    model provides; the target width and the standardisation are that contract's (a dataset never disagrees)."""
    check = "declares its contract"
    if "root" not in getattr(cls.Options, "model_fields", {}):
        raise _fail(cls, check, "Options has no `root` field: subclass kelcore.api.DatasetOptions")
    with tempfile.TemporaryDirectory() as tmp:
        dataset = _without_demo(cls, options, Path(tmp))
        try:
            spec = get_spec(dataset.produces)
        except SpecError as exc:
            raise _fail(cls, check, f"produces {dataset.produces!r}: {exc}") from None
        try:
            contract = contract_of(spec.name)
        except LookupError as exc:
            raise ConformanceSkip(f"{describe(cls)}: {exc}") from None
        try:
            target_size, standardised = dataset.target_size, dataset.standardised
        except (LookupError, AttributeError) as exc:
            raise _fail(cls, check, str(exc)) from None
        if contract.target_size is not None and target_size != contract.target_size:
            raise _fail(cls, check, f"target_size = {target_size}, but {spec.name}'s feature contract says "
                        f"{contract.target_size}: remove the dataset's own target_size (the contract's is used)")
        if standardised != contract.standardised:
            say = "standardises" if contract.standardised else "does not standardise"
            raise _fail(cls, check, f"standardised = {standardised}, but {spec.name}'s feature contract {say} "
                        "its inputs: remove the dataset's own `standardised` (the contract's is used)")


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
        targets = {t for t in (getattr(m, "target_size", None) for m in _models_for(spec.name)) if t}
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
        try:
            problem = contract_of(spec.name).normalisation_problem(data.normalization)
        except LookupError:
            problem = None  # no installed model states the contract: check_dataset_declares_contract says so
        if problem:
            raise _fail(cls, "demo prepares", problem)
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


def _deterministic_models() -> list[type]:
    """Every registered model whose spec exists and whose eval-mode forward is deterministic, smallest first."""
    import torch

    from ..plugins import get_registry

    models = []
    for component in get_registry().components["models"].values():
        try:
            models.append((get_spec(component.obj.spec_name).param_count, component.obj.__name__, component.obj))
        except (SpecError, AttributeError):
            continue
    found = []
    for _, _, cls in sorted(models, key=lambda item: item[:2]):
        try:
            model = build_model(cls, None, seed=0).eval()
            x = torch.zeros(1, 2, get_spec(cls.spec_name).input_size)
            with torch.no_grad():
                if torch.equal(model(x), model(x)):
                    found.append(cls)
        except Exception:  # noqa: BLE001 - a broken model is the model suite's business, not the exporter's
            continue
    if not found:
        raise ConformanceSkip("no (deterministic) model is registered to export (install a model plugin)")
    return found


def _smallest_model() -> type:
    return _deterministic_models()[0]


def _export(cls: type[Exporter], options: Any, model: Any, folder: Path, check: str) -> tuple[Any, Path]:
    spec = get_spec(model.spec_name)
    exporter = cls(cls.Options(**(options or {})))
    path = folder / f"{spec.name}{cls.suffix}"
    identity = {"mean": [0.0] * spec.input_size, "std": [1.0] * spec.input_size}
    try:
        result = exporter.export(model, path, ExportContext(normalization=identity, run_id="conformance"))
    except ExportError as exc:
        raise _fail(cls, check, f"{model.spec_name}: {exc} (files kept in {folder})") from None
    if not Path(result.path).is_file():
        raise _fail(cls, check, f"export() returned {result.path}, which does not exist")
    return result, Path(result.path)


def check_exporter_round_trip(cls: type[Exporter], options: Any = None) -> None:
    """The exporter writes the smallest registered model to ``path`` (its ``suffix``), reports an error within
    its ``tolerance``, leaves the model in the mode it was given, and its own validator (if any) accepts the file."""
    model_cls = _smallest_model()
    if not isinstance(cls.suffix, str) or not cls.suffix.startswith("."):
        raise _fail(cls, "exporter round trip", f"suffix {cls.suffix!r} must start with '.'")
    model = build_model(model_cls, None, seed=0).train()
    folder = kept_dir(cls, f"round-trip-{model.spec_name}")
    result, path = _export(cls, options, model, folder, "exporter round trip")
    if not result.max_abs_error <= cls.tolerance:
        raise _fail(cls, "exporter round trip", f"{model.spec_name}: max |file - PyTorch| = "
                    f"{result.max_abs_error:.3g} > {cls.tolerance} (files kept in {folder})")
    if not model.training:
        raise _fail(cls, "exporter round trip", "export() left the model in eval mode: restore the mode it was given")
    if cls.can_check_files():
        checked = cls.check_file(path)
        if checked.status != 0:
            raise _fail(cls, "exporter round trip", f"its own validator rejects the file it wrote: "
                        f"{'; '.join(checked.problems)} (files kept in {folder})")
    shutil.rmtree(folder, ignore_errors=True)


#: the weight seed and input seed of the independent check (neither is the exporter's own reference snapshot)
KNOWN_WEIGHTS_SEED, PROBE_SEED, PROBE_STEPS = 7, 11, 16


def check_exporter_files_match_pytorch(cls: type[Exporter], options: Any = None) -> None:
    """Independently of what ``export()`` reports: every registered model, built with known weights, is exported,
    read back through the exporter's own :meth:`~kelcore.api.Exporter.load` and run on fresh inputs; each output
    must equal PyTorch's (eval mode, streamed from a fresh state) within the exporter's ``tolerance``."""
    import torch

    check = "file equals PyTorch"
    for model_cls in _deterministic_models():
        model = build_model(model_cls, None, seed=KNOWN_WEIGHTS_SEED).train()
        spec = get_spec(model.spec_name)
        folder = kept_dir(cls, f"independent-{spec.name}")
        result, path = _export(cls, options, model, folder, check)
        try:
            loaded = cls.load(path)
        except NotImplementedError as exc:
            raise _fail(cls, check, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the exporter cannot read its own file
            raise _fail(cls, check, f"{spec.name}: load({path}) failed on the file export() wrote: "
                        f"{type(exc).__name__}: {exc} (files kept in {folder})") from None
        inputs = np.random.default_rng(PROBE_SEED).standard_normal((PROBE_STEPS, spec.input_size)).astype(np.float32)
        model.eval()
        with torch.no_grad():
            expected = model(torch.from_numpy(inputs)[None])[0].numpy()
        model.train()
        actual = np.asarray(loaded.run(inputs), dtype=np.float32)
        if actual.shape != expected.shape:
            raise _fail(cls, check, f"{spec.name}: load(...).run gave outputs of shape {list(actual.shape)} for "
                        f"{PROBE_STEPS} steps, PyTorch {list(expected.shape)} (files kept in {folder})")
        error = float(np.abs(actual - expected).max()) if actual.size else 0.0
        if not error <= cls.tolerance:
            lie = (f", but export() reported max_abs_error = {result.max_abs_error:.3g}: the exporter's own "
                   "check does not see what is in its file (it compares something other than the file it wrote "
                   "against PyTorch)" if result.max_abs_error <= cls.tolerance else "")
            raise _fail(cls, check, f"{spec.name}: the file read back through {cls.__name__}.load differs from "
                        f"PyTorch by max {error:.3g} > {cls.tolerance} on {PROBE_STEPS} fresh steps{lie} "
                        f"(files kept in {folder})")
        shutil.rmtree(folder, ignore_errors=True)


EXPORTER_CHECKS: list[Callable[..., None]] = [check_exporter_round_trip, check_exporter_files_match_pytorch]
