"""A plugin as a third-party author writes it from docs/PLUGINS.md, importing only ``kelcore.api``.

Datasets ``csvnotes`` (no Options, no write_demo: the defaults), ``csvnotes-demo`` (with a demo corpus) and
``old-standardised`` (states ``standardised_tasks``: refused at load time); models ``tanh-linear`` (declares tanh, ends in a
Linear layer) and ``noisy`` (draws random numbers in forward); exporter ``npz`` (a second, small format, not
shipped) with a format option ``--npz-manifest`` and a file validator.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch import nn

import kelcore
from kelcore.api import (Dataset, Exporter, ExportError, ExportResult, Extracted, FileCheck, IndexedDataset, Options,
                         Track, build_model, get_spec, write_text_atomic)

SPEC = get_spec("DynamicsEngine")


def read_rows(track: Track, config: object) -> Extracted:
    """A track file: one CSV row per step, SPEC.input_size inputs then one target."""
    rows = np.loadtxt(track.path, delimiter=",", ndmin=2, dtype=np.float32)
    if rows.shape[1] != SPEC.input_size + 1:
        return Extracted(kind="unsupported", reason=f"{rows.shape[1]} columns, expected {SPEC.input_size + 1}")
    return Extracted(inputs=rows[:, :-1], targets=rows[:, -1:])


class CsvNotes(IndexedDataset):
    """``<root>/index.csv`` with columns file,group,split; no Options and no write_demo (the defaults)."""

    tasks = {"": SPEC.name}
    target_size = 1
    extract = staticmethod(read_rows)
    check = staticmethod(read_rows)

    def read_index(self, root: Path) -> list[Track]:
        with open(root / "index.csv", newline="", encoding="utf-8") as handle:
            return [Track(row["file"], root / row["file"], row["group"], row["split"] or None)
                    for row in csv.DictReader(handle)]


def write_corpus(path: Path, seed: int = 0, files: int = 12, splits: bool = True) -> None:
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(files):
        x = rng.standard_normal((20, SPEC.input_size)).astype(np.float32)
        y = 64 + 40 * np.tanh(x[:, :1])
        np.savetxt(path / f"t{index:02d}.csv", np.hstack([x, y]), delimiter=",", fmt="%.5f")
        split = ("train", "train", "train", "validation", "test")[index % 5] if splits else ""
        rows.append(f"t{index:02d}.csv,g{index},{split}")
    (path / "index.csv").write_text("file,group,split\n" + "\n".join(rows) + "\n", encoding="utf-8")


class CsvNotesDemo(CsvNotes):
    @classmethod
    def write_demo(cls, path: Path, seed: int = 0) -> None:
        write_corpus(path, seed)


class Unstandardised(CsvNotesDemo):
    """Says its inputs are not standardised, whatever the contract says (refused where the contract standardises)."""

    standardised = False


class CsvGroove(CsvNotes):
    """Features for GroovePredictor and no demo corpus: where no groove model is installed, nothing can be checked."""

    tasks = {"": "GroovePredictor"}


class OldStandardised(Dataset):
    """Says which tasks are standardised the old way (``standardised_tasks``): refused at load time."""

    produces = "DynamicsEngine"
    input_size = None
    standardised_tasks = frozenset({""})

    def prepare(self, context):
        raise NotImplementedError

    def validate(self, progress=False):
        raise NotImplementedError


class ToyChain(kelcore.ChainModel):
    spec_name = "DynamicsEngine"
    target_size = 1
    output_activation = "softmax"
    primary_metric = "mae"

    def __init__(self, options=None):
        super().__init__(options)
        self.layers = nn.ModuleList([nn.Linear(SPEC.input_size, 90), nn.Tanh(), nn.Linear(90, 98), nn.Tanh(),
                                     nn.Linear(98, SPEC.output_size, bias=False), nn.Softmax(dim=-1)])

    @classmethod
    def feature_contract(cls):
        element = kelcore.FeatureElement
        return kelcore.FeatureContract(
            model=cls.spec_name, version="0.0.1",
            inputs=[element(index=i, name=f"x{i}", meaning="x") for i in range(SPEC.input_size)],
            outputs=[element(index=i, name=f"y{i}", meaning="y") for i in range(SPEC.output_size)])

    def loss(self, outputs, targets):
        return ((outputs[:, :1] - targets / 127) ** 2).mean()

    def metrics(self, outputs, targets):
        return {"mae": float((outputs[:, :1] - targets / 127).abs().mean())}

    @classmethod
    def baseline_metrics(cls, train, evaluate):
        """Zero."""
        return {"mae": 1.0}


class TanhButLinear(ToyChain):
    """Declares tanh, but the chain ends in a plain Linear layer (same parameter count)."""

    output_activation = "tanh"

    def __init__(self, options=None):
        super().__init__(options)
        self.layers = self.layers[:-1]


class Noisy(ToyChain):
    """Draws random numbers in forward, even in eval mode."""

    def forward(self, x):
        return super().forward(x + 1e-3 * torch.randn_like(x))


class TorchReplay:
    """A model read back from a file, run as a host would: fresh state, one step at a time."""

    def __init__(self, model):
        self.model = model

    def run(self, inputs):
        self.model.reset()
        with torch.no_grad():
            return np.stack([self.model.stream(torch.from_numpy(np.asarray(x, np.float32))[None])[0].numpy()
                             for x in inputs])


class NpzOptions(Options):
    steps: int = 8


class NpzExporter(Exporter):
    """Weights and a reference snapshot in one .kelnpz (numpy archive); re-read and replayed before accepting."""

    Options = NpzOptions
    suffix = ".kelnpz"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--npz-manifest", action="store_true", help="also write MANIFEST.txt")

    def export(self, model, path, context):
        was_training = model.training
        model.eval()
        x = torch.randn(1, self.options.steps, SPEC.input_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            y = model(x)
        arrays = {f"w:{k}": v.numpy() for k, v in model.state_dict().items()}
        arrays["class"] = np.array(f"{type(model).__module__}:{type(model).__qualname__}")
        arrays["options"] = np.array(model.options.model_dump_json())
        with kelcore.atomic_write(path, "wb") as handle:
            np.savez(handle, x=x.numpy(), y=y.numpy(), **arrays)
        model.train(was_training)
        with np.load(path) as npz:
            clone = build_model(type(model), model.options)
            clone.load_state_dict({k[2:]: torch.from_numpy(npz[k]) for k in npz.files if k.startswith("w:")})
            with torch.no_grad():
                error = float((clone(torch.from_numpy(npz["x"])) - torch.from_numpy(npz["y"])).abs().max())
        if error > self.tolerance:
            raise ExportError(f"replay differs by {error}")
        return ExportResult(path=Path(path), max_abs_error=error)

    @classmethod
    def load(cls, path):
        """The weights back into their model class: ``run(inputs[T, in])`` streams them in eval mode."""
        import importlib
        import json

        with np.load(path) as npz:
            module, name = str(npz["class"]).split(":")
            model_cls = getattr(importlib.import_module(module), name)
            model = build_model(model_cls, json.loads(str(npz["options"])))
            model.load_state_dict({k[2:]: torch.from_numpy(npz[k]) for k in npz.files if k.startswith("w:")})
        return TorchReplay(model.eval())

    def finish(self, out, results, args):
        if not getattr(args, "npz_manifest", False):
            return []
        manifest = Path(out) / "MANIFEST.txt"
        write_text_atomic(manifest, "".join(f"{Path(r.path).name}\n" for r in results))
        return [manifest]

    @classmethod
    def check_file(cls, path, check_specs=False):
        try:
            with np.load(path) as npz:
                names = list(npz.files)
        except (OSError, ValueError) as exc:
            return FileCheck(Path(path), 2, problems=[f"{path}: unreadable: {exc}"])
        if "x" not in names or "y" not in names:
            return FileCheck(Path(path), 1, problems=[f"{path}: no reference snapshot"])
        return FileCheck(Path(path), 0, summary=f"OK ({len(names) - 2} arrays)")


class LyingNpzExporter(NpzExporter):
    """Exports like ``npz``, then corrupts the file's weights and still reports error 0.0 (the exporter suite must
    catch it by reading the file itself)."""

    suffix = ".lying.kelnpz"

    def export(self, model, path, context):
        super().export(model, path, context)
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        for key in arrays:
            if key.startswith("w:") and arrays[key].dtype.kind == "f":
                arrays[key] = arrays[key] + 0.25
        with kelcore.atomic_write(path, "wb") as handle:
            np.savez(handle, **arrays)
        return ExportResult(path=Path(path), max_abs_error=0.0)


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("csvnotes", CsvNotes)
    register("csvnotes-demo", CsvNotesDemo)
    register("old-standardised", OldStandardised)
    register("unstandardised", Unstandardised)
    register("csvgroove", CsvGroove)


@kelcore.hookimpl
def kelcore_register_models(register):
    register("tanh-linear", TanhButLinear)
    register("noisy", Noisy)
    register("toy-chain", ToyChain)


@kelcore.hookimpl
def kelcore_register_exporters(register):
    register("npz", NpzExporter)
    register("lying-npz", LyingNpzExporter)
