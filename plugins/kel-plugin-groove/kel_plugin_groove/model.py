"""GroovePredictor: one quantised 4/4 drum bar in, micro-timing and velocity per step out.

Layers (trainable parameters, PyTorch convention):
GRU(64→48) 3·48·(64+48+2) = 16,416; Dense(48→32)+tanh 1,568; Dense(32→32)+tanh 1,056; total 19,040.
The GRU carries the groove from bar to bar (the host resets per performance).
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import ChainModel, FeatureContract, Options, Sequence, stack_targets
from kel_contracts.groove import CONTRACT, OFFSET_SCALE, STEPS

SPEC = kelcore.get_spec("GroovePredictor")
HIDDEN = 48


class GrooveOptions(Options):
    velocity_weight: float = Field(1.0, ge=0, description="weight of the velocity error against the timing error")


def _split_targets(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """timing[N,16], velocity[N,16], mask[N,16], sixteenth_ms[N]."""
    return targets[:, :STEPS], targets[:, STEPS:2 * STEPS], targets[:, 2 * STEPS:3 * STEPS], targets[:, 3 * STEPS]


def _errors(timing_pred, velocity_pred, targets) -> dict[str, float]:
    timing, velocity, mask, sixteenth_ms = _split_targets(torch.as_tensor(targets, dtype=torch.float32))
    hits = mask.sum().clamp_min(1.0)
    timing_ms = (timing_pred - timing).abs() / OFFSET_SCALE * sixteenth_ms.unsqueeze(1)
    velocity_midi = (velocity_pred - velocity).abs() * 127.0 / 2.0
    return {"timing_mae_ms": float((timing_ms * mask).sum() / hits),
            "velocity_mae": float((velocity_midi * mask).sum() / hits)}


class GroovePredictor(ChainModel):
    """Humanises a quantised drum bar: per sixteenth step a timing offset and a velocity."""

    spec_name = SPEC.name
    Options = GrooveOptions
    primary_metric = "timing_mae_ms"
    higher_is_better = False

    def __init__(self, options: GrooveOptions | None = None) -> None:
        super().__init__(options)
        self.layers = nn.ModuleList([
            nn.GRU(SPEC.input_size, HIDDEN, batch_first=True),
            nn.Linear(HIDDEN, 32), nn.Tanh(),
            nn.Linear(32, SPEC.output_size), nn.Tanh(),
        ])

    @classmethod
    def feature_contract(cls) -> FeatureContract:
        return CONTRACT.feature_contract()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        timing, velocity, mask, _ = _split_targets(targets)
        squared = (outputs[:, :STEPS] - timing) ** 2 + self.options.velocity_weight * (outputs[:, STEPS:] - velocity) ** 2
        return (squared * mask).sum() / mask.sum().clamp_min(1.0)

    def plot_test(self, outputs: torch.Tensor, targets: torch.Tensor, figure) -> str:
        """Mean absolute timing error in ms per sixteenth step, over the steps that have a hit."""
        timing, _, mask, sixteenth_ms = _split_targets(targets)
        error = (outputs[:, :STEPS] - timing).abs() / OFFSET_SCALE * sixteenth_ms.unsqueeze(1) * mask
        per_step = (error.sum(dim=0) / mask.sum(dim=0).clamp_min(1)).numpy()
        ax = figure.add_subplot()
        ax.bar(range(STEPS), per_step)
        ax.set_xticks(range(STEPS))
        ax.set(xlabel="sixteenth step of the bar", ylabel="timing MAE (ms)",
               title=f"timing error per step, {int(mask.sum())} hits")
        return "Mean absolute micro-timing error per sixteenth step of the bar (test split, steps with a hit)."

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return _errors(outputs[:, :STEPS], outputs[:, STEPS:], targets)

    @classmethod
    def baseline_metrics(cls, train: list[Sequence], evaluate: list[Sequence]) -> dict[str, float]:
        """Zero offset everywhere, and the training split's mean velocity of real hits."""
        train_targets = torch.as_tensor(stack_targets(train))
        _, velocity, mask, _ = _split_targets(train_targets)
        mean_velocity = float((velocity * mask).sum() / mask.sum().clamp_min(1.0))
        targets = stack_targets(evaluate)
        zeros = torch.zeros(len(targets), STEPS)
        return _errors(zeros, torch.full_like(zeros, mean_velocity), np.asarray(targets))
