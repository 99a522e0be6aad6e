"""Leak-free seeded splits and training-split normalisation."""
from __future__ import annotations

import random
from typing import Callable, Iterable

import numpy as np

from ..components import Sequence


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


def fit_normalization(train: Iterable[Sequence], eps: float = 1e-6) -> dict[str, list[float]]:
    """Per-input-element mean and std over every step of the training split."""
    train = list(train)  # two passes in float64, one sequence at a time: no stacked copy of the split
    count = sum(len(s.inputs) for s in train)
    if not count:
        raise ValueError("fit_normalization: the training split has no steps")
    mean = sum(s.inputs.sum(axis=0, dtype=np.float64) for s in train) / count
    std = np.sqrt(sum(np.square(s.inputs - mean).sum(axis=0) for s in train) / count)
    std = np.where(std < eps, 1.0, std)
    return {"mean": mean.tolist(), "std": std.tolist()}


def standardiser(normalization: dict[str, list[float]]) -> Callable[[np.ndarray], np.ndarray]:
    """``inputs -> (inputs - mean) / std`` in float32, the one formula of :func:`apply_normalization` and of the
    packed store's in-place normalisation (element-wise: the same bits whatever the chunking)."""
    mean = np.asarray(normalization["mean"], dtype=np.float32)
    std = np.asarray(normalization["std"], dtype=np.float32)

    def standardise(inputs: np.ndarray) -> np.ndarray:
        return ((inputs - mean) / std).astype(np.float32)

    return standardise


def apply_normalization(sequences: list[Sequence], normalization: dict[str, list[float]]) -> list[Sequence]:
    """Standardise inputs with given statistics (float32 out)."""
    standardise = standardiser(normalization)
    return [Sequence(s.track_id, standardise(s.inputs), s.targets, s.group) for s in sequences]
