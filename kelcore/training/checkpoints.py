"""Checkpoints that survive a kill: atomic writes, ``last`` plus the best k.

Checkpoints hold only tensors and plain data (dicts, lists, numbers, strings), and
are read back with ``torch.load(..., weights_only=True)``: a checkpoint someone
shared cannot run code when a run resumes from it. They are mapped to the CPU on
load, so a run saved on one device resumes on another.
"""
from __future__ import annotations

import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds something besides tensors and plain data; it was not loaded."""


def rng_state() -> dict[str, Any]:
    """Every RNG state a training step may touch, as tensors, lists and numbers (safe-loadable)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": [int(v) for v in internal], "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)  # same kind of machine: bit-exact; elsewhere the CPU state suffices


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save through kelcore's one atomic writer (temp file, fsync, rename)."""
    from ..io import atomic_write

    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)


def load_safe(path: Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``; anything else in the file is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "GLOBAL" in line or "Unsupported" in line), first[0] if first else "")
        raise UnsafeCheckpointError(
            f"{path}: refused to load: the file holds Python objects besides tensors and plain data "
            f"(torch.load weights_only=True rejected it: {detail.strip()}). A kelcore checkpoint never does; "
            f"nothing from it was run. Do not resume from a checkpoint you do not trust") from None


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
        """The ``last`` checkpoint (on the CPU, safe-loaded), or None if there is none yet."""
        if not self.last_path.exists():
            return None
        return load_safe(self.last_path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": [[loss, str(path)] for loss, path in self.best]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = [(loss, Path(path)) for loss, path in state["best"]]
