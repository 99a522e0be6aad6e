"""EmotionRecognizer: 0.5 s of log-mel energies in, an 8 x 8 valence x arousal grid out.

Layers (trainable parameters): LSTM(128→256) 4·256·(128+256+2) = 395,264; Dense(256→320, no bias)+tanh 81,920;
Dense(320→64, no bias)+softmax 20,480; total 497,664. The 64 probabilities are the plugin's emotion embedding.
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import ChainModel, FeatureContract, Options, Sequence, log_probs, pearson, rmse, stack_targets
from kel_contracts.emotion import CONTRACT, GRID_BINS, grid_centre

SPEC = kelcore.get_spec("EmotionRecognizer")
GRID = GRID_BINS
HIDDEN = 256


def grid_centres(like: torch.Tensor) -> torch.Tensor:
    """Centre of bin k on either axis (the contract's decoding), on ``like``'s device and dtype.

    Made where the batch lives: a CPU tensor here broke CUDA training (issue 20).
    """
    return torch.tensor([grid_centre(k) for k in range(GRID)], dtype=like.dtype, device=like.device)


def expected_position(outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected (valence, arousal) of grid probabilities ``[N, 64]`` (index = 8 v + a)."""
    grid = outputs.reshape(-1, GRID, GRID)
    centres = grid_centres(outputs)
    return grid.sum(dim=2) @ centres, grid.sum(dim=1) @ centres


def _scores(valence, arousal, targets) -> dict[str, float]:
    v_rmse, a_rmse = rmse(valence, targets[:, 0]), rmse(arousal, targets[:, 1])
    return {"rmse": (v_rmse + a_rmse) / 2, "valence_rmse": v_rmse, "arousal_rmse": a_rmse,
            "valence_r": pearson(valence, targets[:, 0]), "arousal_r": pearson(arousal, targets[:, 1])}


class EmotionOptions(Options):
    target_sigma: float = Field(0.25, gt=0, description="width of the Gaussian target around the annotation")


class EmotionRecognizer(ChainModel):
    """Recognises valence and arousal from audio, one 0.5 s frame per step."""

    spec_name = SPEC.name
    Options = EmotionOptions
    primary_metric = "rmse"
    higher_is_better = False

    def __init__(self, options: EmotionOptions | None = None) -> None:
        super().__init__(options)
        self.layers = nn.ModuleList([
            nn.LSTM(SPEC.input_size, HIDDEN, batch_first=True),
            nn.Linear(HIDDEN, 320, bias=False), nn.Tanh(),
            nn.Linear(320, SPEC.output_size, bias=False), nn.Softmax(dim=-1),
        ])

    @classmethod
    def feature_contract(cls) -> FeatureContract:
        return CONTRACT.feature_contract()

    def soft_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """A normalised Gaussian on the grid around each (valence, arousal)."""
        centres = grid_centres(targets)
        sigma = self.options.target_sigma
        v = torch.exp(-((centres - targets[:, :1]) ** 2) / (2 * sigma ** 2))
        a = torch.exp(-((centres - targets[:, 1:2]) ** 2) / (2 * sigma ** 2))
        grid = (v.unsqueeze(2) * a.unsqueeze(1)).reshape(len(targets), -1)
        return grid / grid.sum(dim=1, keepdim=True)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -(self.soft_targets(targets) * log_probs(outputs)).sum(dim=1).mean()

    def plot_test(self, outputs: torch.Tensor, targets: torch.Tensor, figure) -> str:
        """Predicted (expected over the grid) against annotated valence and arousal, every test frame."""
        valence, arousal = expected_position(outputs)
        for column, (name, predicted) in enumerate((("valence", valence), ("arousal", arousal))):
            ax = figure.add_subplot(1, 2, column + 1)
            ax.scatter(targets[:, column].numpy(), predicted.numpy(), s=4, alpha=0.4)
            ax.plot([-1, 1], [-1, 1], color="grey", linewidth=0.8)
            ax.set(xlim=(-1, 1), ylim=(-1, 1), xlabel=f"annotated {name}", ylabel=f"predicted {name}",
                   title=f"{name}: RMSE {rmse(predicted, targets[:, column]):.3f}")
        return "Expected valence and arousal of the 8 x 8 grid against the annotations, every test frame."

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        valence, arousal = expected_position(outputs)
        return _scores(valence.numpy(), arousal.numpy(), targets.numpy())

    @classmethod
    def baseline_metrics(cls, train: list[Sequence], evaluate: list[Sequence]) -> dict[str, float]:
        """Always predict the training split's mean valence and arousal."""
        mean = stack_targets(train).mean(axis=0)
        targets = stack_targets(evaluate)
        return _scores(np.full(len(targets), mean[0]), np.full(len(targets), mean[1]), targets)
