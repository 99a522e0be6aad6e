"""The built-in trainer, registered as ``"default"``.

Sequences are cut into windows of ``window`` steps, each run from a fresh state
(the host resets per song); validation and test run every sequence whole from
a fresh state, exactly as the plugin streams it. Determinism: the batch order of
epoch ``e`` is drawn from ``seed`` and ``e`` alone, and every checkpoint holds
model, optimizer, scheduler, early-stopping and RNG state plus the position in
the epoch, so a resumed run ends with the same weights as an uninterrupted one.

Devices: training runs on ``device`` (``auto`` = CUDA, then MPS, then CPU). Each
batch of windows is assembled on the host from the sequences (views into the
memory-mapped store: memory stays bounded at any corpus size, see
:mod:`kelcore.training.windows`) and copied to the device asynchronously. A step
reads nothing back to the host: the loss is summed on the device and checked for
NaN/inf every ``SYNC_EVERY`` steps and at the end of each epoch (a non-finite loss
still stops the run with an error naming the batches), so a GPU is never left
waiting for the Python loop. Adam is fused on CUDA, foreach elsewhere.
Validation runs there too; the final test evaluation runs on the CPU in float32,
as the plugin does, and the model is returned on the CPU. Epochs are numbered
from 1 everywhere (console, ``metrics.csv``, checkpoint names, ``report.json``).
"""
from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from ..components import Options, PreparedData, RunContext, Sequence, SequenceModel, Trainer, TrainResult
from ..devices import DEVICE_PATTERN, check_device, describe, resolve_device
from ..hookspecs import hookimpl
from ..progress import Progress
from . import TrainingError
from .checkpoints import CheckpointManager, set_rng_state
from .early_stopping import EarlyStopping
from .history import TrainingMetrics
from .windows import TrainingWindows

#: training steps between the two host reads of a running epoch (loss shown, NaN/inf check); also at each epoch end
SYNC_EVERY = 100


class DefaultTrainerOptions(Options):
    """Options of the built-in trainer (``[jobs.<name>.trainer_options]``)."""

    epochs: int = Field(30, ge=1, description="maximum number of epochs")
    batch_size: int = Field(16, ge=1, description="windows per optimizer step")
    window: int = Field(64, ge=1, description="time steps per training window")
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(1.0, gt=0, description="max gradient norm; null disables")
    patience: int = Field(6, ge=0, description="early stopping: epochs without improvement")
    min_delta: float = Field(0.0, ge=0, description="early stopping: smallest improvement that counts")
    lr_patience: int = Field(2, ge=0, description="epochs on a plateau before the LR is reduced")
    lr_factor: float = Field(0.5, gt=0, lt=1, description="LR reduction factor on a plateau")
    keep_best: int = Field(2, ge=0, description="best checkpoints kept besides last.pt")
    metrics_format: Literal["csv", "jsonl"] = "csv"
    device: str = Field("auto", pattern=DEVICE_PATTERN,
                        description="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    tensorboard: bool = Field(True, description="write TensorBoard event files to <job>/tensorboard "
                                                "(needs the `tensorboard` package; skipped with a note if absent)")

    @field_validator("device")
    @classmethod
    def _device_exists(cls, value: str) -> str:
        return check_device(value)  # an absent device is a config error (exit 2), not a fallback


