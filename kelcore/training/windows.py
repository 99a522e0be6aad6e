"""The training split's windows, drawn per batch from the sequences instead of stacked up front.

A window is (sequence, start, length): ``window`` steps of one sequence from ``start`` (the last one of a sequence
shorter, padded with zeros). A batch is assembled on the host from the sequences' arrays -- views into the packed,
memory-mapped store (:mod:`kelcore.data.store`) for a prepared dataset, so only the pages a batch touches are read
and memory stays bounded at any corpus size (stacking every window of the full Lakh corpus took ~2.3 GB) -- and
copied to the device (from pinned memory, asynchronously, on CUDA). The values are exactly those of
:func:`kelcore.training.default.make_windows`, so a run trains the same weights either way.
"""
from __future__ import annotations

import numpy as np
import torch

from ..components import Sequence
from . import TrainingError
from .randomness import to_device


class TrainingWindows:
    """Every ``window``-step window of ``sequences``, in order; :meth:`batch` assembles the ones asked for."""

    def __init__(self, sequences: list[Sequence], window: int) -> None:
        self.sequences, self.window = sequences, window
        lengths = np.array([len(s.inputs) for s in sequences], dtype=np.int64)
        counts = -(-lengths // window)
        self.sequence = np.repeat(np.arange(len(sequences)), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        self.start = (np.arange(int(counts.sum())) - first) * window
        self.length = np.minimum(window, lengths[self.sequence] - self.start)
        if not len(self.start):
            raise TrainingError("the training split is empty: the dataset produced no usable sequences")
        self.input_size = sequences[self.sequence[0]].inputs.shape[1]
        self.target_size = sequences[self.sequence[0]].targets.shape[1]

    def __len__(self) -> int:
        return len(self.start)

    def batch(self, index: torch.Tensor | np.ndarray, device: torch.device | str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs ``[B, window, in]``, targets ``[B, window, target]`` (float32, zero-padded) and the flat indices
        (into ``B * window``) of the valid steps, on ``device``. The indices are known on the host, so selecting
        the valid steps on the device reads nothing back (a boolean mask would: a synchronisation per step)."""
        rows = np.asarray(index, dtype=np.int64)
        x = np.zeros((len(rows), self.window, self.input_size), dtype=np.float32)
        y = np.zeros((len(rows), self.window, self.target_size), dtype=np.float32)
        for row, w in enumerate(rows):
            seq, start, length = self.sequences[self.sequence[w]], self.start[w], self.length[w]
            x[row, :length] = seq.inputs[start:start + length]
            y[row, :length] = seq.targets[start:start + length]
        valid = np.flatnonzero(np.arange(self.window)[None, :] < self.length[rows][:, None])
        return (to_device(torch.from_numpy(x), device), to_device(torch.from_numpy(y), device),
                to_device(torch.from_numpy(valid), device))
