"""The common shape of a dataset plugin: an index of :class:`Track` rows -> cached parallel extraction ->
split -> normalisation, with every row that cannot be used counted (never silently dropped)."""
from __future__ import annotations

import difflib
import json
from abc import abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from ..components import (PROBLEM_KINDS, SPLITS, Dataset, DatasetOptions, DatasetProblem, PreparedData, RunContext,
                          Sequence, ValidationReport)
from ..io import config_digest, file_digest, write_json_atomic, write_text_atomic
from ..progress import Progress
from .cache import FeatureCache, cache_dir_of, default_cache_dir, feature_cache_key  # noqa: F401 - re-exported
from .parallel import parallel_map
from .splits import fit_normalization, split_by_group, standardiser
from .store import PackedWriter

#: The packed store of a preparation's features, in the job's run folder (written again by every preparation).
STORE_NAME = "features.kelpack"
#: The groups a split was drawn over (group -> track ids), beside ``split.json`` in the job's run folder.
GROUPS_NAME = "groups.json"


@dataclass
class Track:
    """One row of a dataset's index.

    * ``track_id`` -- unique, stable id of the row (saved in ``split.json``; e.g. the file's relative path).
    * ``path`` -- the file to extract, or None when the index lists a file that has none (counted as missing).
    * ``group`` -- what must never be on two sides of a split: the song, piece or performer of the row. Rows with
      the same group land in the same split. Use ``track_id`` when every row is independent.
    * ``split`` -- the dataset's official split: ``"train"``, ``"validation"`` or ``"test"`` (:data:`SPLITS`), or
      None to let kelcore draw a seeded split by group. Any other value (``"val"``, ``"dev"``) makes the row an
      ``unsupported`` problem, counted and listed with a suggestion.
    * ``labels`` -- whatever the extractor needs besides the file (annotations, bpm, ...); must be picklable, and
      is part of the cache key.
    * ``reason`` -- why ``path`` is None, in the words of the dataset (e.g. "no audio listed for song 12 in
      annotations.csv"); reported with the missing row instead of a bare "file not found".

    Two rows with one ``track_id`` are a problem: the second is counted (``unsupported``) and never used.
    """

    track_id: str
    path: Path | None
    group: str
    split: str | None = None
    labels: Any = None
    reason: str = ""


@dataclass
class Extracted:
    """A worker's answer for one track: features, or why the track was skipped."""

    inputs: np.ndarray | None = None
    targets: np.ndarray | None = None
    kind: str = ""          # "" when usable, else "corrupt" / "unlabelled" / "missing" / "unsupported" / ...
    reason: str = ""


def _cache_key(track: Track) -> str:
    return config_digest([file_digest(track.path), repr(track.labels)])


def _extract_one(job: tuple[Callable[[Track, Any], Extracted], Track, Any, FeatureCache | None, str]) -> Extracted:
    """Top-level (picklable) worker: extract one track, store the result under ``key``; never raises."""
    extract, track, config, cache, key = job
    try:
        if track.path is None:
            return Extracted(kind="missing", reason=track.reason or "the index lists no file for this row")
        if not track.path.exists():
            return Extracted(kind="missing", reason=f"file not found{': ' + track.reason if track.reason else ''}")
        result = extract(track, config)
    except MemoryError:
        result = Extracted(kind="corrupt", reason="ran out of memory while parsing")
    except Exception as exc:  # noqa: BLE001 - one bad file must never end a run
        result = Extracted(kind="corrupt", reason=f"{exc} ({type(exc).__name__} while reading the file)")
    if cache is not None and key:  # the parent's cache object: its folder is digested and made once, not per file
        cache.put(key, result)
    return result


def iter_extracted(
    tracks: list[Track], extract: Callable[[Track, Any], Extracted], config: Any, cache_dir: Path | None,
    workers: int | None, progress: bool | None, desc: str, cache_key: Any = None,
) -> Iterator[tuple[int, Extracted]]:
    """``(index, extract(track, config))`` for every track, each result handed over once and kept by no one here:
    cache hits first, read in this process in index order (a warm re-run starts no worker pool), then the misses,
    extracted in parallel, in index order."""
    cache = FeatureCache(cache_dir, config if cache_key is None else cache_key) if cache_dir else None
    misses: list[int] = []
    keys: dict[int, str] = {}
    with Progress(len(tracks), "checking feature cache", progress if cache else False) as bar:
        for index, track in enumerate(tracks):
            hit = None
            if cache is not None and track.path is not None and track.path.exists():
                keys[index] = _cache_key(track)
                hit = cache.get(keys[index])
            bar.update()
            if hit is None:
                misses.append(index)
            else:
                yield index, hit
    jobs = [(extract, tracks[i], config, cache, keys.get(i, "")) for i in misses]
    for index, (_, result) in zip(misses, parallel_map(_extract_one, jobs, workers, desc, progress)):
        yield index, result


