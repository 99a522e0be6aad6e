"""Training throughput: kelcore's default trainer against plain PyTorch loops over the same windows, per model.

    python benchmarks/train_throughput.py [--quick] [--device cpu|cuda|auto] [--epochs N] [--sequences N]
                                          [--models a,b]

For each in-repo model: the same synthetic training windows (valid targets of the model's contract, drawn with
a fixed seed), the same batch size, window, gradient clipping and batch order, on ``--device``. Side by side in
one run, before and after issue 20:

* "plain loop" -- the step as the trainer did it before: every window stacked on the device up front, a boolean
  mask for the valid steps, ``loss.item()`` every step (a host synchronisation), default Adam;
* "sync-free" -- the step as the trainer does it now (``TrainingStep``): each batch drawn from the sequences
  (``TrainingWindows``), valid steps by host-known indices, the loss summed on the device and read once at the
  end, foreach Adam (fused on CUDA);
* "kelcore" -- ``DefaultTrainer.fit``: its own timer of the training steps (what the run prints as steps/s), and
  the whole fit (with validation, checkpoints, metrics file and final test evaluation) for reference.

sequences/s = training windows per second (steps/s x batch size).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kelcore.api import PreparedData, RunContext, Sequence
from kelcore.plugins import get_registry
from kelcore.runs import build_model
from kelcore.spec import get_spec
from kelcore.devices import resolve_device
from kelcore.training.default import DefaultTrainer, DefaultTrainerOptions, TrainingStep, make_windows
from kelcore.training.windows import TrainingWindows

MODELS = ["dynamics", "emotion", "groove", "harmony", "melody"]


def targets_for(spec: str, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Valid per-step targets of each model's contract (docs/CONTRACTS.md)."""
    if spec == "DynamicsEngine":
        return rng.integers(1, 128, (steps, 1)).astype(np.float32)
    if spec == "EmotionRecognizer":
        return rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
    if spec == "GroovePredictor":
        mask = (rng.random((steps, 16)) < 0.4).astype(np.float32)
        timing = rng.uniform(-0.5, 0.5, (steps, 16)).astype(np.float32) * mask
        velocity = rng.uniform(0, 1, (steps, 16)).astype(np.float32) * mask
        return np.concatenate([timing, velocity, mask, np.full((steps, 1), 125.0, np.float32)], axis=1)
    if spec == "HarmonyPredictor":
        return rng.integers(0, 64, (steps, 1)).astype(np.float32)
    if spec == "MelodyTransformer":
        return rng.integers(40, 90, (steps, 1)).astype(np.float32)
    raise ValueError(spec)


def sequences(spec: str, count: int, steps: int, seed: int = 0) -> list[Sequence]:
    rng = np.random.default_rng(seed)
    size = get_spec(spec).input_size
    return [Sequence(f"s{i}", rng.standard_normal((steps, size)).astype(np.float32),
                     targets_for(spec, steps, rng), group=f"g{i}") for i in range(count)]


def plain_loop(model: torch.nn.Module, train: list[Sequence], opts, epochs: int, seed: int,
               device: torch.device) -> tuple[int, float]:
    """The previous trainer's step: stacked windows on the device, boolean mask, ``.item()`` every step."""
    model.to(device)
    inputs, targets, mask = (t.to(device) for t in make_windows(train, opts.window))
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.learning_rate, weight_decay=opts.weight_decay)
    model.train()
    steps, start = 0, time.perf_counter()
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        for index in torch.randperm(len(inputs), generator=generator).to(device).split(opts.batch_size):
            optimizer.zero_grad(set_to_none=True)
            m = mask[index]
            loss = model.loss(model(inputs[index])[m], targets[index][m])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
            optimizer.step()
            loss.item()
            steps += 1
    return steps, time.perf_counter() - start


