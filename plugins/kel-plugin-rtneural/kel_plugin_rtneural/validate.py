"""``kelcore validate``: everything RTNeural would swallow silently, caught with its own message."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engine import ACTIVATIONS, load_model
from .writer import weights_sha256

KNOWN_TYPES = ("dense", "time-distributed-dense", "lstm", "gru", "batchnorm", "prelu", "activation")
RTNEURAL_ONLY_TYPES = ("conv1d", "conv2d", "batchnorm2d")
NO_ACTIVATION_TYPES = ("lstm", "gru", "batchnorm", "prelu")
from kelcore.api import EXPORT_TOLERANCE as REPLAY_TOLERANCE  # noqa: E402 - the one tolerance
from kelcore.api import export_normalisation_problem  # noqa: E402

VALID, INVALID, UNREADABLE = 0, 1, 2


@dataclass
class FileReport:
    """Problems found in one file; ``status`` is 0 valid, 1 invalid, 2 unreadable."""

    path: str
    status: int = VALID
    problems: list[str] = field(default_factory=list)
    model: str | None = None
    max_replay_error: float | None = None

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path}: {where}: {message}")
        self.status = max(self.status, INVALID)


def validate_file(path: str | Path, check_specs: bool = False) -> FileReport:
    """Check one exported file; see the module docstring of :mod:`kel_plugin_rtneural.validate`."""
    report = FileReport(str(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
        document = json.loads(text, parse_constant=_keep_constant)
    except OSError as exc:
        report.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        report.status = UNREADABLE
        return report
    except json.JSONDecodeError as exc:
        report.problems.append(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}")
        report.status = UNREADABLE
        return report
    if not isinstance(document, dict):
        report.add("(top level)", "must be a JSON object with in_shape and layers")
        return report
    sizes = _check_structure(document, report)
    if report.status == VALID:
        _check_metadata(document, sizes, report, check_specs)
    return report


def _keep_constant(name: str) -> float:
    return float(name.lower().replace("infinity", "inf"))  # NaN/Infinity: reported later as non-finite


def _last_int(value: Any) -> int | None:
    if isinstance(value, list) and value and isinstance(value[-1], int) and value[-1] > 0:
        return value[-1]
    return None


def _check_structure(document: dict[str, Any], report: FileReport) -> list[int]:
    """Keys, types, activations and every array's dimensions along the chain; returns layer output sizes."""
    if "in_shape" not in document:
        report.add("in_shape", "missing: RTNeural throws out_of_range.403 (key 'in_shape' not found)")
        return []
    size = _last_int(document["in_shape"])
    if size is None:
        report.add("in_shape", f"must be an array ending in the input size, e.g. [null, null, 64]; got "
                   f"{document['in_shape']!r}")
        return []
    layers = document.get("layers")
    if not isinstance(layers, list):
        report.add("layers", "missing or not an array: RTNeural returns a null model")
        return []
    sizes = []
    for index, layer in enumerate(layers):
        size = _check_layer(index, layer, size, report)
        if size is None:
            return sizes
        sizes.append(size)
    if not sizes:
        report.add("layers", "empty: the model would pass its input through unchanged")
    return sizes


def _check_layer(index: int, layer: Any, size: int, report: FileReport) -> int | None:
    where = f"layers[{index}]"
    if not isinstance(layer, dict):
        report.add(where, "must be an object")
        return None
    for key in ("type", "shape", "weights"):
        if key not in layer:
            report.add(f"{where}.{key}", f"missing: RTNeural throws out_of_range.403 (key '{key}' not found)")
            return None
    kind, out = layer["type"], _last_int(layer["shape"])
    if kind in RTNEURAL_ONLY_TYPES:
        report.add(f"{where}.type", f"{kind!r} layers are not checked by kelcore (no kelcore model uses them)")
        return None
    if kind not in KNOWN_TYPES:
        report.add(f"{where}.type", f"unknown layer type {kind!r}: RTNeural silently skips it; expected one of "
                   f"{', '.join(KNOWN_TYPES)}")
        return None
    if out is None:
        report.add(f"{where}.shape", f"must be an array ending in the layer's output size; got {layer['shape']!r}")
        return None
    if not isinstance(layer["weights"], list):
        report.add(f"{where}.weights", "must be an array")
        return None
    _check_activation(where, kind, layer, report)
    before = len(report.problems)
    CHECKERS[kind](where, layer["weights"], size, out, layer, report)
    if len(report.problems) == before:
        _check_finite(where, layer["weights"], report)
    return out


