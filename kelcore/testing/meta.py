"""Device placement checked on a machine without a GPU: the model and every batch on PyTorch's ``meta`` device.

A tensor on ``meta`` has a shape, a dtype and a device but no values, and PyTorch refuses to mix it with a CPU
tensor ("Tensor on device cpu is not on the expected device meta!"). So a tensor made on the CPU inside a model's
code -- the EmotionRecognizer's grid centres once were, and every CUDA run crashed -- fails here, on any machine.

What runs on ``meta`` and how strictly:

* ``forward`` (training and eval mode), ``loss`` and its backward pass, and one optimizer step through the default
  trainer's own step (:class:`kelcore.training.default.TrainingStep`) must run to the end: reading a value back to
  the host there (``.item()``, ``bool(tensor)``, a boolean-mask index) is a synchronisation every step on a GPU and
  fails too.
* ``metrics`` and ``plot_test`` must read values (they return floats, draw pictures), and the trainer hands them
  CPU tensors; they run on ``meta`` up to the first value read, which ends that part of the check as a pass. A
  device mismatch before it fails.

:func:`check_training_draws_on_the_host` holds the model to the same seed giving the same draws on every device: a
random number drawn on the model's device while training (``nn.Dropout``: the device's own generator) fails.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..components import Sequence, SequenceModel
from .checks import ConformanceError, _model, _spec, describe

META = torch.device("meta")
STEPS, BATCH = 12, 2
# what PyTorch says when code needs a meta tensor's values: the end of what can run on meta, not a bug
VALUE_READS = ("cannot be called on meta tensors", "Cannot copy out of meta tensor", "meta device type tensor to numpy",
               "data-independent implementation does not exist")
MISMATCH = ("expected device", "same device", "two devices")


def _fail(cls: type, check: str, message: str) -> ConformanceError:
    return ConformanceError(f"{describe(cls)}: {check}: {message}")


def is_value_read(exc: BaseException) -> bool:
    """Whether ``exc`` is PyTorch refusing to read a meta tensor's values (not a device mismatch)."""
    return any(text in str(exc) for text in VALUE_READS)


def _batch(cls: type[SequenceModel], input_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Meta inputs ``[B, T, in]``, targets ``[B, T, target_size]`` and the flat indices of the valid steps."""
    x = torch.empty(BATCH, STEPS, input_size, device=META)
    y = torch.empty(BATCH, STEPS, cls.target_size, device=META)
    valid = torch.arange(BATCH * STEPS - 3).to(META)  # the last window ends early, as a padded one does
    return x, y, valid


def _run(cls: type[SequenceModel], check: str, part: str, action: Callable[[], Any], reads_allowed: bool) -> None:
    try:
        action()
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if any(m in text for m in MISMATCH):
            raise _fail(cls, check, f"{part} mixes devices with the model and the batch on 'meta': {text}. A "
                        "tensor made inside the model's code is on the CPU: create it on the device of the tensor "
                        "it meets (torch.zeros(..., device=x.device), torch.as_tensor(v, device=x.device), "
                        "t.to(x)), or register it as a buffer so .to(device) moves it") from None
        if is_value_read(exc):
            if reads_allowed:
                return
            raise _fail(cls, check, f"{part} reads a tensor's value back to the host ({text}): on a GPU that is a "
                        "synchronisation every training step; keep the computation on the device (torch.where "
                        "instead of `if tensor:`, integer indices instead of a boolean mask)") from None
        raise _fail(cls, check, f"{part} fails with the model and the batch on 'meta': {type(exc).__name__}: "
                    f"{text}") from None


def check_runs_on_meta(cls: type[SequenceModel], options: Any = None) -> None:
    """Forward (training and eval mode), loss, backward, one default-trainer step, metrics and the test picture
    run with the model and every batch on the ``meta`` device (module docstring)."""
    from ..training.default import TrainingStep
    from ..training.windows import TrainingWindows

    name = "runs on the meta device"
    spec = _spec(cls)
    model = _model(cls, options).to(META)
    x, y, valid = _batch(cls, spec.input_size)

    def train_forward_loss_backward() -> None:
        out = model.train()(x)
        flat = out.reshape(-1, out.shape[-1]).index_select(0, valid)
        model.loss(flat, y.reshape(-1, y.shape[-1]).index_select(0, valid)).backward()

    _run(cls, name, "forward, loss and backward in training mode", train_forward_loss_backward, False)
    _run(cls, name, "forward and loss in eval mode",
         lambda: model.eval().loss(model(x).reshape(-1, spec.output_size), y.reshape(-1, cls.target_size)), False)
    step = TrainingStep(model, TrainingStep.optimizer(model, 1e-3, 0.0), grad_clip=1.0)
    windows = TrainingWindows([Sequence(f"s{i}", np.zeros((n, spec.input_size), np.float32),
                                        np.zeros((n, cls.target_size), np.float32)) for i, n in enumerate((9, 15))], 8)
    _run(cls, name, "a training step through the default trainer (its batch drawn to the device as it draws one)",
         lambda: step(*windows.batch(torch.arange(len(windows)), META)), False)
    out, tgt = torch.empty(20, spec.output_size, device=META), torch.empty(20, cls.target_size, device=META)
    model.eval()
    _run(cls, name, "metrics", lambda: model.metrics(out, tgt), True)
    _run(cls, name, "the test picture (plot_test)", lambda: _plot(model, out, tgt), True)


def _plot(model: SequenceModel, outputs: torch.Tensor, targets: torch.Tensor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    model.plot_test(outputs, targets, Figure())


class _DeviceDraws(TorchDispatchMode):
    """Records the random operators that run on a non-CPU device."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if torch.Tag.nondeterministic_seeded in getattr(func, "tags", ()):
            devices = {a.device.type for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)}
            device = kwargs.get("device")
            if device is not None:
                devices.add(torch.device(device).type)
            if devices - {"cpu"}:
                self.seen.append(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))


def check_training_draws_on_the_host(cls: type[SequenceModel], options: Any = None) -> None:
    """While training, every random number is drawn on the host (the CPU's generator), none on the model's
    device: the same seed then draws the same numbers on a CPU and on a GPU (kelcore.api.HostDropout)."""
    spec = _spec(cls)
    model = _model(cls, options).to(META).train()
    x, _, _ = _batch(cls, spec.input_size)
    with _DeviceDraws() as draws:
        try:
            model(x)
        except (RuntimeError, NotImplementedError) as exc:
            if not is_value_read(exc):
                raise _fail(cls, "draws on the host", f"training forward fails on 'meta' (see "
                            f"check_runs_on_meta): {exc}") from None
    if draws.seen:
        raise _fail(cls, "draws on the host", f"training draws random numbers on the model's device "
                    f"({', '.join(sorted(set(draws.seen)))}): a CPU and a CUDA run of one seed then train on "
                    "different random numbers and reach different metrics. Draw on the host: "
                    "kelcore.api.HostDropout instead of nn.Dropout, kelcore.api.host_uniform instead of "
                    "torch.rand(..., device=x.device)")


#: the device checks, in the order they run (after the core's others)
DEVICE_CHECKS: list[Callable[..., None]] = [check_runs_on_meta, check_training_draws_on_the_host]
