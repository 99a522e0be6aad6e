"""Dataset-agnostic helpers for dataset plugins: parallel extraction, a content-keyed
feature cache, leak-free seeded splits and training-split normalisation."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from .api import Sequence
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


class FeatureCache:
    """On-disk cache of extracted features keyed by file content + feature config.

    Entries are written atomically (temp file + rename), so a killed run never
    leaves a half-written entry; an unreadable entry is treated as a miss.
    """

    def __init__(self, directory: Path, config: Any) -> None:
        self.directory = Path(directory) / config_digest(config)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, content_key: str) -> Path:
        return self.directory / content_key[:2] / f"{content_key}.pkl"

    def get(self, content_key: str) -> Any | None:
        path = self._path(content_key)
        try:
            with open(path, "rb") as handle:
                return pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError):
            return None

    def put(self, content_key: str, value: Any) -> None:
        path = self._path(content_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
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
