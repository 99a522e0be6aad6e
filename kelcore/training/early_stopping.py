"""Stop when the validation loss stops improving, and keep the best weights."""
from __future__ import annotations

import copy
from typing import Any

import torch


class EarlyStopping:
    """Tracks the best validation loss; ``step`` returns True when training should stop.

    An epoch counts as an improvement when ``loss < best - min_delta``. After
    ``patience`` epochs without one, training stops; :meth:`restore_best` puts the
    best weights back into the model.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0) -> None:
        if patience < 0 or min_delta < 0:
            raise ValueError("patience and min_delta must be >= 0")
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def step(self, loss: float, epoch: int, model: torch.nn.Module) -> bool:
        """Record one epoch's validation loss; True means stop now."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss = loss
            self.best_epoch = epoch
            self.bad_epochs = 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return self.bad_epochs > self.patience

    def improved_at(self, epoch: int) -> bool:
        return self.best_epoch == epoch

    def restore_best(self, model: torch.nn.Module) -> None:
        """Load the best weights seen (no-op before the first step)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_loss": self.best_loss, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss = state["best_loss"]
        self.best_epoch = state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self.best_state = state["best_state"]
