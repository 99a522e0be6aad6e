"""PyTorch ChainModel -> RTNeural JSON layers, float32 bit-exact."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from torch import nn

from kelcore.api import ExportError
from kelcore.api import ACTIVATION_MODULES, TRAIN_ONLY_MODULES

from .rules import unsupported_reason

F32 = np.float32


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(F32)


def _check_finite(index: int, module: nn.Module) -> None:
    for name, value in list(module.named_parameters()) + list(module.named_buffers()):
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ExportError(f"layers[{index}] ({type(module).__name__}).{name} contains NaN or inf: "
                              "RTNeural would run it, the output would be garbage")


def _shape(size: int) -> list[Any]:
    return [None, None, size]


def _dense(module: nn.Linear, activation: str) -> dict[str, Any]:
    weights = [_np(module.weight).T.copy()]
    if module.bias is not None:
        weights.append(_np(module.bias))
    return {"type": "dense", "activation": activation, "shape": _shape(module.out_features), "weights": weights}


def _lstm(module: nn.LSTM) -> dict[str, Any]:
    bias = (module.bias_ih_l0.detach().double() + module.bias_hh_l0.detach().double()).numpy().astype(F32)
    return {"type": "lstm", "activation": "", "shape": _shape(module.hidden_size),
            "weights": [_np(module.weight_ih_l0).T.copy(), _np(module.weight_hh_l0).T.copy(), bias]}


def _gru_order(array: np.ndarray, hidden: int) -> np.ndarray:
    """PyTorch's gate blocks r, z, n -> RTNeural's z, r, n (along axis 0)."""
    r, z, n = array[:hidden], array[hidden:2 * hidden], array[2 * hidden:]
    return np.concatenate([z, r, n], axis=0)


def _gru(module: nn.GRU) -> dict[str, Any]:
    h = module.hidden_size
    return {"type": "gru", "activation": "", "shape": _shape(h), "weights": [
        _gru_order(_np(module.weight_ih_l0), h).T.copy(), _gru_order(_np(module.weight_hh_l0), h).T.copy(),
        np.stack([_gru_order(_np(module.bias_ih_l0), h), _gru_order(_np(module.bias_hh_l0), h)])]}


def _batchnorm(module: nn.BatchNorm1d) -> dict[str, Any]:
    stats = [_np(module.running_mean), _np(module.running_var)]
    weights = ([_np(module.weight), _np(module.bias)] if module.affine else []) + stats
    return {"type": "batchnorm", "activation": "", "shape": _shape(module.num_features), "weights": weights,
            "epsilon": float(module.eps)}


def _prelu(module: nn.PReLU, size: int) -> dict[str, Any]:
    alpha = _np(module.weight)
    alpha = np.full(size, alpha[0], F32) if alpha.size == 1 else alpha
    return {"type": "prelu", "activation": "", "shape": _shape(size), "weights": [[alpha]]}


def _activation(name: str, size: int) -> dict[str, Any]:
    return {"type": "activation", "activation": name, "shape": _shape(size), "weights": []}


def model_layers(layers: nn.ModuleList, input_size: int) -> list[dict[str, Any]]:
    """RTNeural layer entries (weights as float32 numpy arrays) for a ChainModel's ``layers``.

    Train-only modules (dropout, identity) are dropped: the file is the model in
    eval mode. A Linear followed by an activation module becomes one dense entry carrying
    that activation; after any other layer an activation is its own entry
    (RTNeural ignores ``activation`` on lstm, gru, batchnorm and prelu).
    """
    modules = list(enumerate(layers))
    for index, module in modules:
        reason = unsupported_reason(module)
        if reason:
            raise ExportError(f"layers[{index}] ({type(module).__name__}): {reason}; RTNeural cannot load it as trained")
    # dropout and other train-only modules are the identity in eval mode: the file holds the eval-mode model
    modules = [(index, module) for index, module in modules if not isinstance(module, TRAIN_ONLY_MODULES)]
    entries: list[dict[str, Any]] = []
    size, position = input_size, 0
    while position < len(modules):
        index, module = modules[position]
        _check_finite(index, module)
        following = modules[position + 1][1] if position + 1 < len(modules) else None
        if isinstance(module, nn.Linear):
            folded = ACTIVATION_MODULES.get(type(following), "") if following is not None else ""
            entries.append(_dense(module, folded))
            position += 1 if folded else 0
        elif isinstance(module, nn.LSTM):
            entries.append(_lstm(module))
        elif isinstance(module, nn.GRU):
            entries.append(_gru(module))
        elif isinstance(module, nn.BatchNorm1d):
            entries.append(_batchnorm(module))
        elif isinstance(module, nn.PReLU):
            entries.append(_prelu(module, size))
        else:
            entries.append(_activation(ACTIVATION_MODULES[type(module)], size))
        size = entries[-1]["shape"][-1]
        position += 1
    return entries


def format_float(value: np.float32) -> str:
    """Shortest decimal that reads back (via double, as nlohmann/strtod does) to the same float32."""
    text = str(F32(value))
    if F32(float(text)) != F32(value) or not np.isfinite(value):
        text = repr(float(value))
    return text


def _format(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            return "[" + ",".join(format_float(v) for v in value) + "]"
        return "[" + ",".join(_format(row) for row in value) + "]"
    if isinstance(value, list):
        return "[" + ",".join(_format(v) for v in value) + "]"
    raise TypeError(f"cannot format {type(value)}")


def layers_json(entries: list[dict[str, Any]]) -> str:
    """The ``layers`` array as JSON text, one layer per line, float32 bit-exact."""
    import json

    lines = []
    for entry in entries:
        head = {k: v for k, v in entry.items() if k != "weights"}
        text = json.dumps(head)[:-1] + ', "weights": ' + _format(entry["weights"]) + "}"
        lines.append(text)
    return "[\n  " + ",\n  ".join(lines) + "\n]"


def weights_sha256(layers: list[dict[str, Any]]) -> str:
    """sha256 over each layer's type and its weights as little-endian float32, in file order.

    Computed the same way from the export's arrays and from a parsed file, so
    ``validate`` can tell a file whose numbers were edited after export.
    """
    digest = hashlib.sha256()
    for layer in layers:
        digest.update(str(layer.get("type")).encode())
        for array in _flatten(layer.get("weights", [])):
            digest.update(np.asarray(array, dtype=np.float64).astype("<f4").tobytes())
    return digest.hexdigest()


def _flatten(weights: Any) -> list[Any]:
    """Each weight array of a layer, as given (nested lists or numpy arrays)."""
    return list(weights) if isinstance(weights, list) else [weights]
