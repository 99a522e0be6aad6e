"""DynamicsEngine: per-note score context in, a distribution over 16 velocity bins out.

Layers (trainable parameters): LSTM(32→32) 4·32·(32+32+2) = 8,448; Dense(32→104, no bias)+tanh 3,328;
Dense(104→16)+softmax 1,680; total 13,456. The LSTM follows the phrase (crescendi, accents).
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import ChainModel, FeatureContract, Options, Sequence, class_nll
from kel_contracts.dynamics import BIN_WIDTH, CONTRACT, bin_centre

SPEC = kelcore.get_spec("DynamicsEngine")
BIN_CENTRES = torch.tensor([bin_centre(k) for k in range(SPEC.output_size)], dtype=torch.float32)
HIDDEN = 32

class DynamicsOptions(Options):
    label_smoothing: float = Field(0.05, ge=0, lt=1, description="label smoothing of the velocity-bin targets")


def velocity_bins(velocity: torch.Tensor) -> torch.Tensor:
    return (velocity // BIN_WIDTH).long().clamp(0, SPEC.output_size - 1)


class DynamicsEngine(ChainModel):
    """Predicts how loud each note of a score is played."""

    spec_name = SPEC.name
    Options = DynamicsOptions
    primary_metric = "velocity_mae"
    higher_is_better = False

    def __init__(self, options: DynamicsOptions | None = None) -> None:
        super().__init__(options)
        self.layers = nn.ModuleList([
            nn.LSTM(SPEC.input_size, HIDDEN, batch_first=True),
            nn.Linear(HIDDEN, 104, bias=False), nn.Tanh(),
            nn.Linear(104, SPEC.output_size), nn.Softmax(dim=-1),
        ])

    @classmethod
    def feature_contract(cls) -> FeatureContract:
        return CONTRACT.feature_contract()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return class_nll(outputs, velocity_bins(targets[:, 0]), self.options.label_smoothing)

    def plot_test(self, outputs: torch.Tensor, targets: torch.Tensor, figure) -> str:
        """Expected velocity against the performed velocity, every test note."""
        expected = outputs @ BIN_CENTRES.to(outputs)  # on the outputs' device and dtype
        ax = figure.add_subplot()
        ax.scatter(targets[:, 0].numpy(), expected.numpy(), s=4, alpha=0.3)
        ax.plot([0, 127], [0, 127], color="grey", linewidth=0.8)
        ax.set(xlim=(0, 127), ylim=(0, 127), xlabel="performed MIDI velocity", ylabel="expected velocity",
               title=f"velocity MAE {float((expected - targets[:, 0]).abs().mean()):.2f}")
        return "Expected velocity (sum of p_k x bin centre) against the performed velocity, every test note."

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        expected = outputs @ BIN_CENTRES.to(outputs)  # on the outputs' device and dtype
        velocity = targets[:, 0]
        return {"velocity_mae": float((expected - velocity).abs().mean()),
                "bin_accuracy": float((outputs.argmax(dim=1) == velocity_bins(velocity)).float().mean())}

    @classmethod
    def baseline_metrics(cls, train: list[Sequence], evaluate: list[Sequence]) -> dict[str, float]:
        """Every note of a piece played at that piece's own mean velocity."""
        errors, hits = [], []
        for seq in evaluate:
            velocity = seq.targets[:, 0]
            mean = float(velocity.mean())
            errors.append(np.abs(velocity - mean))
            # torch.tensor copies: the prepared targets are read-only views (as_tensor warned on every run)
            hits.append(velocity_bins(torch.tensor(velocity)).numpy() == int(min(mean // BIN_WIDTH, 15)))
        return {"velocity_mae": float(np.concatenate(errors).mean()),
                "bin_accuracy": float(np.concatenate(hits).mean())}
