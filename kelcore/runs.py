"""Building models reproducibly, and reading trained models back from run directories."""
from __future__ import annotations

from typing import Any

import torch

from .api import Options, SequenceModel


def build_model(cls: type[SequenceModel], options: Options | dict[str, Any] | None = None, seed: int = 0) -> SequenceModel:
    """Construct ``cls`` with weights drawn from ``seed`` (same seed, same weights),
    without disturbing the caller's global RNG. Returned in eval mode."""
    if isinstance(options, dict):
        options = cls.Options(**options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(options)
    return model.eval()


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters as PyTorch counts them (the ModelSpec convention)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
