"""A small plugin used by the core's tests: one component of every kind.

Model ``toy-dynamics`` (DynamicsEngine spec, a plain MLP with the exact count),
dataset ``toy-notes`` (synthetic, learnable: velocity follows input 0),
trainer ``sgd`` (a few plain SGD steps), exporter ``torchjson`` (weights as
JSON, re-read and compared) and command ``toy-hello``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

import kelcore
from kelcore.api import (ChainModel, Command, Dataset, Exporter, ExportResult, FeatureContract, FeatureElement, Options,
                         PreparedData, Sequence, Trainer, TrainResult, ValidationReport)
from kelcore.api import HostDropout, split_by_group, write_json_atomic

SPEC = kelcore.get_spec("DynamicsEngine")
BIN_CENTRES = torch.arange(SPEC.output_size) * 8 + 3.5


class ToyModelOptions(Options):
    slow_ms: float = Field(0.0, ge=0, description="sleep per training forward (for kill tests)")


class ToyDynamics(ChainModel):
    spec_name = "DynamicsEngine"
    Options = ToyModelOptions
    target_size = 1
    output_activation = "softmax"
    primary_metric = "velocity_mae"

    def __init__(self, options=None):
        super().__init__(options)
        self.layers = nn.ModuleList([
            nn.Linear(SPEC.input_size, 90), nn.Tanh(), nn.Linear(90, 98), nn.Tanh(),
            nn.Linear(98, SPEC.output_size, bias=False), nn.Softmax(dim=-1)])

    def forward(self, x):
        if self.training and self.options.slow_ms:
            time.sleep(self.options.slow_ms / 1000)
        return super().forward(x)

    @classmethod
    def feature_contract(cls):
        inputs = [FeatureElement(index=i, name=f"x{i}", meaning="synthetic") for i in range(SPEC.input_size)]
        outputs = [FeatureElement(index=i, name=f"bin{i}", meaning="velocity bin") for i in range(SPEC.output_size)]
        return FeatureContract(model=cls.spec_name, version="0.0.1", inputs=inputs, outputs=outputs)

    def loss(self, outputs, targets):
        bins = (targets[:, 0] // 8).long().clamp(0, SPEC.output_size - 1)
        return nn.functional.nll_loss(torch.log(outputs.clamp_min(1e-8)), bins)

    def metrics(self, outputs, targets):
        expected = outputs @ BIN_CENTRES.to(outputs)  # on the outputs' device (the meta check)
        return {"velocity_mae": float((expected - targets[:, 0]).abs().mean())}

    @classmethod
    def baseline_metrics(cls, train, evaluate):
        """Every step predicted as the training split's mean velocity (and, a baseline-only figure,
        its median).

        A wrapped first paragraph on purpose: the reports must name the baseline with all of it."""
        known = np.concatenate([s.targets[:, 0] for s in train])
        values = np.concatenate([s.targets[:, 0] for s in evaluate])
        return {"velocity_mae": float(np.abs(values - known.mean()).mean()),
                "median_velocity_mae": float(np.abs(values - np.median(known)).mean())}


class DropoutDynamics(ToyDynamics):
    """The toy model with dropout after each hidden layer: same parameters, regularised while training (masks drawn
    on the host: the same draws on every device)."""

    def __init__(self, options=None):
        super().__init__(options)
        linear1, tanh1, linear2, tanh2, out, softmax = self.layers
        self.layers = nn.ModuleList([linear1, tanh1, HostDropout(0.3), linear2, tanh2, HostDropout(0.3), out, softmax])


class ToyNotesOptions(Options):
    root: Path = Field(description="unused folder (datasets take a root)")
    sequences: int = Field(24, ge=3)
    steps: int = Field(40, ge=1)
    feature_size: int = Field(SPEC.input_size, description="change to test the size cross-check")
    poison: Literal["none", "nan"] = "none"


class ToyNotes(Dataset):
    Options = ToyNotesOptions
    produces = "DynamicsEngine"
    target_size = 1

    @property
    def input_size(self) -> int:
        return self.options.feature_size

    def _sequence(self, index: int, rng: np.random.Generator) -> Sequence:
        x = rng.standard_normal((self.options.steps, self.options.feature_size)).astype(np.float32)
        velocity = np.clip(64 + 40 * np.tanh(x[:, :1]), 1, 127).astype(np.float32)
        if self.options.poison == "nan":
            x[:, 0] = np.nan
        return Sequence(f"toy{index:03d}", x, velocity, group=f"piece{index}")

    def prepare(self, context):
        rng = np.random.default_rng(context.seed)
        sequences = [self._sequence(i, rng) for i in range(self.options.sequences)]
        sides = split_by_group({s.track_id: s.group for s in sequences}, context.seed)
        write_json_atomic(context.run_dir / "split.json", sides)
        pick = lambda side: [s for s in sequences if sides[s.track_id] == side]  # noqa: E731
        identity = {"mean": [0.0] * self.input_size, "std": [1.0] * self.input_size}
        return PreparedData(pick("train"), pick("validation"), pick("test"), identity)

    def validate(self, progress=False):
        n = self.options.sequences
        return ValidationReport("toy-notes", str(self.options.root), listed=n, usable=n)

    @classmethod
    def write_demo(cls, path, seed=0):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "README").write_text(f"toy corpus, seed {seed}\n")


class SgdOptions(Options):
    steps: int = Field(3, ge=1)


class SgdTrainer(Trainer):
    Options = SgdOptions

    def fit(self, model, data, context):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        seq = data.train[0]
        x, y = torch.from_numpy(seq.inputs)[None], torch.from_numpy(seq.targets)
        for _ in range(self.options.steps):
            optimizer.zero_grad()
            loss = model.loss(model(x)[0], y)
            loss.backward()
            optimizer.step()
        return TrainResult(self.options.steps, self.options.steps, "steps done", {"velocity_mae": 0.0},
                           {"velocity_mae": 1.0}, True, {"primary_metric": "velocity_mae", "higher_is_better": False})


class TorchJsonExporter(Exporter):
    suffix = ".torch.json"

    def export(self, model, path, context):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: v.tolist() for k, v in model.state_dict().items()}))
        clone = type(model)(model.options)
        clone.load_state_dict({k: torch.tensor(v) for k, v in json.loads(path.read_text()).items()})
        x = torch.randn(1, 8, model.feature_contract().inputs.__len__())
        error = float((clone(x) - model(x)).abs().max())
        return ExportResult(path=path, max_abs_error=error)


class HelloCommand(Command):
    help = "print a greeting (test plugin)"

    def add_arguments(self, parser):
        parser.add_argument("--name", default="world")

    def run(self, args):
        print(f"hello, {args.name}")
        return 0


@kelcore.hookimpl
def kelcore_register_models(register):
    register("toy-dynamics", ToyDynamics)


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("toy-notes", ToyNotes)


@kelcore.hookimpl
def kelcore_register_trainers(register):
    register("sgd", SgdTrainer)


@kelcore.hookimpl
def kelcore_register_exporters(register):
    register("torchjson", TorchJsonExporter)


@kelcore.hookimpl
def kelcore_register_commands(register):
    register("toy-hello", HelloCommand())
