"""Dataset-agnostic helpers for dataset plugins: parallel extraction, a content-keyed
feature cache, leak-free seeded splits and training-split normalisation."""
from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from abc import abstractmethod
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, TypeVar

import numpy as np

from .api import Dataset, DatasetProblem, PreparedData, RunContext, Sequence, ValidationReport
from .progress import Progress

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores by default."""
    return max(1, os.cpu_count() or 1)


def parallel_map(
    fn: Callable[[T], R], items: list[T], workers: int | None = None, desc: str = "processing",
    progress: bool | None = None, chunksize: int = 4,
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` in input order, across processes, with progress.

    ``fn`` must be a picklable top-level function and should catch its own
    per-item errors (return a failure value): one bad file must not end the map.
    ``workers=1`` runs in-process (easier to debug, no pickling).
    """
    workers = workers or default_workers()
    with Progress(len(items), desc, progress) as bar:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                result = fn(item)
                bar.update()
                yield item, result
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for item, result in zip(items, pool.map(fn, items, chunksize=chunksize)):
                bar.update()
                yield item, result


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def config_digest(config: Any) -> str:
    """A stable short hash of a JSON-able feature configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class UnsafeCacheEntry(UserWarning):
    """A feature-cache entry was not a plain array file (e.g. a planted pickle); it was ignored."""


class FeatureCache:
    """On-disk cache of extracted features keyed by file content + feature config.

    An entry is one ``.npz`` file read with ``allow_pickle=False``: the arrays plus a small JSON
    (``__meta__``) with the kind and reason of a skipped track, so nothing in a cache folder can
    run code. It holds an :class:`Extracted` or a ``dict`` of arrays. Entries are written
    atomically (temp file + rename), so a killed run never leaves a half-written entry; an
    unreadable or refused entry is a miss (with an :class:`UnsafeCacheEntry` warning) and is
    re-extracted over.
    """

    META = "__meta__"

    def __init__(self, directory: Path, config: Any) -> None:
        self.directory = Path(directory) / config_digest(config)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, content_key: str) -> Path:
        return self.directory / content_key[:2] / f"{content_key}.npz"

    def get(self, content_key: str) -> Any | None:
        path = self._path(content_key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            meta = json.loads(str(arrays.pop(self.META)))
            return self._decode(meta, arrays)
        except (OSError, ValueError, KeyError, EOFError, TypeError) as exc:
            import warnings

            why = ("it holds pickled Python objects, which the cache never loads" if "pickle" in str(exc)
                   else f"{type(exc).__name__}: {exc}")
            warnings.warn(UnsafeCacheEntry(
                f"{path}: refused feature-cache entry: not a plain array file ({why}); nothing from it was run, "
                f"the track is extracted again"), stacklevel=2)
            return None

    @staticmethod
    def _decode(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        if meta.get("type") == "Extracted":
            return Extracted(inputs=arrays.get("inputs"), targets=arrays.get("targets"),
                             kind=str(meta.get("kind", "")), reason=str(meta.get("reason", "")))
        if meta.get("type") == "arrays":
            return arrays
        raise ValueError(f"unknown entry type {meta.get('type')!r}")

    def put(self, content_key: str, value: Any) -> None:
        if isinstance(value, Extracted):
            arrays = {name: np.asarray(array) for name, array in (("inputs", value.inputs), ("targets", value.targets))
                      if array is not None}
            meta = {"type": "Extracted", "kind": value.kind, "reason": value.reason}
        elif isinstance(value, dict) and all(isinstance(k, str) and k != self.META for k in value):
            arrays = {k: np.asarray(v) for k, v in value.items()}
            meta = {"type": "arrays"}
        else:
            raise TypeError(f"FeatureCache stores an Extracted or a dict of arrays, not {type(value).__name__}")
        if any(a.dtype == object for a in arrays.values()):
            raise TypeError("FeatureCache stores numeric/string arrays only (object arrays would need pickle)")
        path = self._path(content_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays, **{self.META: np.array(json.dumps(meta))})
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def split_by_group(
    groups: dict[str, str], seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> dict[str, str]:
    """Assign each track id to train/validation/test so that no group (song,
    piece) lands on two sides. ``groups`` maps track id -> group id."""
    unique = sorted(set(groups.values()))
    random.Random(seed).shuffle(unique)
    n = len(unique)
    n_test = max(1, round(n * fractions[2])) if n >= 3 else 0
    n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
    side: dict[str, str] = {}
    for i, group in enumerate(unique):
        side[group] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return {track: side[group] for track, group in groups.items()}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via temp file + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def fit_normalization(train: Iterable[Sequence], eps: float = 1e-6) -> dict[str, list[float]]:
    """Per-input-element mean and std over every step of the training split."""
    stacked = np.concatenate([s.inputs for s in train], axis=0).astype(np.float64)
    mean = stacked.mean(axis=0)
    std = stacked.std(axis=0)
    std = np.where(std < eps, 1.0, std)
    return {"mean": mean.tolist(), "std": std.tolist()}


def apply_normalization(sequences: list[Sequence], normalization: dict[str, list[float]]) -> list[Sequence]:
    """Standardise inputs with given statistics (float32 out)."""
    mean = np.asarray(normalization["mean"], dtype=np.float32)
    std = np.asarray(normalization["std"], dtype=np.float32)
    return [
        Sequence(s.track_id, ((s.inputs - mean) / std).astype(np.float32), s.targets, s.group)
        for s in sequences
    ]


# --------------------------------------------------------------------------- #
# The common shape of a dataset plugin's prepare(): index -> cached parallel
# extraction -> split -> normalisation, with every skipped file counted.
# --------------------------------------------------------------------------- #
@dataclass
class Track:
    """One entry of a dataset's index.

    ``split`` is the official split when the dataset has one (else None and a
    seeded split by ``group`` is drawn); ``labels`` is whatever the extractor
    needs besides the file (annotations, bpm, ...), and must be picklable.
    """

    track_id: str
    path: Path | None
    group: str
    split: str | None = None
    labels: Any = None


@dataclass
class Extracted:
    """A worker's answer for one track: features, or why the track was skipped."""

    inputs: np.ndarray | None = None
    targets: np.ndarray | None = None
    kind: str = ""          # "" when usable, else "corrupt" / "unlabelled" / "missing" / "unsupported" / ...
    reason: str = ""


