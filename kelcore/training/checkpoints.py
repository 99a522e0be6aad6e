"""Checkpoints that survive a kill: atomic writes, ``last`` plus the best k."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    """Every RNG state a training step may touch."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CheckpointManager:
    """Writes ``last.pt`` every time and ``best-epochNNNN.pt`` for the best ``keep_best``.

    A checkpoint holds model, optimizer, scheduler and RNG state plus whatever
    the trainer adds (epoch, early-stopping state, position in the epoch).
    """

    def __init__(self, directory: Path, keep_best: int = 2) -> None:
        self.directory = Path(directory)
        self.keep_best = keep_best
        self.best: list[tuple[float, Path]] = []  # (val_loss, path), best first

    @property
    def last_path(self) -> Path:
        return self.directory / "last.pt"

    def save_last(self, state: dict[str, Any]) -> Path:
        save_atomic({**state, "rng": rng_state()}, self.last_path)
        return self.last_path

    def save_best(self, state: dict[str, Any], val_loss: float, epoch: int) -> Path | None:
        """Keep this checkpoint if it is among the best ``keep_best`` by validation loss."""
        if self.keep_best <= 0:
            return None
        if len(self.best) >= self.keep_best and val_loss >= self.best[-1][0]:
            return None
        path = self.directory / f"best-epoch{epoch:04d}.pt"
        save_atomic({**state, "rng": rng_state()}, path)
        self.best.append((val_loss, path))
        self.best.sort(key=lambda item: item[0])
        for _, stale in self.best[self.keep_best:]:
            stale.unlink(missing_ok=True)
        self.best = self.best[: self.keep_best]
        return path

    def load_last(self) -> dict[str, Any] | None:
        """The ``last`` checkpoint, or None if there is none yet."""
        if not self.last_path.exists():
            return None
        return torch.load(self.last_path, map_location="cpu", weights_only=False)

    def state_dict(self) -> dict[str, Any]:
        return {"best": [(loss, str(path)) for loss, path in self.best]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = [(loss, Path(path)) for loss, path in state["best"]]