def _check_activation(where: str, kind: str, layer: dict[str, Any], report: FileReport) -> None:
    activation = layer.get("activation", "")
    if activation == "linear":
        report.add(f"{where}.activation", "'linear' is not an RTNeural activation (it builds a null layer and the "
                   "host crashes): write \"\" for no activation")
    elif activation not in (*ACTIVATIONS, ""):
        report.add(f"{where}.activation", f"{activation!r} is not an RTNeural activation; expected one of "
                   f"{', '.join(ACTIVATIONS)} or \"\"")
    elif kind in NO_ACTIVATION_TYPES and activation:
        report.add(f"{where}.activation", f"{activation!r} on a {kind} layer is ignored by RTNeural: add a separate "
                   "{\"type\": \"activation\"} layer after it")
    elif kind == "activation" and not activation:
        report.add(f"{where}.activation", "an activation layer needs a non-empty activation")


def _matrix(where: str, name: str, value: Any, rows: int, cols: int, report: FileReport,
            transposed_hint: bool = False) -> None:
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        report.add(f"{where}.{name}", f"must be a [{rows}][{cols}] array")
        return
    shape = (len(value), {len(r) for r in value})
    if shape == (rows, {cols}):
        return
    if transposed_hint and rows != cols and shape == (cols, {rows}):
        report.add(f"{where}.{name}", f"kernel is [{cols}][{rows}] ([out][in], PyTorch's layout) but RTNeural reads "
                   f"[in][out] = [{rows}][{cols}]: transpose it")
        return
    lengths = ", ".join(str(n) for n in sorted(shape[1])) or "none"
    report.add(f"{where}.{name}", f"expected [{rows}][{cols}], found {len(value)} rows of length {lengths}: "
               "truncated or wrong size (RTNeural zero-fills short arrays silently)")


def _vector(where: str, name: str, value: Any, size: int, report: FileReport) -> None:
    if not isinstance(value, list) or len(value) != size or any(isinstance(v, list) for v in value):
        found = len(value) if isinstance(value, list) else type(value).__name__
        report.add(f"{where}.{name}", f"expected {size} numbers, found {found}: truncated or wrong size")


def _count(where: str, weights: list, allowed: tuple[int, ...], report: FileReport) -> bool:
    if len(weights) not in allowed:
        report.add(f"{where}.weights", f"expected {' or '.join(map(str, allowed))} arrays, found {len(weights)}")
        return False
    return True


def _dense(where, weights, size, out, layer, report):
    if _count(where, weights, (1, 2), report):
        _matrix(where, "weights[0]", weights[0], size, out, report, transposed_hint=True)
        if len(weights) == 2:
            _vector(where, "weights[1]", weights[1], out, report)


def _recurrent(gates: int):
    def check(where, weights, size, out, layer, report):
        if not _count(where, weights, (3,), report):
            return
        _matrix(where, "weights[0]", weights[0], size, gates * out, report)
        _matrix(where, "weights[1]", weights[1], out, gates * out, report)
        if gates == 4:
            _vector(where, "weights[2]", weights[2], 4 * out, report)
        else:
            _matrix(where, "weights[2]", weights[2], 2, 3 * out, report)
    return check


def _batchnorm(where, weights, size, out, layer, report):
    if out != size:
        report.add(f"{where}.shape", f"batchnorm keeps the size: expected {size}, found {out}")
    if not isinstance(layer.get("epsilon"), (int, float)) or not layer["epsilon"] > 0:
        report.add(f"{where}.epsilon", "missing or not a positive number: RTNeural throws (key 'epsilon' not found)")
    if _count(where, weights, (2, 4), report):
        for i, array in enumerate(weights):
            _vector(where, f"weights[{i}]", array, size, report)


def _prelu(where, weights, size, out, layer, report):
    if out != size:
        report.add(f"{where}.shape", f"prelu keeps the size: expected {size}, found {out}")
    if _count(where, weights, (1,), report):
        _matrix(where, "weights[0]", weights[0], 1, size, report)


def _activation_layer(where, weights, size, out, layer, report):
    if out != size:
        report.add(f"{where}.shape", f"an activation keeps the size: expected {size}, found {out}")
    if weights:
        report.add(f"{where}.weights", "an activation layer has no weights: expected []")


CHECKERS = {"dense": _dense, "time-distributed-dense": _dense, "lstm": _recurrent(4), "gru": _recurrent(3),
            "batchnorm": _batchnorm, "prelu": _prelu, "activation": _activation_layer}


def _check_finite(where: str, weights: list, report: FileReport) -> None:
    for i, array in enumerate(weights):
        values = np.asarray(array, dtype=np.float64)
        if not np.isfinite(values).all():
            report.add(f"{where}.weights[{i}]", "contains NaN or inf")