def default_cache_dir() -> Path:
    """``$KELCORE_CACHE_DIR`` or ``~/.cache/kelcore``."""
    return Path(os.environ.get("KELCORE_CACHE_DIR") or Path.home() / ".cache" / "kelcore")


def _cache_key(track: Track) -> str:
    return config_digest([file_digest(track.path), repr(track.labels)])


def _extract_one(job: tuple[Callable[[Track, Any], Extracted], Track, Any, str | None, str]) -> Extracted:
    """Top-level (picklable) worker: extract one track, store the result under ``key``; never raises."""
    extract, track, config, cache_dir, key = job
    try:
        if track.path is None or not track.path.exists():
            return Extracted(kind="missing", reason="file not found")
        result = extract(track, config)
    except MemoryError:
        result = Extracted(kind="corrupt", reason="ran out of memory while parsing")
    except Exception as exc:  # noqa: BLE001 - one bad file must never end a run
        result = Extracted(kind="corrupt", reason=f"{type(exc).__name__}: {exc}")
    if cache_dir and key:
        FeatureCache(Path(cache_dir), config).put(key, result)
    return result


def _cached(tracks: list[Track], cache: FeatureCache | None, progress: bool | None
            ) -> tuple[dict[int, Extracted], dict[int, str]]:
    """Cache keys, and results already cached (failures too), looked up in this process: a warm re-run
    starts no worker pool."""
    hits: dict[int, Extracted] = {}
    keys: dict[int, str] = {}
    if cache is None:
        return hits, keys
    with Progress(len(tracks), "checking feature cache", progress) as bar:
        for index, track in enumerate(tracks):
            if track.path is not None and track.path.exists():
                keys[index] = _cache_key(track)
                hit = cache.get(keys[index])
                if hit is not None:
                    hits[index] = hit
            bar.update()
    return hits, keys


