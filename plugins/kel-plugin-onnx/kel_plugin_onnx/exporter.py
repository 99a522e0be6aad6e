"""The ``onnx`` exporter: write a one-step graph, re-read it from disk through ONNX Runtime, and only then accept.

The file's ``metadata_props`` hold one entry, ``kelcore``: a JSON object with the model, the ModelSpec sizes, the
feature contract with the normalisation the host applies, the model plugin and versions, the run id, the state
tensors (names, sizes: zero at reset) and a reference snapshot (inputs and PyTorch's outputs) that
``kelcore validate`` replays.
"""
from __future__ import annotations

import json
import os
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import kelcore
from kelcore.api import (ExportContext, ExportError, Exporter, ExportResult, FileCheck, Options, SequenceModel,
                         SpecError, atomic_write, component_of, count_parameters, export_normalisation_problem)

from .names import INPUT, OUTPUT

if TYPE_CHECKING:
    import onnx

# onnx (and this plugin's graph builder, which needs it) is imported where a file is written or read, not when the
# plugin registers: every `kelcore` command loads every plugin, and importing onnx took 0.6 s of each.

FORMAT = "kelcore-onnx"
FORMAT_VERSION = 1
METADATA_KEY = "kelcore"
REFERENCE_STEPS = 32


class OnnxOptions(Options):
    """Options of the ``onnx`` exporter."""

    reference_steps: int = REFERENCE_STEPS


def _version(distribution: str) -> str | None:
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None


class OnnxModel:
    """An exported file in ONNX Runtime: ``step(x)`` one time step with the state carried, ``run(inputs)`` from a
    fresh state (what :meth:`OnnxExporter.load` returns)."""

    def __init__(self, path: Path) -> None:
        import onnx
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1   # one step at a time, as a host runs it
        self.metadata = read_metadata(onnx.load(str(path), load_external_data=False))
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.state_spec = [(s["name"], s["output"], int(s["size"])) for s in self.metadata.get("state", [])]
        self.reset()

    def reset(self) -> None:
        self.state = {name: np.zeros((1, 1, size), np.float32) for name, _, size in self.state_spec}

    def step(self, x: Any) -> np.ndarray:
        feeds = {INPUT: np.asarray(x, np.float32).reshape(1, -1), **self.state}
        names = [OUTPUT] + [output for _, output, _ in self.state_spec]
        values = self.session.run(names, feeds)
        self.state = {name: value for (name, _, _), value in zip(self.state_spec, values[1:])}
        return values[0][0]

    def run(self, inputs: Any) -> np.ndarray:
        """Reset, then stream ``inputs[T, in]``: ``outputs[T, out]``."""
        self.reset()
        return np.stack([self.step(x) for x in np.asarray(inputs, np.float32)])


def read_metadata(model: onnx.ModelProto) -> dict[str, Any]:
    """The ``kelcore`` metadata entry of a file (empty when absent)."""
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    return {}