def trainable_parameters(layers: list[dict[str, Any]], input_size: int) -> int:
    """PyTorch's trainable count recovered from a file: LSTM has two biases, batchnorm statistics are not trained."""
    total, size = 0, input_size
    for layer in layers:
        kind, weights, out = layer["type"], layer["weights"], layer["shape"][-1]
        if kind in ("dense", "time-distributed-dense"):
            total += size * out + (out if len(weights) == 2 else 0)
        elif kind == "lstm":
            total += 4 * out * (size + out + 2)
        elif kind == "gru":
            total += 3 * out * (size + out + 2)
        elif kind == "batchnorm":
            total += 2 * out if len(weights) == 4 else 0
        elif kind == "prelu":
            alpha = weights[0][0]
            total += 1 if len(set(alpha)) == 1 else len(alpha)  # one shared alpha is written out per channel
        size = out
    return total


def _check_metadata(document: dict[str, Any], sizes: list[int], report: FileReport, check_specs: bool) -> None:
    meta = document.get("metadata")
    if not isinstance(meta, dict):
        report.add("metadata", "missing: RTNeural ignores it, but without it nothing proves this file is the "
                   "trained model (spec, feature contract, reference snapshot)")
        return
    report.model = meta.get("model")
    input_size, output_size = document["in_shape"][-1], sizes[-1]
    spec = meta.get("spec", {})
    if spec.get("input_size") != input_size or spec.get("output_size") != output_size:
        report.add("metadata.spec", f"says {spec.get('input_size')} -> {spec.get('output_size')} but the layers "
                   f"are {input_size} -> {output_size}")
    if "weights_sha256" not in meta:
        report.add("metadata.weights_sha256", "missing: nothing proves the weights are the ones exported")
    elif meta.get("weights_sha256") != weights_sha256(document["layers"]):
        report.add("metadata.weights_sha256", "does not match the weights: the file was edited after export")
    contract = meta.get("feature_contract", {})
    problem = export_normalisation_problem(contract, str(meta.get("run_id", ""))) if isinstance(contract, dict) \
        else None
    if problem:
        report.add("metadata.feature_contract.normalization", problem)
    if len(contract.get("inputs", [])) != input_size or len(contract.get("outputs", [])) != output_size:
        report.add("metadata.feature_contract", f"needs one entry per input ({input_size}) and output "
                   f"({output_size}) element")
    if check_specs:
        _check_spec(document, meta, report)
    _replay(document, meta, report)


def _check_spec(document: dict[str, Any], meta: dict[str, Any], report: FileReport) -> None:
    import kelcore
    from kelcore.api import SpecError

    try:
        spec = kelcore.get_spec(str(meta.get("model")))
    except SpecError as exc:
        report.add("metadata.model", str(exc))
        return
    input_size, output_size = document["in_shape"][-1], document["layers"][-1]["shape"][-1]
    if (input_size, output_size) != (spec.input_size, spec.output_size):
        report.add("in_shape", f"{spec.name} is {input_size} -> {output_size} here but the C++ ModelSpec says "
                   f"{spec.input_size} -> {spec.output_size}")
    count = trainable_parameters(document["layers"], input_size)
    if count != spec.param_count:
        report.add("layers", f"{spec.name} has {count:,} trainable parameters (PyTorch's count, recovered from the "
                   f"file) but the C++ ModelSpec says {spec.param_count:,} ({count - spec.param_count:+,})")


def _replay(document: dict[str, Any], meta: dict[str, Any], report: FileReport) -> None:
    reference = meta.get("reference")
    if not isinstance(reference, dict) or "inputs" not in reference or "outputs" not in reference:
        report.add("metadata.reference", "missing: needs {\"inputs\": [...], \"outputs\": [...]} to prove the file")
        return
    inputs, expected = np.asarray(reference["inputs"], np.float32), np.asarray(reference["outputs"], np.float32)
    if len(inputs) < 16 or inputs.shape[0] != expected.shape[0]:
        report.add("metadata.reference", f"needs at least 16 steps of inputs and outputs; found {len(inputs)} "
                   f"inputs and {len(expected)} outputs")
        return
    replayed = load_model(document).run(inputs)
    if replayed.shape != expected.shape:
        report.add("metadata.reference.outputs", f"shape {expected.shape} but the model yields {replayed.shape}")
        return
    errors = np.abs(replayed - expected).max(axis=1)
    report.max_replay_error = float(errors.max())
    if not report.max_replay_error <= REPLAY_TOLERANCE:
        worst, first = int(np.argmax(errors)), int(np.argmax(errors > REPLAY_TOLERANCE))
        report.add("metadata.reference.outputs", f"replay differs by {report.max_replay_error:.3g} > "
                   f"{REPLAY_TOLERANCE} (largest at step {worst}, first over the tolerance at step {first}): the "
                   "weights do not produce the recorded outputs")
