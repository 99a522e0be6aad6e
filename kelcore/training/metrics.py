"""Old name of :mod:`kelcore.training.history` (the per-epoch metric log), kept for existing imports; not to be
confused with :mod:`kelcore.metrics`, the loss and metric helpers model plugins use."""
from .history import *  # noqa: F401,F403
from .history import TrainingMetrics  # noqa: F401