def extract_tracks(
    tracks: list[Track], extract: Callable[[Track, Any], Extracted], config: Any, cache_dir: Path | None,
    workers: int | None, progress: bool | None, desc: str,
) -> list[tuple[Track, Extracted]]:
    """``extract(track, config)`` for every track: cache hits first, then the misses in parallel (all results held
    in memory: :func:`prepare_dataset` streams them into a packed store instead)."""
    results = dict(iter_extracted(tracks, extract, config, cache_dir, workers, progress, desc))
    return [(track, results[i]) for i, track in enumerate(tracks)]


def tracks_by_group(tracks: list[Track]) -> dict[str, list[str]]:
    """Group -> the ids of its tracks, in index order (the content of ``groups.json``)."""
    groups: dict[str, list[str]] = {}
    for track in tracks:
        groups.setdefault(track.group, []).append(track.track_id)
    return groups


def load_or_draw_split(tracks: list[Track], context: RunContext) -> dict[str, str]:
    """Official splits where given, else a seeded split by group; saved as ``split.json`` and
    reused when it already exists (a resumed run trains on the same split). The groups the split was drawn over are
    written beside it as ``groups.json`` (group -> its track ids), so a run folder shows what was kept together."""
    write_json_atomic(context.run_dir / GROUPS_NAME, tracks_by_group(tracks))
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
    widths: tuple[str, int, int] | None = None, root: Path | None = None,
    regroup: Callable[[list[tuple[Track, Sequence]]], dict[str, str] | None] | None = None,
    cache_key: Any = None,
) -> PreparedData:
    """Extract (cached, parallel), count what was skipped and why, split, normalise on train only.

    The features are streamed into one packed store (:mod:`kelcore.data.store`) as they come from the cache or a
    worker, and each sequence's ``inputs`` and ``targets`` are read-only float32 views into it. Past
    ``SPILL_BYTES`` (32 MiB) the store is the file ``<run_dir>/features.kelpack``, memory-mapped: the kernel pages
    it in when read, so the prepared data is not held in anonymous memory however large the dataset; a smaller one
    stays in memory. Normalisation is written into the store chunk by chunk before the file is renamed into place.

    ``widths`` = (ModelSpec name, input size, target size): every produced sequence must have them, or the
    preparation fails naming the file (the feature code, not a declared number, is what gets checked).
    ``regroup(usable)`` may return refined groups (track id -> group) from the extracted content, e.g. pieces that
    share a tune, before the split is drawn. ``config`` is handed to ``extract``; the feature cache is keyed by
    ``cache_key`` when given (an ``IndexedDataset`` passes :func:`~kelcore.data.cache.feature_cache_key`), else by
    ``config``.
    """
    report = ValidationReport(dataset=name, root=str(root or ""), listed=len(tracks))
    tracks = _rows_with_known_splits(tracks, report)
    with PackedWriter(context.run_dir / STORE_NAME) as writer:
        slots = _extract_into(writer, tracks, extract, config, cache_dir, workers, context.progress, name, report,
                              cache_key)
        store = writer.finish()
        usable = [(track, Sequence(track.track_id, *store.pair(slot), track.group)) for track, slot in slots]
        if widths is not None:
            check_produced_widths(name, usable, *widths)
        if regroup is not None and (groups := regroup(usable)):
            usable = [(replace(t, group=groups.get(t.track_id, t.group)),
                       replace(q, group=groups.get(t.track_id, t.group))) for t, q in usable]
        _count_and_log(name, report, len(usable), context)
        sides = load_or_draw_split([t for t, _ in usable], context)
        splits = _split(name, usable, sides, report, context)
        stats = _statistics(splits["train"], standardise)
        if standardise:  # in the store, chunk by chunk: the views above then read the normalised inputs
            writer.update_inputs((slot for (track, _), slot in zip(usable, (s for _, s in slots))
                                  if sides.get(track.track_id) in SPLITS), standardiser(stats))
        writer.commit()
    return PreparedData(splits["train"], splits["validation"], splits["test"], stats, report)