def sync_free_loop(model: torch.nn.Module, train: list[Sequence], opts, epochs: int, seed: int,
                   device: torch.device) -> tuple[int, float]:
    """The trainer's step now: batches drawn per step, no host read until the end."""
    model.to(device)
    windows = TrainingWindows(train, opts.window)
    step = TrainingStep(model, TrainingStep.optimizer(model, opts.learning_rate, opts.weight_decay), opts.grad_clip)
    model.train()
    steps, start = 0, time.perf_counter()
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        for index in torch.randperm(len(windows), generator=generator).split(opts.batch_size):
            step(*windows.batch(index, device))
            steps += 1
    step.read()  # the one synchronisation: the device has finished every step
    return steps, time.perf_counter() - start


def kelcore_fit(model, train, validation, opts, seed: int) -> tuple[float | None, float, int]:
    """(trainer's own training steps/s or None if this kelcore does not report it, whole-fit seconds, steps)."""
    with tempfile.TemporaryDirectory() as tmp:
        context = RunContext(run_dir=Path(tmp), seed=seed, job="bench", progress=False)
        start = time.perf_counter()
        result = DefaultTrainer(opts).fit(model, PreparedData(train, validation, validation), context)
        wall = time.perf_counter() - start
    windows = len(make_windows(train, opts.window)[0])
    steps = result.epochs * -(-windows // opts.batch_size)
    return result.report.get("train_steps_per_s"), wall, steps


def options(epochs: int, batch_size: int, window: int, device: str = "cpu") -> DefaultTrainerOptions:
    wanted = {"epochs": epochs, "batch_size": batch_size, "window": window, "patience": epochs, "keep_best": 0,
              "device": device, "tensorboard": False}
    return DefaultTrainerOptions(**{k: v for k, v in wanted.items() if k in DefaultTrainerOptions.model_fields})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny inputs (CI): 1 epoch, few sequences")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sequences", type=int, default=64, help="training sequences per model")
    parser.add_argument("--steps", type=int, default=256, help="time steps per sequence")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (as the trainer's option)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.sequences, args.steps = 2, 16, 128
    opts = options(args.epochs, args.batch_size, args.window, args.device)
    device = resolve_device(args.device)
    registry = get_registry()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type.upper()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}; {args.epochs} epoch(s), "
          f"{args.sequences} sequences x {args.steps} steps, batch {args.batch_size} x window {args.window}",
          file=sys.stderr)
    header = (f"{'model':<20}{'plain steps/s':>14}{'sync-free steps/s':>19}{'kelcore steps/s':>17}{'overhead':>10}"
              f"{'plain seq/s':>13}{'kelcore seq/s':>15}{'whole fit steps/s':>19}")
    rows = [header]
    for name in args.models.split(","):
        cls = registry.get("models", name).obj
        train = sequences(cls.spec_name, args.sequences, args.steps, seed=1)
        validation = sequences(cls.spec_name, max(2, args.sequences // 8), args.steps, seed=2)
        plain_loop(build_model(cls, None, seed=0), train[:2], opts, 1, 0, device)  # warm-up, untimed
        sync_free_loop(build_model(cls, None, seed=0), train[:2], opts, 1, 0, device)
        torch.manual_seed(0)
        steps, seconds = plain_loop(build_model(cls, None, seed=0), train, opts, args.epochs, 0, device)
        plain = steps / seconds
        torch.manual_seed(0)
        steps, seconds = sync_free_loop(build_model(cls, None, seed=0), train, opts, args.epochs, 0, device)
        sync_free = steps / seconds
        torch.manual_seed(0)
        own, wall, fit_steps = kelcore_fit(build_model(cls, None, seed=0), train, validation, opts, seed=0)
        ours = own if own is not None else fit_steps / wall
        overhead = plain / ours - 1
        rows.append(f"{cls.spec_name:<20}{plain:>14.1f}{sync_free:>19.1f}{ours:>17.1f}{overhead:>+9.1%} "
                    f"{plain * args.batch_size:>12.0f}{ours * args.batch_size:>15.0f}{fit_steps / wall:>19.1f}")
        print(rows[-1], file=sys.stderr)
    print("\n".join(rows))
    print("overhead = plain loop steps/s / kelcore steps/s - 1 (negative: the trainer now steps faster than the "
          "previous step's loop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