def extract_tracks(
    tracks: list[Track], extract: Callable[[Track, Any], Extracted], config: Any, cache_dir: Path | None,
    workers: int | None, progress: bool | None, desc: str,
) -> list[tuple[Track, Extracted]]:
    """``extract(track, config)`` for every track: cache hits first, then the misses in parallel."""
    cache = FeatureCache(cache_dir, config) if cache_dir else None
    results, keys = _cached(tracks, cache, progress)
    misses = [i for i in range(len(tracks)) if i not in results]
    jobs = [(extract, tracks[i], config, str(cache_dir) if cache_dir else None, keys.get(i, "")) for i in misses]
    for index, (_, result) in zip(misses, parallel_map(_extract_one, jobs, workers, desc, progress)):
        results[index] = result
    return [(track, results[i]) for i, track in enumerate(tracks)]


def load_or_draw_split(tracks: list[Track], context: RunContext) -> dict[str, str]:
    """Official splits where given, else a seeded split by group; saved as ``split.json`` and
    reused when it already exists (a resumed run trains on the same split)."""
    path = context.run_dir / "split.json"
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {t.track_id: saved.get(t.track_id, "unused") for t in tracks}
    drawn = split_by_group({t.track_id: t.group for t in tracks if t.split is None}, context.seed)
    sides = {t.track_id: t.split if t.split is not None else drawn[t.track_id] for t in tracks}
    write_json_atomic(path, sides)
    return sides


def prepare_dataset(
    name: str, tracks: list[Track], extract: Callable[[Track, Any], Extracted], config: Any,
    context: RunContext, cache_dir: Path | None, workers: int | None, standardise: bool,
    widths: tuple[str, int, int] | None = None,
) -> PreparedData:
    """Extract (cached, parallel), count what was skipped and why, split, normalise on train only.

    ``widths`` = (ModelSpec name, input size, target size): every produced sequence must have them, or the
    preparation fails naming the file (the feature code, not a declared number, is what gets checked).
    """
    results = extract_tracks(tracks, extract, config, cache_dir, workers, context.progress, f"{name} features")
    report = ValidationReport(dataset=name, root="", listed=len(tracks))
    usable: list[tuple[Track, Sequence]] = []
    for track, result in results:
        if result.kind:
            report.problems.append(DatasetProblem(str(track.path or track.track_id), _problem_kind(result.kind),
                                                  result.reason))
            continue
        usable.append((track, Sequence(track.track_id, result.inputs.astype(np.float32),
                                       result.targets.astype(np.float32), track.group)))
    if widths is not None:
        check_produced_widths(name, usable, *widths)
    _count(report, len(usable))
    _write_problem_log(context.run_dir / "dataset_problems.log", report)
    context.log(f"{name}: {report.listed} listed, {report.usable} usable, {report.missing} missing, "
                f"{report.corrupt} corrupt, {report.unlabelled} unlabelled"
                + (f" (see {context.run_dir / 'dataset_problems.log'})" if report.problems else ""))
    sides = load_or_draw_split([t for t, _ in usable], context)
    splits = {side: [s for t, s in usable if sides.get(t.track_id) == side] for side in ("train", "validation", "test")}
    if not splits["train"]:
        raise ValueError(f"{name}: no usable training sequences ({report.usable} usable tracks); "
                         f"see {context.run_dir / 'dataset_problems.log'}")
    width = splits["train"][0].inputs.shape[1]
    stats = fit_normalization(splits["train"]) if standardise else {"mean": [0.0] * width, "std": [1.0] * width}
    if standardise:
        splits = {side: apply_normalization(seqs, stats) for side, seqs in splits.items()}
    return PreparedData(splits["train"], splits["validation"], splits["test"], stats, report)


class FeatureWidthError(ValueError):
    """A dataset's feature code produced vectors of another width than the model's C++ ModelSpec."""


def check_produced_widths(name: str, usable: list[tuple[Track, Sequence]], spec_name: str, input_size: int,
                          target_size: int) -> None:
    """Every sequence's input width is the spec's and its target width the model's; else a clear error."""
    for track, sequence in usable:
        inputs, targets = sequence.inputs, sequence.targets
        if inputs.ndim != 2 or inputs.shape[1] != input_size:
            raise FeatureWidthError(f"{name}: {track.path or track.track_id}: the feature code produced inputs of "
                                    f"shape {list(inputs.shape)}, but {spec_name} takes {input_size} per step "
                                    "(C++ ModelSpec)")
        if targets.ndim != 2 or targets.shape[1] != target_size or len(targets) != len(inputs):
            raise FeatureWidthError(f"{name}: {track.path or track.track_id}: the feature code produced targets of "
                                    f"shape {list(targets.shape)} for {len(inputs)} steps, but the model expects "
                                    f"{target_size} per step")