def _count_and_log(name: str, report: ValidationReport, usable: int, context: RunContext) -> None:
    report.count(usable)
    _write_problem_log(context.run_dir / "dataset_problems.log", report)
    context.log(f"{name}: {report.counts_line()}"
                + (f" (see {context.run_dir / 'dataset_problems.log'})" if report.problems else ""))


def _split(name: str, usable: list[tuple[Track, Sequence]], sides: dict[str, str], report: ValidationReport,
           context: RunContext) -> dict[str, list[Sequence]]:
    """The sequences of each side, in index order; an error when the training side is empty."""
    splits = {side: [s for t, s in usable if sides.get(t.track_id) == side] for side in SPLITS}
    if not splits["train"]:  # the reasons in the message itself: the log may be in a folder that is gone
        reasons: dict[str, int] = {}
        for problem in report.problems:
            reasons[f"{problem.kind}: {problem.reason}"] = reasons.get(f"{problem.kind}: {problem.reason}", 0) + 1
        commonest = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
        common = "; ".join(f"{count} x {reason}" for reason, count in commonest)
        raise ValueError(f"{name}: no usable training sequences ({report.counts_line()})"
                         + (f"; commonest reasons: {common}" if common else "")
                         + f"; every row in {context.run_dir / 'dataset_problems.log'}")
    return splits


def _statistics(train: list[Sequence], standardise: bool) -> dict[str, list[float]]:
    """The training split's mean and std, or the identity (0 and 1) when the contract does not standardise."""
    if standardise:
        return fit_normalization(train)
    width = train[0].inputs.shape[1]
    return {"mean": [0.0] * width, "std": [1.0] * width}


def _extract_into(writer: PackedWriter, tracks: list[Track], extract: Callable[[Track, Any], Extracted],
                  config: Any, cache_dir: Path | None, workers: int | None, progress: bool | None, name: str,
                  report: ValidationReport, cache_key: Any = None) -> list[tuple[Track, int]]:
    """Stream every usable result into ``writer`` as it comes (none is kept in memory); the problems go to
    ``report``. Returns (track, slot) of the usable tracks, in index order."""
    slots: dict[int, int] = {}
    problems: dict[int, DatasetProblem] = {}
    for index, result in iter_extracted(tracks, extract, config, cache_dir, workers, progress, f"{name} features",
                                        cache_key):
        if result.kind:
            problems[index] = _problem(tracks[index], result)
        else:
            slots[index] = writer.append(result.inputs, result.targets)
    report.problems.extend(problems[i] for i in sorted(problems))
    return [(tracks[i], slots[i]) for i in sorted(slots)]


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


def _problem(track: Track, result: "Extracted") -> DatasetProblem:
    kind = result.kind if result.kind in (*PROBLEM_KINDS, "checksum") else "corrupt"
    return DatasetProblem(str(track.path or track.track_id), kind, result.reason)  # type: ignore[arg-type]


def split_problem(track: Track) -> DatasetProblem | None:
    """The problem of a row whose ``split`` is not one of :data:`SPLITS` (None: the row's split is fine)."""
    if track.split is None or track.split in SPLITS:
        return None
    close = difflib.get_close_matches(str(track.split), SPLITS, n=1, cutoff=0.3)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return DatasetProblem(str(track.path or track.track_id), "unsupported",
                          f"split {track.split!r} is not one of {', '.join(SPLITS)} (or empty for a drawn split)"
                          f"{hint}")


def _rows_with_known_splits(tracks: list[Track], report: ValidationReport) -> list[Track]:
    """The rows that can be used: a known split and a track id not seen before (the others are counted)."""
    kept, seen = [], {}
    for row, track in enumerate(tracks):
        problem = split_problem(track)
        if problem is None and track.track_id in seen:
            problem = DatasetProblem(str(track.path or track.track_id), "unsupported",
                                     f"duplicate track id {track.track_id!r}: index row {row} repeats the "
                                     f"id of {seen[track.track_id]}; only the first is used (a track id "
                                     "must be unique: it keys split.json)")
        if problem is None:
            kept.append(track)
            seen[track.track_id] = str(track.path or track.track_id)
        else:
            report.problems.append(problem)
    return kept


def _write_problem_log(path: Path, report: ValidationReport) -> None:
    lines = [f"{p.kind}\t{p.path}\t{p.reason}" for p in report.problems]
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))


