"""HarmonyPredictor: a bar's melody pitch activity in, a distribution over 64 chord classes out.

Layers (trainable parameters): GRU(128→96) 3·96·(128+96+2) = 65,088; Dense(96→56, no bias)+tanh 5,376;
Dense(56→64, no bias)+softmax 3,584; total 74,048. The GRU keeps the key and the progression so far.
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import ChainModel, FeatureContract, Options, Sequence, class_nll, stack_targets, topk_accuracy
from kel_contracts.harmony import CONTRACT, QUALITIES

from .vocabulary import CHORD_NAMES, NO_CHORD, chord_templates

SPEC = kelcore.get_spec("HarmonyPredictor")
HIDDEN = 96


class HarmonyOptions(Options):
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the chord targets")


def template_scores(inputs: np.ndarray) -> np.ndarray:
    """Baseline scores ``[N, 64]``: the melody's pitch-class profile matched to each chord template."""
    profile = fold_pitch_classes(inputs)
    templates = chord_templates()
    scores = np.full((len(inputs), SPEC.output_size), -np.inf, dtype=np.float64)
    scores[:, :60] = profile @ templates.T / np.sqrt(templates.sum(axis=1))
    silent = profile.sum(axis=1) <= 0
    scores[silent] = -np.inf
    scores[silent, NO_CHORD] = 0.0
    return scores


def fold_pitch_classes(inputs: np.ndarray) -> np.ndarray:
    """MIDI-pitch activity ``[N, 128]`` -> pitch-class profile ``[N, 12]``."""
    profile = np.zeros((len(inputs), 12))
    for pitch in range(inputs.shape[1]):
        profile[:, pitch % 12] += inputs[:, pitch]
    return profile


class HarmonyPredictor(ChainModel):
    """Chooses the chord of each bar from the melody heard in it (and the bars before)."""

    spec_name = SPEC.name
    Options = HarmonyOptions
    primary_metric = "accuracy"
    higher_is_better = True

    def __init__(self, options: HarmonyOptions | None = None) -> None:
        super().__init__(options)
        self.layers = nn.ModuleList([
            nn.GRU(SPEC.input_size, HIDDEN, batch_first=True),
            nn.Linear(HIDDEN, 56, bias=False), nn.Tanh(),
            nn.Linear(56, SPEC.output_size, bias=False), nn.Softmax(dim=-1),
        ])

    @classmethod
    def feature_contract(cls) -> FeatureContract:
        return CONTRACT.feature_contract()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return class_nll(outputs, targets[:, 0], self.options.label_smoothing)

    def plot_test(self, outputs: torch.Tensor, targets: torch.Tensor, figure) -> str:
        """Chord confusion by quality (maj, min, 7, min7, dim, N, aug, sus, other), row-normalised."""
        groups = list(QUALITIES) + ["N", "aug", "sus", "other"]
        quality = np.minimum(np.arange(SPEC.output_size) // 12, len(QUALITIES))
        quality[len(QUALITIES) * 12:] = np.arange(len(QUALITIES), len(groups))
        truth = quality[targets[:, 0].numpy().astype(int)]
        predicted = quality[outputs.argmax(dim=1).numpy()]
        matrix = np.zeros((len(groups), len(groups)))
        np.add.at(matrix, (truth, predicted), 1)
        ax = figure.add_subplot()
        image = ax.imshow(matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        figure.colorbar(image, ax=ax, label="share of the true quality's steps")
        ax.set_xticks(range(len(groups)), groups)
        ax.set_yticks(range(len(groups)), groups)
        ax.set(xlabel="predicted quality", ylabel="true quality",
               title=f"chord quality confusion; root+quality accuracy {topk_accuracy(outputs, targets[:, 0], 1):.3f}")
        return "Chord confusion by quality on the test split (rows: the target's quality, any root)."

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return {"accuracy": topk_accuracy(outputs, targets[:, 0], 1), "top3": topk_accuracy(outputs, targets[:, 0], 3)}

    @classmethod
    def baseline_metrics(cls, train: list[Sequence], evaluate: list[Sequence]) -> dict[str, float]:
        """The stronger of two baselines per metric: chord templates matched against the melody alone, and always
        the training split's commonest chord classes (majority_*: a baseline below it is no bar to beat)."""
        inputs = np.concatenate([s.inputs for s in evaluate]).astype(np.float64)
        classes = stack_targets(evaluate)[:, 0]
        scores = torch.as_tensor(template_scores(inputs))
        template = {"accuracy": topk_accuracy(scores, classes, 1), "top3": topk_accuracy(scores, classes, 3)}
        majority = majority_metrics(train, classes, SPEC.output_size, {"accuracy": 1, "top3": 3})
        return {**{k: max(v, majority[k]) for k, v in template.items()},
                **{f"template_{k}": v for k, v in template.items()},
                **{f"majority_{k}": v for k, v in majority.items()}}


def majority_metrics(train: list[Sequence], classes: np.ndarray, size: int, ks: dict[str, int]) -> dict[str, float]:
    """Top-k accuracy of always answering the training split's k commonest classes."""
    labels = stack_targets(train)[:, 0].astype(np.int64) if train else np.zeros(0, np.int64)
    counts = np.bincount(labels, minlength=size)[:size].astype(np.float64)
    scores = torch.as_tensor(np.tile(counts + np.arange(size)[::-1] * 1e-9, (len(classes), 1)))   # ties: lower first
    return {name: topk_accuracy(scores, classes, k) for name, k in ks.items()}