def make_windows(sequences: list[Sequence], window: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut sequences into ``window``-step pieces: inputs, targets and a validity mask."""
    xs, ys, ms = [], [], []
    for seq in sequences:
        for start in range(0, len(seq.inputs), window):
            x = seq.inputs[start:start + window]
            y = seq.targets[start:start + window]
            pad = window - len(x)
            xs.append(np.pad(x, ((0, pad), (0, 0))))
            ys.append(np.pad(y, ((0, pad), (0, 0))))
            ms.append(np.arange(window) < len(x))
    if not xs:
        raise TrainingError("the training split is empty: the dataset produced no usable sequences")
    return (torch.from_numpy(np.stack(xs)).float(), torch.from_numpy(np.stack(ys)).float(),
            torch.from_numpy(np.stack(ms)))


@torch.no_grad()
def predict(model: SequenceModel, sequences: list[Sequence], batch_size: int = 16
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and targets of every valid step, each sequence run whole from a fresh state, on the
    model's device (returned on the CPU, float32)."""
    model.eval()
    device = next(model.parameters()).device
    outputs, targets = [], []
    ordered = sorted(sequences, key=lambda s: len(s.inputs))
    for i in range(0, len(ordered), batch_size):
        chunk = ordered[i:i + batch_size]
        longest = max(len(s.inputs) for s in chunk)
        x = torch.from_numpy(np.stack([np.pad(s.inputs, ((0, longest - len(s.inputs)), (0, 0))) for s in chunk]))
        out = model(x.float().to(device)).float().cpu()
        for row, seq in zip(out, chunk):
            outputs.append(row[: len(seq.inputs)])
            targets.append(torch.tensor(seq.targets, dtype=torch.float32))  # a copy: the views are read-only
    return torch.cat(outputs), torch.cat(targets)


@torch.no_grad()
def evaluate(model: SequenceModel, sequences: list[Sequence], batch_size: int = 16) -> tuple[float, dict[str, float]]:
    """Loss and metrics over whole sequences run from a fresh state."""
    out_all, tgt_all = predict(model, sequences, batch_size)
    return float(model.loss(out_all, tgt_all)), model.metrics(out_all, tgt_all)


def tensorboard_writer(directory: Path, purge_step: int | None, context: RunContext) -> Any:
    """A TensorBoard ``SummaryWriter`` for ``directory``, or None (with a note) without the package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        context.log(f"{context.job}: no TensorBoard events (pip install tensorboard, or kelcore[tensorboard])")
        return None
    return SummaryWriter(str(directory), purge_step=purge_step)


class _StopRequest:
    """First Ctrl-C asks for a clean stop after the current batch; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "_StopRequest":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


#: Ends an epoch's progress line when its validation loss is the best so far: the weights that are kept.
BEST_MARK = " * best validation loss so far (these weights are kept)"


class Interrupted(Exception):
    """Training stopped on Ctrl-C after saving a checkpoint."""


class TrainingStep:
    """One optimizer step on the model's device that reads nothing back to the host.

    ``step(x, y, valid)``: zero the gradients, forward, the model's loss on the valid steps (flat indices into
    ``B * T``), backward, clip, update. The losses are summed on the device, and the first non-finite one (its
    value and the step number, counted from 0) is kept there; :meth:`read` brings them to the host when the caller
    chooses (one synchronisation)."""

    def __init__(self, model: SequenceModel, optimizer: torch.optim.Optimizer, grad_clip: float | None,
                 loss_sum: float = 0.0) -> None:
        self.model, self.optimizer, self.grad_clip = model, optimizer, grad_clip
        device = next(model.parameters()).device
        self.loss_sum = torch.tensor(loss_sum, dtype=torch.float32, device=device)
        self.steps = torch.tensor(0, device=device)
        self.first_bad = torch.tensor(-1, device=device)
        self.bad_loss = torch.tensor(0.0, device=device)

    @staticmethod
    def optimizer(model: SequenceModel, learning_rate: float, weight_decay: float) -> torch.optim.Adam:
        """Adam over the model's parameters: fused on CUDA (one kernel for all), foreach elsewhere."""
        fused = next(model.parameters()).device.type == "cuda"
        return torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay,
                                **({"fused": True} if fused else {"foreach": True}))

    def __call__(self, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        out = self.model(x)
        loss = self.model.loss(out.reshape(-1, out.shape[-1]).index_select(0, valid),
                               y.reshape(-1, y.shape[-1]).index_select(0, valid))
        loss.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        loss = loss.detach()
        self.loss_sum += loss
        first = (self.first_bad < 0) & ~torch.isfinite(loss)
        self.first_bad = torch.where(first, self.steps, self.first_bad)
        self.bad_loss = torch.where(first, loss.to(self.bad_loss.dtype), self.bad_loss)
        self.steps += 1
        return loss

    def read(self) -> tuple[float, int, float]:
        """(the loss sum, the step of the first non-finite loss or -1, that loss): one host synchronisation."""
        values = torch.stack([self.loss_sum, self.first_bad.to(self.loss_sum.dtype), self.bad_loss]).tolist()
        return values[0], int(values[1]), values[2]


class DefaultTrainer(Trainer):
    """Adam, ReduceLROnPlateau, early stopping, checkpoints, metrics, resume."""

    Options = DefaultTrainerOptions

    def fit(self, model: SequenceModel, data: PreparedData, context: RunContext) -> TrainResult:
        opts: DefaultTrainerOptions = self.options  # type: ignore[assignment]
        if not data.validation:
            raise TrainingError("the validation split is empty: need at least one validation sequence")
        device = resolve_device(opts.device)
        context.log(f"{context.job}: training on {describe(device, opts.device)}")
        model.to(device)
        windows = TrainingWindows(data.train, opts.window)  # batches are drawn from the sequences per step
        optimizer = TrainingStep.optimizer(model, opts.learning_rate, opts.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=opts.lr_factor, patience=opts.lr_patience)
        stopper = EarlyStopping(opts.patience, opts.min_delta)
        suffix = "csv" if opts.metrics_format == "csv" else "jsonl"
        log = TrainingMetrics(context.run_dir / f"metrics.{suffix}", opts.metrics_format)
        checkpoints = CheckpointManager(context.run_dir / "checkpoints", opts.keep_best)
        # "epoch" = epochs completed; the one being trained is epoch + 1 (epochs count from 1)
        position = {"epoch": 0, "batch": 0, "loss_sum": 0.0, "loss_count": 0, "stopped": "",
                    "train_seconds": 0.0, "train_steps": 0}

        def snapshot() -> dict[str, Any]:
            return {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "early_stopping": stopper.state_dict(),
                "checkpoints": checkpoints.state_dict(), "position": dict(position),
            }

        if context.resume and (state := checkpoints.load_last()) is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])  # moves the state to the parameters' device
            scheduler.load_state_dict(state["scheduler"])
            stopper.load_state_dict(state["early_stopping"])
            checkpoints.load_state_dict(state["checkpoints"])
            position.update(state["position"])
            set_rng_state(state["rng"])
            log.rows = TrainingMetrics.read(log.path)
            log.truncate(position["epoch"] + 1)
            context.log(f"{context.job}: resuming at epoch {position['epoch'] + 1}, batch {position['batch']}")
        board = (tensorboard_writer(context.run_dir / "tensorboard", position["epoch"] + 1, context)
                 if opts.tensorboard else None)
        try:
            with _StopRequest() as stop:
                while position["epoch"] < opts.epochs and not position["stopped"]:
                    self._train_epoch(model, optimizer, opts, windows, device, position, context, stop,
                                      snapshot, checkpoints)
                    self._end_epoch(model, data, opts, scheduler, stopper, log, checkpoints, position, context,
                                    snapshot, optimizer, board)
        finally:
            if board is not None:
                board.close()
        if position["stopped"]:
            context.log(f"{context.job}: {position['stopped']}")
        else:
            context.log(f"{context.job}: reached the epoch limit ({opts.epochs}); keeping epoch {stopper.best_epoch} "
                        f"(best validation loss {stopper.best_loss:.4f})")
        stopper.restore_best(model)
        model.to("cpu", torch.float32)  # final evaluation and export: CPU, float32, as the plugin runs it
        return self._result(model, data, stopper, position, device)

    def _train_epoch(self, model, optimizer, opts, windows, device, position, context, stop, snapshot,
                     checkpoints) -> None:
        epoch = position["epoch"]
        generator = torch.Generator().manual_seed(context.seed * 1_000_003 + epoch)
        batches = torch.randperm(len(windows), generator=generator).split(opts.batch_size)
        model.train()
        step = TrainingStep(model, optimizer, opts.grad_clip, position["loss_sum"])
        started, steps, first_batch = time.perf_counter(), 0, position["batch"]

        def check() -> None:
            """Reads the running loss (one host synchronisation): shown, kept, and stopped on NaN/inf."""
            loss_sum, bad_step, bad_loss = step.read()
            if bad_step >= 0:
                raise TrainingError(
                    f"{context.job}: training loss became {bad_loss} at epoch {epoch + 1}, batch "
                    f"{first_batch + bad_step}; the last good checkpoint is {checkpoints.last_path}. "
                    f"Try a lower learning_rate (now {optimizer.param_groups[0]['lr']:g}) or check the dataset's "
                    "inputs for NaN/inf")
            position["loss_sum"] = loss_sum
            bar.update(0, postfix=f"loss {loss_sum / max(position['loss_count'], 1):.4f}")

        with Progress(len(batches), f"{context.job} epoch {epoch + 1}/{opts.epochs}", context.progress) as bar:
            bar.update(position["batch"])
            while position["batch"] < len(batches):
                if stop.requested:
                    check()
                    position["train_seconds"] += time.perf_counter() - started
                    position["train_steps"] += steps
                    checkpoints.save_last(snapshot())
                    raise Interrupted(f"{context.job}: interrupted at epoch {epoch + 1}, batch {position['batch']}; "
                                      f"checkpoint saved to {checkpoints.last_path}")
                step(*windows.batch(batches[position["batch"]], device))
                position["loss_count"] += 1
                position["batch"] += 1
                steps += 1
                bar.update()
                if position["batch"] % SYNC_EVERY == 0:
                    check()
            check()
        position["train_seconds"] += time.perf_counter() - started
        position["train_steps"] += steps
        position["epoch_rate"] = steps / max(time.perf_counter() - started, 1e-9)

    def _end_epoch(self, model, data, opts, scheduler, stopper, log, checkpoints, position, context, snapshot,
                   optimizer, board) -> None:
        epoch = position["epoch"] + 1  # the epoch just trained, counted from 1
        train_loss = position["loss_sum"] / max(position["loss_count"], 1)
        val_loss, val_metrics = evaluate(model, data.validation, opts.batch_size)
        if not math.isfinite(val_loss):
            raise TrainingError(f"{context.job}: validation loss became {val_loss} at epoch {epoch}")
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step(val_loss)
        should_stop = stopper.step(val_loss, epoch, model)
        rate = position.get("epoch_rate", 0.0)  # this epoch's training steps per second
        log.log({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
                 **{f"val_{k}": v for k, v in val_metrics.items()}})
        if board is not None:
            board.add_scalar("loss/train", train_loss, epoch)
            board.add_scalar("loss/validation", val_loss, epoch)
            board.add_scalar("lr", lr, epoch)
            board.add_scalar("steps_per_s", rate, epoch)
            for key, value in val_metrics.items():
                board.add_scalar(f"validation/{key}", value, epoch)
            board.flush()
        shown = " ".join(f"{k}={v:.4g}" for k, v in val_metrics.items())
        context.log(f"{context.job} epoch {epoch}/{opts.epochs}: train {train_loss:.4f} val {val_loss:.4f} "
                    f"{shown} ({rate:.1f} steps/s){BEST_MARK if stopper.improved_at(epoch) else ''}")
        position.update(epoch=epoch, batch=0, loss_sum=0.0, loss_count=0)
        if should_stop:
            position["stopped"] = stopper.explain(epoch)
        state = snapshot()
        if stopper.improved_at(epoch):
            checkpoints.save_best(state, val_loss, epoch)
        checkpoints.save_last(state)

    @staticmethod
    def _result(model: SequenceModel, data: PreparedData, stopper: EarlyStopping, position: dict,
                device: torch.device) -> TrainResult:
        test = data.test or data.validation
        _, test_metrics = evaluate(model, test)
        baseline = type(model).baseline_metrics(data.train, test)
        key = model.primary_metric
        ours, theirs = test_metrics[key], baseline[key]
        beats = ours > theirs if model.higher_is_better else ours < theirs
        from ..report import baseline_description
        return TrainResult(
            epochs=position["epoch"], best_epoch=stopper.best_epoch,
            stopped_reason=position["stopped"] or "reached the epoch limit",
            test_metrics=test_metrics, baseline_metrics=baseline, beats_baseline=beats,
            report={"evaluated_on": "test" if data.test else "validation (the test split is empty)",
                    "primary_metric": key, "higher_is_better": model.higher_is_better,
                    "baseline": baseline_description(type(model)),
                    "device": str(device), "evaluated_on_device": "cpu (float32)",
                    "train_steps_per_s": position["train_steps"] / max(position["train_seconds"], 1e-9)},
        )


@hookimpl
def kelcore_register_trainers(register) -> None:
    register("default", DefaultTrainer)
