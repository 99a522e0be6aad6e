"""Stop when the validation loss stops improving, and keep the best weights."""
from __future__ import annotations

import copy
from typing import Any

import torch


class EarlyStopping:
    """Tracks the best validation loss; ``step`` returns True when training should stop.

    An epoch counts as an improvement when ``loss < best - min_delta``. After
    ``patience`` epochs in a row without one, training stops (as in Keras: with
    ``patience = 8`` the 8th epoch without improvement is the last);
    :meth:`restore_best` puts the best weights back into the model. Epochs are
    numbered as the caller numbers them (kelcore's trainer counts from 1).
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
        return self.bad_epochs >= self.patience

    def improved_at(self, epoch: int) -> bool:
        return self.best_epoch == epoch

    def explain(self, epoch: int) -> str:
        """Why training stopped after ``epoch``, and which epoch's weights are kept."""
        return (f"early stopping after epoch {epoch}: the validation loss did not improve "
                f"{'by more than ' + format(self.min_delta, 'g') + ' ' if self.min_delta else ''}"
                f"for {self.bad_epochs} epoch{'s' if self.bad_epochs != 1 else ''} (patience {self.patience}); "
                f"keeping epoch {self.best_epoch} (validation loss {self.best_loss:.4f})")

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
