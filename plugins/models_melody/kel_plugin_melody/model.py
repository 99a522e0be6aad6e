"""MelodyTransformer: the previous note and its musical context in, the next pitch out.

Layers (trainable parameters): LSTM(64→256) 4·256·(64+256+2) = 329,728; Dense(256→216, no bias)+tanh 55,296;
Dense(216→128, no bias)+softmax 27,648; total 412,672. Autoregressive: one step per note.
"""
from __future__ import annotations


import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import FeatureContract, FeatureElement, Options, Sequence
from kelcore.layers import ChainModel
from kelcore.metrics import class_nll, perplexity, topk_accuracy

SPEC = kelcore.get_spec("MelodyTransformer")
HIDDEN = 256
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
DURATIONS = (0.125, 0.25, 0.5, 0.75, 1, 1.5, 2, 4)


def _inputs() -> list[tuple[str, str, str]]:
    """(name, meaning, scale) of the 64 inputs, in order."""
    rows = [(f"prev_pc_{n}", f"previous note's pitch class is {n}", "one-hot") for n in PITCH_CLASSES]
    rows += [(f"prev_octave_{o}", f"previous note's octave (pitch // 12) is {o}", "one-hot") for o in range(11)]
    rows += [("rest", "first note, or a rest of at least one beat precedes the note to predict", "0 or 1")]
    rows += [(f"prev_duration_{d}", f"previous note lasted about {d} beats (nearest in log2)", "one-hot")
             for d in DURATIONS]
    rows += [(f"position_{s}", f"the note to predict starts on sixteenth {s} of its bar", "one-hot")
             for s in range(16)]
    rows += [(f"key_{n}", f"the key's tonic is {n}", "one-hot") for n in PITCH_CLASSES]
    rows += [("mode", "mode of the key", "1 major, 0 minor"),
             ("valence", "emotion conditioning: valence (label or musical proxy)", "-1..1"),
             ("arousal", "emotion conditioning: arousal (label or musical proxy)", "-1..1"),
             ("tempo", "tempo in bpm / 200", "0..1 (clipped)")]
    return rows


class MelodyOptions(Options):
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the next-pitch targets")


class MelodyTransformer(ChainModel):
    """Predicts the next melody pitch, conditioned on key, mode, metre position and emotion."""

    spec_name = SPEC.name
    Options = MelodyOptions
    target_size = 1
    output_activation = "softmax"
    primary_metric = "top1"
    higher_is_better = True

    def __init__(self, options: MelodyOptions | None = None) -> None:
        super().__init__(options)
        self.layers = nn.ModuleList([
            nn.LSTM(SPEC.input_size, HIDDEN, batch_first=True),
            nn.Linear(HIDDEN, 216, bias=False), nn.Tanh(),
            nn.Linear(216, SPEC.output_size, bias=False), nn.Softmax(dim=-1),
        ])

    @classmethod
    def feature_contract(cls) -> FeatureContract:
        inputs = [FeatureElement(index=i, name=name, meaning=meaning, scale=scale, normalisation="identity")
                  for i, (name, meaning, scale) in enumerate(_inputs())]
        outputs = [FeatureElement(index=p, name=f"pitch{p}", meaning=f"probability that the next note is MIDI {p}",
                                  scale="0..1, sums to 1", normalisation="softmax") for p in range(SPEC.output_size)]
        return FeatureContract(model=SPEC.name, version="1.0.0", inputs=inputs, outputs=outputs,
                               targets="[next_pitch] MIDI pitch 0..127",
                               notes="One step per melody note in onset order; reset per song. Valence/arousal "
                                     "proxy for unlabelled songs: valence = +0.5 major / -0.5 minor; arousal = "
                                     "clip((tempo - 100)/60 + (mean velocity - 64)/64, -1, 1).")

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return class_nll(outputs, targets[:, 0], self.options.label_smoothing)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        pitches = targets[:, 0]
        return {"top1": topk_accuracy(outputs, pitches, 1), "top5": topk_accuracy(outputs, pitches, 5),
                "perplexity": perplexity(outputs, pitches)}

    @classmethod
    def baseline_metrics(cls, train: list[Sequence], evaluate: list[Sequence]) -> dict[str, float]:
        """A bigram on the previous pitch, add-one smoothed, fitted on the training split."""
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
        return {"top1": topk_accuracy(probs, target, 1), "top5": topk_accuracy(probs, target, 5),
                "perplexity": perplexity(probs, target)}


assert len(_inputs()) == SPEC.input_size, "the melody contract must list every input exactly once"
