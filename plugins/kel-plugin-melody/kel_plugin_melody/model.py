"""MelodyTransformer: the previous note and its musical context in, the next pitch out.

Layers (trainable parameters): LSTM(64→256) 4·256·(64+256+2) = 329,728; Dense(256→216, no bias)+tanh 55,296;
Dense(216→128, no bias)+softmax 27,648; total 412,672. A Dropout after the LSTM (options.dropout, default 0.3)
acts only while training, has no parameters and is dropped on export. Autoregressive: one step per note.

Transposition augmentation (options.transpose, training only): every training window is played in a random key
within +-transpose semitones. The contract's inputs are transposition-covariant -- shifting every pitch of a MIDI
file by k shifts the previous pitch (class and octave) by k, rotates the key's tonic by k and leaves everything else
(rest, duration, position, mode, valence, arousal, tempo) as it is -- so :func:`transpose_inputs` computes the
features of the transposed file from the features of the original (tests/test_melody_real.py proves it against the
real feature code on real chorales). Instead of shifting the targets the forward pass shifts the predicted
distribution back by k, so the trainer's loss against the untransposed target is exactly the loss of the transposed
window against its transposed target. In eval mode (validation, test, export, the plugin) the model is the plain
chain. Why these defaults (transpose 6, dropout 0.3): docs/ML_TRAINING_GUIDE.md, measured by
benchmarks/melody_real.py on all Bach chorales and all folk tunes of music21's corpus.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import (ChainModel, FeatureContract, HostDropout, Options, Sequence, class_nll, host_uniform,
                         perplexity, topk_accuracy)
from kel_contracts.melody import CONTRACT, OCTAVES

SPEC = kelcore.get_spec("MelodyTransformer")
HIDDEN = 256
PITCHES = SPEC.output_size
_OFFSETS = CONTRACT.inputs.offsets()
PITCH_CLASS, OCTAVE, KEY = _OFFSETS["prev_pitch_class"], _OFFSETS["prev_octave"], _OFFSETS["key"]


class MelodyOptions(Options):
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the next-pitch targets while "
                                   "training (validation and test losses are the plain negative log-likelihood)")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout probability after the LSTM while training "
                           "(regularises against overfitting; the identity in eval mode and dropped on export)")
    transpose: int = Field(6, ge=0, le=12, description="transposition augmentation while training: each training "
                           "window is shifted by a random whole number of semitones in -transpose..+transpose "
                           "(inputs, key and target, consistently; kept within MIDI 0..127); 0 disables")


def encoded_steps(x: torch.Tensor) -> torch.Tensor:
    """Per step of ``x[..., 64]``, whether it holds the contract's raw encoding where transposition reads it: the
    previous pitch class and octave each one-hot (or both all zero: no previous note), the key one-hot (or all zero:
    a padded step). A tensor on ``x``'s device: nothing is read back to the host."""
    pitch_class = x[..., PITCH_CLASS:PITCH_CLASS + 12]
    octave = x[..., OCTAVE:OCTAVE + OCTAVES]
    key = x[..., KEY:KEY + 12]
    binary = torch.stack([((s == 0) | (s == 1)).all(-1) for s in (pitch_class, octave, key)]).all(0)
    return (binary & (pitch_class.sum(-1) == octave.sum(-1)) & (pitch_class.sum(-1) <= 1)
            & (key.sum(-1) <= 1))


def contract_encoded(x: torch.Tensor) -> bool:
    """Whether every step of ``x[..., 64]`` holds the contract's raw encoding (:func:`encoded_steps`)."""
    return bool(encoded_steps(x).all())