def validate_tracks(name: str, root: Path, tracks: list[Track], check: Callable[[Track, Any], Extracted],
                    workers: int | None = None, progress: bool | None = None) -> ValidationReport:
    """Count listed, usable, missing, corrupt, unlabelled and unsupported tracks with ``check`` (no cache): the
    same counts a run's log and ``report.json`` give for the same folder."""
    report = ValidationReport(dataset=name, root=str(root), listed=len(tracks))
    tracks = _rows_with_known_splits(tracks, report)
    results = extract_tracks(tracks, check, None, None, workers, progress, f"validating {name}")
    usable = 0
    for track, result in results:
        if result.kind:
            report.problems.append(_problem(track, result))
        else:
            usable += 1
    return report.count(usable)


class IndexedDataset(Dataset):
    """A dataset plugin from an index of tracks and a per-track extractor.

    Subclasses implement :meth:`read_index` and set ``name`` and the extractor functions
    ``extract(track, config)`` and ``check(track, config)`` (module-level functions wrapped in
    ``staticmethod``, so worker processes can pickle them); ``prepare`` (cached, parallel, split,
    normalised) and ``validate`` come from here. A dataset that serves several models maps its
    ``options.task`` to ModelSpec names in ``tasks``. The target width and whether the inputs are standardised
    (with the training split's mean/std, else the identity) come from the produced model's feature contract.
    """

    Options: ClassVar[type] = DatasetOptions
    name: ClassVar[str]
    tasks: ClassVar[dict[str, str]] = {}
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
        """Every parameter of this dataset that changes the features (JSON-able): part of the feature-cache key,
        beside the contract's model and version, the providing distribution's name and version and the extractor
        module's code digest (:func:`~kelcore.data.cache.feature_cache_key`). A subclass adds every feature
        parameter it uses (options that change extraction, the contract's constants)."""
        return {"dataset": self.name, "contract": self.produces, "task": self.task}

    def tracks(self) -> list[Track]:
        return self.read_index(Path(self.options.root))[: self.options.max_tracks]

    def content_groups(self, usable: list[tuple[Track, Sequence]]) -> dict[str, str] | None:
        """Refined groups (track id -> group) from what was extracted, called before the split is drawn; e.g.
        pieces that share a tune. Default None: the index's groups stand."""
        return None

    def prepare(self, context: RunContext) -> PreparedData:
        label = f"{self.name}/{self.task}" if self.task else self.name
        from ..spec import get_spec

        widths = (self.produces, get_spec(self.produces).input_size, self.target_size)
        return prepare_dataset(label, self.tracks(), type(self).extract, self.feature_config(), context,
                               cache_dir_of(self.options), self.options.workers,
                               standardise=self.standardised, widths=widths,
                               root=Path(self.options.root), regroup=self.content_groups,
                               cache_key=feature_cache_key(self, type(self).extract))

    def check_structure(self) -> list[str]:
        """The index can be read and lists at least one track (no file is parsed)."""
        from ..errors import describe_exception

        try:
            tracks = self.read_index(Path(self.options.root))
        except (OSError, ValueError, KeyError, LookupError) as exc:
            return [f"cannot read the dataset's index: {describe_exception(exc)}"]
        return [] if tracks else [f"{self.options.root}: the dataset's index lists no track"]

    def checker(self) -> Callable[[Track, Any], Extracted]:
        """The validation function (picklable); override to bind extra data such as checksums."""
        return type(self).check

    def validate(self, progress: bool = False) -> ValidationReport:
        """The counts training on this task would give: every row checked (``checker``: parses, checksums), then
        the rows that pass go through this task's own extraction, cached as a run caches it (so fills, other
        metres or too little music count as ``unsupported`` here as they do in the run's log)."""
        tracks = self.tracks()
        report = validate_tracks(self.name, Path(self.options.root), tracks, self.checker(),
                                 self.options.workers, progress)
        refused = {p.path for p in report.problems}
        passed = [t for t in tracks if str(t.path or t.track_id) not in refused]
        label = f"{self.name}/{self.task}" if self.task else self.name
        for index, result in iter_extracted(passed, type(self).extract, self.feature_config(),
                                            cache_dir_of(self.options), self.options.workers, progress,
                                            f"{label} features"):
            if result.kind:
                report.problems.append(_problem(passed[index], result))
        return report.count(report.listed - len(report.problems))
