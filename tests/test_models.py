"""Model plugins: metrics and baselines on hand-built examples, and learning beats the baseline."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kelcore

from kel_plugin_dynamics import DynamicsEngine
from kel_plugin_emotion import EmotionRecognizer
from kel_plugin_groove import GroovePredictor
from kel_plugin_harmony import HarmonyPredictor
from kel_plugin_melody import MelodyTransformer
from kelcore.api import Sequence
from kelcore.plugins import get_registry
from kelcore.runs import build_model

ALL = [DynamicsEngine, EmotionRecognizer, GroovePredictor, HarmonyPredictor, MelodyTransformer]


def seq(inputs, targets, track="t"):
    return Sequence(track, np.asarray(inputs, np.float32), np.asarray(targets, np.float32))


def test_melody_perfect_predictions_and_bigram_baseline():
    model = build_model(MelodyTransformer)
    targets = torch.tensor([[60.0], [62.0], [64.0]])
    perfect = torch.nn.functional.one_hot(targets[:, 0].long(), 128).float()
    metrics = model.metrics(perfect, targets)
    assert metrics["top1"] == 1.0 and metrics["top5"] == 1.0 and metrics["perplexity"] == pytest.approx(1.0)
    train = [seq(np.zeros((4, 64)), [[60], [62], [60], [62]])]
    baseline = MelodyTransformer.baseline_metrics(train, [seq(np.zeros((3, 64)), [[60], [62], [60]])])
    assert set(metrics) <= set(baseline) and metrics["bits_per_note"] == pytest.approx(0.0)
    assert baseline["top1"] == 1.0  # first note: unigram tie won by 60; then 60 -> 62 -> 60 exactly
    assert baseline["majority_top1"] == pytest.approx(2 / 3) and baseline["bigram_top1"] == 1.0
    assert baseline["bits_per_note"] == pytest.approx(np.log2(baseline["perplexity"]))


def test_harmony_template_baseline_finds_the_triad():
    c_major = np.zeros((1, 128))
    c_major[0, [60, 64, 67]] = 1.0
    a_minor = np.zeros((1, 128))
    a_minor[0, [57, 60, 64]] = 1.0
    silent = np.zeros((1, 128))
    evaluate = [seq(np.concatenate([c_major, a_minor, silent]), [[0], [12 + 9], [60]])]
    metrics = HarmonyPredictor.baseline_metrics([], evaluate)
    assert metrics["accuracy"] == metrics["template_accuracy"] == 1.0 and metrics["top3"] == 1.0


def test_harmony_baseline_is_never_below_the_majority_class():
    melody = np.zeros((4, 128))
    melody[:, 62] = 1.0                                   # a lone D: the templates answer D:maj
    train = [seq(np.zeros((3, 128)), [[7], [7], [0]])]    # G:maj is the commonest class in training
    metrics = HarmonyPredictor.baseline_metrics(train, [seq(melody, [[7], [7], [7], [0]])])
    assert metrics["template_accuracy"] == 0.0 and metrics["majority_accuracy"] == 0.75
    assert metrics["accuracy"] == 0.75 and metrics["majority_top3"] == 1.0


def test_dynamics_metrics_and_per_piece_mean_baseline():
    model = build_model(DynamicsEngine)
    outputs = torch.zeros(2, 16)
    outputs[0, 8], outputs[1, 12] = 1.0, 1.0  # expected velocities 67.5 and 99.5
    metrics = model.metrics(outputs, torch.tensor([[67.5], [99.5]]))
    assert metrics["velocity_mae"] == 0.0 and metrics["bin_accuracy"] == 1.0
    baseline = DynamicsEngine.baseline_metrics([], [seq(np.zeros((2, 32)), [[60], [80]])])
    assert baseline["velocity_mae"] == 10.0 and baseline.keys() == metrics.keys()


def test_groove_metrics_in_ms_and_velocity_units():
    model = build_model(GroovePredictor)
    targets = torch.zeros(1, 49)
    targets[0, 0], targets[0, 16], targets[0, 32], targets[0, 48] = 0.5, 0.0, 1.0, 125.0  # one hit at step 0
    outputs = torch.zeros(1, 32)
    metrics = model.metrics(outputs, targets)
    assert metrics["timing_mae_ms"] == pytest.approx(0.5 * 0.5 * 125.0)  # ±1 = half a sixteenth
    assert metrics["velocity_mae"] == 0.0
    baseline = GroovePredictor.baseline_metrics([seq(np.zeros((1, 64)), targets.numpy())],
                                                [seq(np.zeros((1, 64)), targets.numpy())])
    assert baseline == metrics


def test_emotion_expected_position_and_mean_baseline():
    model = build_model(EmotionRecognizer)
    outputs = torch.zeros(2, 64)
    outputs[0, 8 * 7 + 0] = 1.0  # valence bin 7 (+0.875), arousal bin 0 (-0.875)
    outputs[1, 8 * 0 + 7] = 1.0
    metrics = model.metrics(outputs, torch.tensor([[0.875, -0.875], [-0.875, 0.875]]))
    assert metrics["rmse"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["valence_r"] == pytest.approx(1.0)
    baseline = EmotionRecognizer.baseline_metrics([seq(np.zeros((2, 128)), [[0.5, 0.5], [0.5, 0.5]])],
                                                  [seq(np.zeros((2, 128)), [[0.0, 0.5], [1.0, 0.5]])])
    assert baseline["valence_rmse"] == pytest.approx(0.5) and baseline["arousal_rmse"] == 0.0
    assert baseline.keys() == metrics.keys()


@pytest.mark.parametrize("cls", ALL)
def test_loss_decreases_with_a_few_steps(cls):
    model = build_model(cls, seed=1).train()
    spec_in = len(cls.feature_contract().inputs)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, spec_in, generator=generator)
    targets = {
        DynamicsEngine: lambda: torch.randint(1, 127, (24, 1), generator=generator).float(),
        EmotionRecognizer: lambda: torch.rand(24, 2, generator=generator) * 2 - 1,
        GroovePredictor: lambda: torch.cat([torch.rand(24, 32, generator=generator) - 0.5, torch.ones(24, 16),
                                            torch.full((24, 1), 120.0)], dim=1),
        HarmonyPredictor: lambda: torch.randint(0, 64, (24, 1), generator=generator).float(),
        MelodyTransformer: lambda: torch.randint(40, 90, (24, 1), generator=generator).float(),
    }[cls]()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = model.loss(model(x).reshape(24, -1), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9 and all(math.isfinite(v) for v in losses)


@pytest.mark.parametrize("name", ["dynamics", "emotion", "groove", "harmony", "melody"])
def test_each_model_draws_its_own_test_picture(name, tmp_path):
    """The picture of what the model does on the test split is the model's own (not the generic fallback)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from kelcore.report import plot_test

    cls = get_registry().get("models", name).obj
    model = build_model(cls, None, seed=0)
    spec = kelcore.get_spec(cls.spec_name)
    rng = np.random.default_rng(0)
    outputs = torch.softmax(torch.as_tensor(rng.normal(size=(200, spec.output_size)), dtype=torch.float32), dim=1)
    if cls.output_activation == "tanh":
        outputs = torch.tanh(torch.as_tensor(rng.normal(size=(200, spec.output_size)), dtype=torch.float32))
    targets = {"dynamics": lambda: rng.integers(1, 128, (200, 1)),
               "emotion": lambda: rng.uniform(-1, 1, (200, 2)),
               "groove": lambda: np.concatenate([rng.uniform(-1, 1, (200, 32)), rng.integers(0, 2, (200, 16)),
                                                 np.full((200, 1), 125.0)], axis=1),
               "harmony": lambda: rng.integers(0, 64, (200, 1)),
               "melody": lambda: rng.integers(40, 90, (200, 1))}[name]()
    targets = torch.as_tensor(targets, dtype=torch.float32)
    assert model.plot_test(outputs, targets, Figure()) is not None      # its own picture, not the fallback
    path, caption = plot_test(model, outputs, targets, tmp_path / "test.png", name)
    assert path.stat().st_size > 10_000 and caption