def decode_previous_pitch(x: torch.Tensor, check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(MIDI pitch of the previous note, whether there is one) per step of contract inputs ``x[..., 64]``.

    Raises ValueError (unless ``check`` is False: the caller has checked) when the segments are not one-hot (e.g.
    standardised inputs: the contract's inputs are identity-normalised)."""
    if check and not contract_encoded(x):
        raise ValueError("transposition needs the melody contract's raw one-hot inputs (identity normalisation)")
    pitch_class = x[..., PITCH_CLASS:PITCH_CLASS + 12]
    octave = x[..., OCTAVE:OCTAVE + OCTAVES]
    present = pitch_class.sum(-1) > 0.5
    return 12 * octave.argmax(-1) + pitch_class.argmax(-1), present


def transpose_inputs(x: torch.Tensor, shift: torch.Tensor, check: bool = True) -> torch.Tensor:
    """The contract inputs of the same melody transposed by ``shift`` semitones.

    ``x[B, T, 64]`` (or ``[T, 64]`` with a scalar shift), ``shift[B]`` integers: the previous pitch moves by the
    shift (pitch class and octave re-encoded), the key's tonic rotates by it, every other element stays. The caller
    keeps the transposed pitches within 0..127 (octaves 0..10 then need no clipping)."""
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(0)
    shift = torch.as_tensor(shift, device=x.device).long().reshape(-1)
    pitch, present = decode_previous_pitch(x, check)
    moved = pitch + shift[:, None]
    out = x.clone()
    mask = present.to(x.dtype)[..., None]
    octave = torch.div(moved, 12, rounding_mode="floor").clamp(0, OCTAVES - 1)
    out[..., PITCH_CLASS:PITCH_CLASS + 12] = nn.functional.one_hot(moved.remainder(12), 12).to(x.dtype) * mask
    out[..., OCTAVE:OCTAVE + OCTAVES] = nn.functional.one_hot(octave, OCTAVES).to(x.dtype) * mask
    source = (torch.arange(12, device=x.device)[None, :] - shift[:, None]).remainder(12)   # new tonic j <- j - k
    out[..., KEY:KEY + 12] = x[..., KEY:KEY + 12].gather(-1, source[:, None, :].expand(-1, x.shape[1], -1))
    return out[0] if single else out


def untranspose_outputs(y: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Pitch distributions ``y[B, T, 128]`` predicted in a key shifted by ``shift[B]``, moved back: the result's
    pitch p is the prediction's p + shift (pitches pushed past 0..127 wrap round: never a target, see
    :func:`draw_shifts`)."""
    shift = torch.as_tensor(shift, device=y.device).long().reshape(-1)
    source = (torch.arange(PITCHES, device=y.device)[None, :] + shift[:, None]).remainder(PITCHES)
    return y.gather(-1, source[:, None, :].expand(-1, y.shape[1], -1))


def draw_shifts(x: torch.Tensor, limit: int, generator: torch.Generator | None = None,
                check: bool = True) -> torch.Tensor:
    """A random shift per window of ``x[B, T, 64]`` in -limit..limit (uniform), narrowed per window so that its
    previous pitches stay within MIDI 0..127 (a window with no previous pitch takes any)."""
    pitch, present = decode_previous_pitch(x, check)
    low = torch.where(present, pitch, torch.full_like(pitch, PITCHES)).amin(dim=1)
    high = torch.where(present, pitch, torch.full_like(pitch, -1)).amax(dim=1)
    lo = torch.clamp(-low, min=-limit).clamp(max=0)                  # no previous pitch: low = 128 -> lo = -limit
    hi = torch.clamp(PITCHES - 1 - high, max=limit).clamp(min=0)
    # drawn on the host (the CPU's generator, or the one given): the same shifts on every device for one seed
    u = host_uniform((len(x),), x.device) if generator is None else torch.rand(len(x), generator=generator).to(x.device)
    return lo + torch.floor(u * (hi - lo + 1)).long().clamp(max=hi - lo)


class MelodyTransformer(ChainModel):
    """Predicts the next melody pitch, conditioned on key, mode, metre position and emotion."""

    spec_name = SPEC.name
    Options = MelodyOptions
    primary_metric = "top1"
    higher_is_better = True

    def __init__(self, options: MelodyOptions | None = None) -> None:
        super().__init__(options)
        # No Dropout module at dropout = 0: the chain (and state_dict keys) of runs saved before dropout existed, which
        # record dropout = 0 in their options, is rebuilt exactly; exports never hold it (a train-only module).
        # HostDropout: masks drawn on the host, so a CUDA run draws what a CPU run draws (kelcore.api.HostDropout)
        dropout = [HostDropout(self.options.dropout)] if self.options.dropout > 0 else []
        self.layers = nn.ModuleList([
            nn.LSTM(SPEC.input_size, HIDDEN, batch_first=True), *dropout,
            nn.Linear(HIDDEN, 216, bias=False), nn.Tanh(),
            nn.Linear(216, SPEC.output_size, bias=False), nn.Softmax(dim=-1),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The chain; while training with ``transpose``, each window in a random key with its prediction moved
        back (module docstring). A window that is not the contract's one-hot encoding (standardised or random
        inputs) stays as it is: chosen per window on the device, without reading a value back to the host (a
        synchronisation every step on a GPU)."""
        if not (self.training and self.options.transpose):
            return super().forward(x)
        encoded = encoded_steps(x).all(-1)
        shift = draw_shifts(x, self.options.transpose, check=False) * encoded
        moved = torch.where(encoded[:, None, None], transpose_inputs(x, shift, check=False), x)
        return untranspose_outputs(super().forward(moved), shift)

    @classmethod
    def feature_contract(cls) -> FeatureContract:
        return CONTRACT.feature_contract()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # smoothing is a training device: validation (early stopping, the LR schedule) and test judge the plain NLL
        return class_nll(outputs, targets[:, 0], self.options.label_smoothing if self.training else 0.0)

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

