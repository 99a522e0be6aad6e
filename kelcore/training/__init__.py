"""Training utilities and the built-in trainer.

Public: :class:`EarlyStopping`, :class:`TrainingMetrics`, :class:`CheckpointManager`,
:class:`TrainingError`. The default trainer (``kelcore.training.default``) is
registered as ``"default"`` and can be replaced by any trainer plugin.
"""
from .checkpoints import CheckpointManager
from .early_stopping import EarlyStopping
from .history import TrainingMetrics


class TrainingError(RuntimeError):
    """Training cannot continue (e.g. the loss became NaN or infinite)."""


__all__ = ["CheckpointManager", "EarlyStopping", "TrainingMetrics", "TrainingError"]
