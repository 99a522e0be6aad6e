"""Device-correct by construction, checked on a CPU: the meta-device conformance checks, the trainer's own step on
'meta', and training randomness drawn on the host (the cause of MelodyTransformer's CUDA gap, issue 20)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import kel_plugin_emotion.model as emotion_model
from kel_contracts.emotion import grid_centre
from kel_plugin_dynamics.model import DynamicsEngine
from kel_plugin_emotion.model import GRID, EmotionRecognizer
from kel_plugin_melody.model import MelodyTransformer

from kelcore.api import HostDropout, Sequence, build_model
from kelcore.testing import ConformanceError, model_checks
from kelcore.testing.meta import check_runs_on_meta, check_training_draws_on_the_host
from kelcore.training.default import make_windows
from kelcore.training.windows import TrainingWindows


def test_the_meta_checks_are_in_every_model_suite():
    names = [check.__name__ for check in model_checks()]
    assert names[-2:] == ["check_runs_on_meta", "check_training_draws_on_the_host"]


def test_the_old_emotion_model_fails_on_meta(monkeypatch):
    """Before e5bde01 the grid centres were made on the CPU (every CUDA run crashed); the check catches it here."""
    check_runs_on_meta(EmotionRecognizer)  # as fixed: passes
    monkeypatch.setattr(emotion_model, "grid_centres",
                        lambda like=None: torch.tensor([grid_centre(k) for k in range(GRID)], dtype=torch.float32))
    with pytest.raises(ConformanceError, match="EmotionRecognizer.*forward, loss and backward in training mode mixes "
                                               "devices.*not on the expected device cpu"):
        check_runs_on_meta(EmotionRecognizer)


def test_a_cpu_tensor_in_metrics_fails_on_meta(monkeypatch):
    import kel_plugin_dynamics.model as dynamics_model

    check_runs_on_meta(DynamicsEngine)
    centres = dynamics_model.BIN_CENTRES
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: self if self is centres else _to(self, *a, **k))
    with pytest.raises(ConformanceError, match="metrics mixes devices"):
        check_runs_on_meta(DynamicsEngine)


_to = torch.Tensor.to


class ReadsAValue(DynamicsEngine):
    """Branches on a tensor's value in forward: a host synchronisation every training step on a GPU."""

    def forward(self, x):
        return super().forward(x if bool(x.abs().sum() > 0) else x + 1)


def test_a_value_read_in_forward_fails_on_meta():
    with pytest.raises(ConformanceError, match="reads a tensor's value back to the host"):
        check_runs_on_meta(ReadsAValue)


class DeviceDropoutMelody(MelodyTransformer):
    """MelodyTransformer as it trained before issue 20: nn.Dropout, drawing on the model's device."""

    def __init__(self, options=None):
        super().__init__(options)
        self.layers = nn.ModuleList([nn.Dropout(m.p) if isinstance(m, HostDropout) else m for m in self.layers])


def test_training_draws_on_the_device_fail_the_check_and_melody_passes():
    """The melody CUDA gap: on CUDA nn.Dropout drew from the device's generator, on the CPU from the CPU's, so one
    seed trained on different random numbers per device. On 'meta' the device draw is seen without a GPU."""
    check_training_draws_on_the_host(MelodyTransformer)
    with pytest.raises(ConformanceError, match=r"on the model's device \((bernoulli_|native_dropout)"):
        check_training_draws_on_the_host(DeviceDropoutMelody)


def test_host_dropout_draws_from_the_cpu_generator_and_is_the_identity_in_eval():
    layer = HostDropout(0.3).train()
    x = torch.ones(64, 32, 16)
    torch.manual_seed(5)
    first = layer(x)
    torch.manual_seed(5)
    keep = torch.rand(x.shape) >= 0.3                      # the same draw, made by hand on the CPU generator
    assert torch.equal(first, keep.float() / 0.7)
    assert abs(float((first > 0).float().mean()) - 0.7) < 0.01
    assert torch.equal(layer.eval()(x), x)


def test_melody_training_forward_is_the_same_for_one_seed_whatever_the_device_generator_does():
    """Every training draw comes from the CPU generator: disturbing any other generator changes nothing."""
    model = build_model(MelodyTransformer, None, seed=0).train()
    x = torch.zeros(3, 8, 64)
    x[..., 40] = 1                                          # a key, no previous note: a valid contract window
    torch.manual_seed(1)
    first = model(x)
    torch.manual_seed(1)
    torch.Generator().manual_seed(99).seed()
    assert torch.equal(model(x), first)


def test_windows_drawn_per_batch_equal_the_stacked_windows():
    rng = np.random.default_rng(0)
    sequences = [Sequence(f"s{i}", rng.standard_normal((n, 5)).astype(np.float32),
                          rng.standard_normal((n, 2)).astype(np.float32)) for i, n in enumerate((7, 16, 3, 9))]
    inputs, targets, mask = make_windows(sequences, 4)
    windows = TrainingWindows(sequences, 4)
    assert len(windows) == len(inputs) == 2 + 4 + 1 + 3
    index = torch.tensor([9, 0, 6, 3, 1])
    x, y, valid = windows.batch(index)
    assert torch.equal(x, inputs[index]) and torch.equal(y, targets[index])
    assert torch.equal(valid, mask[index].reshape(-1).nonzero().squeeze(1))