def reference_snapshot(model: SequenceModel, input_size: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` float32 inputs from a fresh state and PyTorch's output at each step."""
    inputs = np.random.default_rng(seed).standard_normal((steps, input_size)).astype(np.float32)
    model.reset()
    with torch.no_grad():
        outputs = [model.stream(torch.from_numpy(x)[None])[0].numpy() for x in inputs]
    model.reset()
    return inputs, np.stack(outputs).astype(np.float32)


def _plugin(model: SequenceModel) -> dict[str, str]:
    found = component_of(model)
    if found is not None and found["kind"] == "models":
        return {"name": found["name"], "distribution": found["distribution"], "version": found["version"]}
    return {"name": type(model).__name__, "distribution": type(model).__module__.split(".")[0], "version": "?"}


class OnnxExporter(Exporter):
    """Writes one-step ONNX graphs with explicit recurrent state and proves each with ONNX Runtime."""

    Options = OnnxOptions
    suffix = ".onnx"

    def export(self, model: SequenceModel, path: Path, context: ExportContext) -> ExportResult:
        import onnx

        from .graph import build_graph, weights_sha256

        path = Path(path)
        spec = kelcore.get_spec(model.spec_name)
        was_training = model.training
        model.eval()
        try:
            graph = build_graph(model, spec.input_size, spec.output_size, spec.name)
            inputs, outputs = reference_snapshot(model, spec.input_size, self.options.reference_steps, context.seed)
        finally:
            model.train(was_training)
        plugin = _plugin(model)
        contract = model.feature_contract().model_dump()
        contract["normalization"] = context.normalization
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model": spec.name,
            "spec": {"input_size": spec.input_size, "output_size": spec.output_size, "param_count": spec.param_count},
            "trainable_parameters": count_parameters(model), "model_plugin": plugin, "feature_contract": contract,
            "versions": {"kelcore": _version("kelcore"), "kel-plugin-onnx": _version("kel-plugin-onnx"),
                         "onnx": onnx.__version__, "torch": torch.__version__, plugin["distribution"]: plugin["version"]},
            "run_id": context.run_id, "config_hash": context.config_hash, "seed": context.seed,
            "inputs": INPUT, "outputs": OUTPUT, "output_activation": graph.output_activation,
            "state": [{"name": s.name, "output": s.output, "size": s.size} for s in graph.state],
            "weights_sha256": weights_sha256(graph.model),
            "reference": {"inputs": inputs.tolist(), "outputs": outputs.tolist()},
        }
        graph.model.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta))
        graph.model.doc_string = f"kelcore {spec.name}: one time step per call; state in and out (see metadata)"
        with atomic_write(path, "wb") as handle:
            handle.write(graph.model.SerializeToString())
        error = float(np.abs(OnnxModel(path).run(inputs) - outputs).max())
        if not error <= self.tolerance:
            rejected = path.with_name(path.stem + ".rejected.onnx")
            os.replace(path, rejected)
            raise ExportError(f"{spec.name}: the exported file runs in ONNX Runtime with max |file - PyTorch| = "
                              f"{error:.3g} > {self.tolerance}; kept as {rejected} for inspection, not as {path}")
        return ExportResult(path=path, max_abs_error=error, output_activation=graph.output_activation)

    @classmethod
    def load(cls, path: Path) -> OnnxModel:
        """The file in ONNX Runtime: ``run(inputs[T, in])`` from a fresh (zero) state."""
        return OnnxModel(Path(path))

    @classmethod
    def check_file(cls, path: Path, check_specs: bool = False) -> FileCheck:
        """Readable ONNX that the checker accepts; metadata present and agreeing with the graph, the weights and
        (``check_specs``) the C++ ModelSpec; the normalisation the contract asks for; the reference replayed in
        ONNX Runtime within the tolerance."""
        import onnx

        path = Path(path)
        try:
            proto = onnx.load(str(path), load_external_data=False)
            onnx.checker.check_model(proto)
        except Exception as exc:  # noqa: BLE001 - any failure to parse is "unreadable"
            return FileCheck(path, 2, "", [f"{path}: not a readable ONNX model: {str(exc).splitlines()[0]}"],
                             {"path": str(path), "status": 2})
        problems: list[str] = []
        meta = read_metadata(proto)
        if not meta:
            problems.append(f"{path}: metadata_props[{METADATA_KEY!r}]: missing: nothing proves this file is the "
                            "trained model (spec, feature contract, reference snapshot)")
            return FileCheck(path, 1, "", problems, {"path": str(path), "status": 1, "problems": problems})
        problems += _metadata_problems(path, proto, meta, check_specs)
        error = None
        if not problems:
            reference = meta.get("reference") or {}
            inputs = np.asarray(reference.get("inputs", []), np.float32)
            expected = np.asarray(reference.get("outputs", []), np.float32)
            try:
                replayed = OnnxModel(path).run(inputs)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{path}: ONNX Runtime cannot run it: {str(exc).splitlines()[0]}")
            else:
                errors = np.abs(replayed - expected).max(axis=1)
                error = float(errors.max())
                if not error <= cls.tolerance:
                    problems.append(f"{path}: metadata.reference.outputs: replay in ONNX Runtime differs by "
                                    f"{error:.3g} > {cls.tolerance} (largest at step {int(np.argmax(errors))}, first "
                                    f"over the tolerance at step {int(np.argmax(errors > cls.tolerance))})")
        status = 1 if problems else 0
        summary = f"OK ({meta.get('model')}, ONNX Runtime replay max error {error:.2e})" if status == 0 else ""
        return FileCheck(path, status, summary, problems, {"model": meta.get("model"), "max_replay_error": error,
                                                           "problems": problems})


def _metadata_problems(path: Path, proto: onnx.ModelProto, meta: dict[str, Any], check_specs: bool) -> list[str]:
    from .graph import weights_sha256

    problems = []
    graph_in = proto.graph.input[0].type.tensor_type.shape.dim[-1].dim_value
    graph_out = proto.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
    spec = meta.get("spec") or {}
    if (spec.get("input_size"), spec.get("output_size")) != (graph_in, graph_out):
        problems.append(f"{path}: metadata.spec: says {spec.get('input_size')} -> {spec.get('output_size')} but the "
                        f"graph is {graph_in} -> {graph_out}")
    if "weights_sha256" not in meta:
        problems.append(f"{path}: metadata.weights_sha256: missing: nothing proves the weights are the ones exported")
    elif meta["weights_sha256"] != weights_sha256(proto):
        problems.append(f"{path}: metadata.weights_sha256: does not match the weights: the file was edited after "
                        "export")
    contract = meta.get("feature_contract") or {}
    problem = export_normalisation_problem(contract, str(meta.get("run_id", "")))
    if problem:
        problems.append(f"{path}: metadata.feature_contract.normalization: {problem}")
    reference = meta.get("reference") or {}
    if len(reference.get("inputs", [])) < 16 or len(reference.get("inputs", [])) != len(reference.get("outputs", [])):
        problems.append(f"{path}: metadata.reference: needs at least 16 steps of inputs and outputs")
    if check_specs:
        try:
            model_spec = kelcore.get_spec(str(meta.get("model")))
        except SpecError as exc:
            problems.append(f"{path}: metadata.model: {exc}")
        else:
            if (graph_in, graph_out) != (model_spec.input_size, model_spec.output_size):
                problems.append(f"{path}: {model_spec.name} is {graph_in} -> {graph_out} here but the C++ ModelSpec "
                                f"says {model_spec.input_size} -> {model_spec.output_size}")
            if meta.get("trainable_parameters") != model_spec.param_count:
                problems.append(f"{path}: {model_spec.name} has {meta.get('trainable_parameters')} trainable "
                                f"parameters but the C++ ModelSpec says {model_spec.param_count}")
    return problems
