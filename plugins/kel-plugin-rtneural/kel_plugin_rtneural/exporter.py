"""The ``rtneural`` exporter: write, re-read from disk, replay, and only then accept."""
from __future__ import annotations

import json
import os
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

import kelcore
from kelcore.api import (ExportContext, ExportError, Exporter, ExportResult, FileCheck, Options, SequenceModel,
                         component_of, count_parameters, write_text_atomic)

from .engine import load_model
from .rules import check_rtneural_layers
from .writer import layers_json, model_layers, weights_sha256

FORMAT = "kelcore-rtneural"
FORMAT_VERSION = 1
REFERENCE_STEPS = 32


class RTNeuralOptions(Options):
    """Options of the ``rtneural`` exporter."""

    reference_steps: int = REFERENCE_STEPS


def _version(distribution: str) -> str | None:
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None


def _model_plugin(model: SequenceModel) -> dict[str, str]:
    found = component_of(model)
    if found is not None and found["kind"] == "models":
        return {"name": found["name"], "distribution": found["distribution"], "version": found["version"]}
    return {"name": type(model).__name__, "distribution": type(model).__module__.split(".")[0], "version": "?"}


def reference_snapshot(model: SequenceModel, input_size: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` consecutive float32 inputs from a fresh state and PyTorch's output at each step."""
    inputs = np.random.default_rng(seed).standard_normal((steps, input_size)).astype(np.float32)
    model.reset()
    with torch.no_grad():
        outputs = [model.stream(torch.from_numpy(x)[None])[0].numpy() for x in inputs]
    model.reset()
    return inputs, np.stack(outputs).astype(np.float32)


def build_metadata(model: SequenceModel, entries: list[dict[str, Any]], context: ExportContext,
                   inputs: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
    spec = kelcore.get_spec(model.spec_name)
    plugin = _model_plugin(model)
    contract = model.feature_contract().model_dump()
    contract["normalization"] = context.normalization
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": spec.name,
        "spec": {"input_size": spec.input_size, "output_size": spec.output_size, "param_count": spec.param_count},
        "trainable_parameters": count_parameters(model),
        "model_plugin": plugin,
        "feature_contract": contract,
        "versions": {"kelcore": _version("kelcore"), "kel-plugin-rtneural": _version("kel-plugin-rtneural"),
                     "torch": torch.__version__, plugin["distribution"]: plugin["version"]},
        "run_id": context.run_id, "config_hash": context.config_hash, "seed": context.seed,
        "weights_sha256": weights_sha256(entries),
        "reference": {"inputs": inputs.tolist(), "outputs": outputs.tolist()},
    }


def document_text(input_size: int, entries: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    return ('{\n"in_shape": [null, null, ' + str(input_size) + '],\n"layers": ' + layers_json(entries)
            + ',\n"metadata": ' + json.dumps(meta) + "\n}\n")


def verify_file(path: Path, expected: np.ndarray) -> float:
    """Re-read ``path`` from disk, replay its reference inputs; max |engine - expected|."""
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    replayed = load_model(document).run(document["metadata"]["reference"]["inputs"])
    return float(np.abs(replayed - expected).max())


class RTNeuralExporter(Exporter):
    """Writes RTNeural JSON and proves it: a file that does not replay within ``tolerance`` is rejected."""

    Options = RTNeuralOptions
    suffix = ".json"
    model_checks = (check_rtneural_layers,)

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        parser.add_argument("--cpp", "--cpp-header", dest="cpp", action="store_true",
                            help="also write the plugin's C++ folder: KelModels.h (ModelT aliases), ModelSpec.h, "
                                 "KelFeatures.h and the headers it includes, example_plugin_side.cpp")

    def finish(self, out: Path, results: list[ExportResult], args: Any) -> list[Path]:
        if not getattr(args, "cpp", False):
            return []
        from .commands import documents_of, write_plugin_folder

        written = write_plugin_folder(Path(out), documents_of([r.path for r in results]))
        print(f"C++ for the plugin: {', '.join(p.name for p in written)} in {out}")
        return []

    @classmethod
    def load(cls, path: Path) -> Any:
        """The file through the numpy reference engine (RTNeural's semantics): ``run(inputs[T, in])``."""
        return load_model(Path(path))

    @classmethod
    def check_file(cls, path: Path, check_specs: bool = False) -> FileCheck:
        from .validate import VALID, validate_file

        report = validate_file(path, check_specs=check_specs)
        error = (f", reference replay max error {report.max_replay_error:.2e}"
                 if report.max_replay_error is not None else "")
        return FileCheck(path=Path(path), status=report.status, summary=f"OK ({report.model}{error})"
                         if report.status == VALID else "", problems=list(report.problems), data=dict(report.__dict__))

    def export(self, model: SequenceModel, path: Path, context: ExportContext) -> ExportResult:
        path = Path(path)
        spec = kelcore.get_spec(model.spec_name)
        was_training = model.training
        model.eval()
        try:
            entries = model_layers(model.layers, spec.input_size)
            inputs, outputs = reference_snapshot(model, spec.input_size, self.options.reference_steps, context.seed)
        finally:
            model.train(was_training)
        meta = build_metadata(model, entries, context, inputs, outputs)
        write_text_atomic(path, document_text(spec.input_size, entries, meta))
        error = verify_file(path, outputs)
        if not error <= self.tolerance:
            rejected = path.with_name(path.stem + ".rejected.json")
            os.replace(path, rejected)
            raise ExportError(f"{spec.name}: the exported file replays with max |file - PyTorch| = {error:.3g} > "
                              f"{self.tolerance}; kept as {rejected} for inspection, not as {path}")
        last = next((e for e in reversed(entries)), None)
        activation = (last.get("activation") or "linear") if isinstance(last, dict) else None
        return ExportResult(path=path, max_abs_error=error, output_activation=activation or "linear")
