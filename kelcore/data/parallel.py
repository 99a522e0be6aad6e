"""Parallel map across processes, in input order, with progress."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterator, TypeVar

from ..progress import Progress

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