def _problem_kind(kind: str) -> str:
    return kind if kind in ("missing", "corrupt", "unlabelled", "checksum", "unsupported") else "corrupt"


def _count(report: ValidationReport, usable: int) -> None:
    report.usable = usable
    for problem in report.problems:
        if problem.kind in ("missing", "corrupt", "unlabelled", "checksum"):
            kind = "corrupt" if problem.kind == "checksum" else problem.kind  # bytes differ from the release
            setattr(report, kind, getattr(report, kind) + 1)


def _write_problem_log(path: Path, report: ValidationReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{p.kind}\t{p.path}\t{p.reason}" for p in report.problems]
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def validate_tracks(name: str, root: Path, tracks: list[Track], check: Callable[[Track, Any], Extracted],
                    workers: int | None = None, progress: bool | None = None) -> ValidationReport:
    """Count listed, usable, missing, corrupt and unlabelled tracks with ``check`` (no cache)."""
    report = ValidationReport(dataset=name, root=str(root), listed=len(tracks))
    results = extract_tracks(tracks, check, None, None, workers, progress, f"validating {name}")
    usable = 0
    for track, result in results:
        if result.kind in ("", "unsupported"):
            usable += 1
        else:
            report.problems.append(DatasetProblem(str(track.path or track.track_id), _problem_kind(result.kind),
                                                  result.reason))
    _count(report, usable)
    return report


def cache_dir_of(options: Any) -> Path:
    """The cache folder a dataset's options ask for (``cache_dir`` or the default)."""
    return Path(options.cache_dir) if getattr(options, "cache_dir", None) else default_cache_dir()


class IndexedDataset(Dataset):
    """A dataset plugin from an index of tracks and a per-track extractor.

    Subclasses implement :meth:`read_index` and set ``name``, ``target_size`` and the extractor functions
    ``extract(track, config)`` and ``check(track, config)`` (module-level functions wrapped in
    ``staticmethod``, so worker processes can pickle them); ``prepare`` (cached, parallel, split,
    normalised) and ``validate`` come from here. A dataset that serves several models maps its
    ``options.task`` to ModelSpec names in ``tasks``; ``standardised_tasks`` lists those whose contract
    standardises the inputs (the others use identity normalisation).
    """

    name: ClassVar[str]
    tasks: ClassVar[dict[str, str]] = {}
    standardised_tasks: ClassVar[frozenset[str]] = frozenset()
    extract: ClassVar[Callable[[Track, Any], Extracted]]
    check: ClassVar[Callable[[Track, Any], Extracted]]

    @abstractmethod
    def read_index(self, root: Path) -> list[Track]:
        """Every track the dataset lists under ``root``, in a stable order."""

    @property
    def task(self) -> str:
        return getattr(self.options, "task", "")

    @property
    def produces(self) -> str:
        return self.tasks[self.task]

    @property
    def input_size(self) -> None:
        """Not declared: :meth:`prepare` checks the width the feature code actually produces against the spec."""
        return None

    def feature_config(self) -> Any:
        """Everything that changes the features (part of the cache key). A subclass adds its contract's
        version and constants and every feature parameter it uses."""
        return {"dataset": self.name, "contract": self.produces, "task": self.task}

    def tracks(self) -> list[Track]:
        return self.read_index(Path(self.options.root))[: self.options.max_tracks]

    def prepare(self, context: RunContext) -> PreparedData:
        label = f"{self.name}/{self.task}" if self.task else self.name
        from .spec import get_spec

        widths = (self.produces, get_spec(self.produces).input_size, self.target_size)
        return prepare_dataset(label, self.tracks(), type(self).extract, self.feature_config(), context,
                               cache_dir_of(self.options), self.options.workers,
                               standardise=self.task in self.standardised_tasks, widths=widths)

    def checker(self) -> Callable[[Track, Any], Extracted]:
        """The validation function (picklable); override to bind extra data such as checksums."""
        return type(self).check

    def validate(self, progress: bool = False) -> ValidationReport:
        return validate_tracks(self.name, Path(self.options.root), self.tracks(), self.checker(),
                               self.options.workers, progress)
