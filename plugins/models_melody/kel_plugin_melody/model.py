"""MelodyTransformer: the previous note and its musical context in, the next pitch out.

Layers (trainable parameters): LSTM(64→256) 4·256·(64+256+2) = 329,728; Dense(256→216, no bias)+tanh 55,296;
Dense(216→128, no bias)+softmax 27,648; total 412,672. An optional Dropout after the LSTM (options.dropout,
default 0) acts only while training and has no parameters. Autoregressive: one step per note.
"""
from __future__ import annotations


import math

import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import ChainModel, FeatureContract, Options, Sequence, class_nll, perplexity, topk_accuracy
from kel_contracts.melody import CONTRACT

SPEC = kelcore.get_spec("MelodyTransformer")
HIDDEN = 256
class MelodyOptions(Options):
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the next-pitch targets")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout probability after the LSTM while training "
                           "(regularises against overfitting; the identity in eval mode and dropped on export)")


class MelodyTransformer(ChainModel):
    """Predicts the next melody pitch, conditioned on key, mode, metre position and emotion."""

    spec_name = SPEC.name
    Options = MelodyOptions
    target_size = CONTRACT.target_size
    output_activation = "softmax"
    primary_metric = "top1"
    higher_is_better = True

    def __init__(self, options: MelodyOptions | None = None) -> None:
        super().__init__(options)
        # Dropout only when asked, so that the default chain (and its state_dict keys, checkpoints, exports) is unchanged.
        dropout = [nn.Dropout(self.options.dropout)] if self.options.dropout > 0 else []
        self.layers = nn.ModuleList([
            nn.LSTM(SPEC.input_size, HIDDEN, batch_first=True), *dropout,
            nn.Linear(HIDDEN, 216, bias=False), nn.Tanh(),
            nn.Linear(216, SPEC.output_size, bias=False), nn.Softmax(dim=-1),
        ])

    @classmethod
    def feature_contract(cls) -> FeatureContract:
        return CONTRACT.feature_contract()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return class_nll(outputs, targets[:, 0], self.options.label_smoothing)

    def plot_test(self, outputs: torch.Tensor, targets: torch.Tensor, figure) -> str:
        """Top-k accuracy of the next pitch for k = 1..10 on the test split."""
        ks = list(range(1, 11))
        ax = figure.add_subplot()
        ax.plot(ks, [topk_accuracy(outputs, targets[:, 0], k) for k in ks], marker="o")
        ax.set(xlabel="k", ylabel="share of notes whose pitch is in the top k", ylim=(0, 1),
               title="next-pitch top-k accuracy, test split")
        return "How often the next note's pitch is among the model's k most probable pitches (test split)."

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        pitches = targets[:, 0]
        return with_bits({"top1": topk_accuracy(outputs, pitches, 1), "top5": topk_accuracy(outputs, pitches, 5),
                          "perplexity": perplexity(outputs, pitches)})

    @classmethod
    def baseline_metrics(cls, train: list[Sequence], evaluate: list[Sequence]) -> dict[str, float]:
        """The stronger of two baselines per metric: a bigram on the previous pitch (add-one smoothed) and always
        the training split's commonest pitches (majority_*), both fitted on the training split."""
        size = SPEC.output_size
        unigram = np.ones(size)
        bigram = np.ones((size, size))
        for seq in train:
            pitches = seq.targets[:, 0].astype(int)
            np.add.at(unigram, pitches, 1)
            np.add.at(bigram, (pitches[:-1], pitches[1:]), 1)
        rows, classes = [], []
        for seq in evaluate:
            pitches = seq.targets[:, 0].astype(int)
            for t, pitch in enumerate(pitches):
                counts = unigram if t == 0 else bigram[pitches[t - 1]]
                rows.append(counts / counts.sum())
                classes.append(pitch)
        probs = torch.as_tensor(np.array(rows))
        target = torch.as_tensor(classes)
        bigram_metrics = with_bits({"top1": topk_accuracy(probs, target, 1), "top5": topk_accuracy(probs, target, 5),
                                    "perplexity": perplexity(probs, target)})
        prior = torch.as_tensor(np.tile(unigram / unigram.sum(), (len(classes), 1)))
        majority = with_bits({"top1": topk_accuracy(prior, target, 1), "top5": topk_accuracy(prior, target, 5),
                              "perplexity": perplexity(prior, target)})
        best = {k: (min if k in ("perplexity", "bits_per_note") else max)(v, majority[k])
                for k, v in bigram_metrics.items()}
        return {**best, **{f"bigram_{k}": v for k, v in bigram_metrics.items()},
                **{f"majority_{k}": v for k, v in majority.items()}}


def with_bits(metrics: dict[str, float]) -> dict[str, float]:
    """Adds bits per note (log2 of the perplexity: the literature's unit, e.g. IDyOM's ~1.9 on chorale melodies)."""
    return {**metrics, "bits_per_note": math.log2(metrics["perplexity"])}

