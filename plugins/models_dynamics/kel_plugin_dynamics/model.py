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
from kelcore.api import FeatureContract, FeatureElement, Options, Sequence
from kelcore.layers import ChainModel
from kelcore.metrics import class_nll

SPEC = kelcore.get_spec("DynamicsEngine")
BIN_WIDTH = 8
BIN_CENTRES = torch.arange(SPEC.output_size, dtype=torch.float32) * BIN_WIDTH + (BIN_WIDTH - 1) / 2
HIDDEN = 32

#: names of the 32 score-context inputs (meanings in docs/CONTRACTS.md and the dataset's docs)
INPUT_NAMES = (
    ["pitch", "duration", "ioi_previous", "ioi_next", "beat_position", "beat_strength_downbeat",
     "beat_strength_beat", "beat_strength_eighth", "beat_strength_sixteenth", "local_density",
     "phrase_position", "chord_size", "is_highest_in_chord", "is_lowest_in_chord", "pedal_down", "tempo"]
    + [f"pitch_class_{pc}" for pc in range(12)]
    + ["register", "interval_previous", "piece_position", "bar_position"]
)


class DynamicsOptions(Options):
    label_smoothing: float = Field(0.05, ge=0, lt=1, description="label smoothing of the velocity-bin targets")


def velocity_bins(velocity: torch.Tensor) -> torch.Tensor:
    return (velocity // BIN_WIDTH).long().clamp(0, SPEC.output_size - 1)


class DynamicsEngine(ChainModel):
    """Predicts how loud each note of a score is played."""

    spec_name = SPEC.name
    Options = DynamicsOptions
    target_size = 1
    output_activation = "softmax"
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
        inputs = [FeatureElement(index=i, name=name, meaning=f"score context: {name.replace('_', ' ')}",
                                 scale="see the dataset plugin's documentation",
                                 normalisation="standardised with training mean/std")
                  for i, name in enumerate(INPUT_NAMES)]
        outputs = [FeatureElement(index=k, name=f"velocity_bin{k}",
                                  meaning=f"probability that the velocity is in {BIN_WIDTH * k}..{BIN_WIDTH * k + 7}",
                                  scale="0..1, sums to 1", normalisation="softmax")
                   for k in range(SPEC.output_size)]
        return FeatureContract(model=SPEC.name, version="1.0.0", inputs=inputs, outputs=outputs,
                               targets="[velocity] MIDI velocity 1..127",
                               notes="One step per note in onset order (chords by ascending pitch); reset per "
                                     "piece. Expected velocity = sum_k p_k (8k + 3.5).")

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return class_nll(outputs, velocity_bins(targets[:, 0]), self.options.label_smoothing)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        expected = outputs @ BIN_CENTRES
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
            hits.append(velocity_bins(torch.as_tensor(velocity)).numpy() == int(min(mean // BIN_WIDTH, 15)))
        return {"velocity_mae": float(np.concatenate(errors).mean()),
                "bin_accuracy": float(np.concatenate(hits).mean())}
