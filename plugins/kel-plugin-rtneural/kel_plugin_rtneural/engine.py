"""A numpy float32 reference of RTNeural's inference semantics.

Reads only what RTNeural's ``json_parser::parseJson`` reads (``in_shape`` and,
per layer, ``type``, ``shape``, ``weights``, ``activation``, ``epsilon``) and
computes one time step per :meth:`Engine.step`, keeping recurrent state until
:meth:`Engine.reset` -- the way a plugin host calls RTNeural.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

F32 = np.float32
ACTIVATIONS = ("tanh", "relu", "sigmoid", "softmax", "elu")


class EngineError(ValueError):
    """A layer the reference engine (or RTNeural) cannot run as described."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (F32(1) / (F32(1) + np.exp(-x))).astype(F32)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return (e / e.sum()).astype(F32)


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(x)).astype(F32)


ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": lambda x: np.tanh(x).astype(F32), "relu": lambda x: np.maximum(x, F32(0)),
    "sigmoid": _sigmoid, "softmax": _softmax, "elu": _elu,
}


def _array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).astype(F32)


class _Layer:
    def step(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self) -> None:
        pass


class _Dense(_Layer):
    def __init__(self, weights: list) -> None:
        self.kernel = _array(weights[0])                    # [in][out]
        self.bias = _array(weights[1]) if len(weights) > 1 else np.zeros(self.kernel.shape[1], F32)

    def step(self, x):
        return (x @ self.kernel + self.bias).astype(F32)


class _Activation(_Layer):
    def __init__(self, name: str) -> None:
        self.fn = ACTIVATION_FUNCTIONS[name]

    def step(self, x):
        return self.fn(x)


class _LSTM(_Layer):
    """Gates i, f, c, o in blocks of the 4h axis; c = f*c + i*g; h = o*tanh(c)."""

    def __init__(self, weights: list) -> None:
        self.W, self.U, self.b = (_array(w) for w in weights[:3])
        self.size = self.U.shape[0]
        self.reset()

    def reset(self):
        self.h = np.zeros(self.size, F32)
        self.c = np.zeros(self.size, F32)

    def step(self, x):
        z = (x @ self.W + self.h @ self.U + self.b).astype(F32)
        i, f, g, o = np.split(z, 4)
        self.c = (_sigmoid(f) * self.c + _sigmoid(i) * np.tanh(g)).astype(F32)
        self.h = (_sigmoid(o) * np.tanh(self.c)).astype(F32)
        return self.h


class _GRU(_Layer):
    """Blocks z, r, c; c = tanh(Wc x + b0c + r*(Uc h + b1c)); h = (1-z)*c + z*h."""

    def __init__(self, weights: list) -> None:
        self.W, self.U = _array(weights[0]), _array(weights[1])
        self.b = _array(weights[2])                          # [2][3h]
        self.size = self.U.shape[0]
        self.reset()

    def reset(self):
        self.h = np.zeros(self.size, F32)

    def step(self, x):
        wx = (x @ self.W + self.b[0]).astype(F32)
        uh = (self.h @ self.U + self.b[1]).astype(F32)
        n = self.size
        z = _sigmoid(wx[:n] + uh[:n])
        r = _sigmoid(wx[n:2 * n] + uh[n:2 * n])
        c = np.tanh(wx[2 * n:] + r * uh[2 * n:]).astype(F32)
        self.h = ((F32(1) - z) * c + z * self.h).astype(F32)
        return self.h


class _BatchNorm(_Layer):
    def __init__(self, weights: list, epsilon: float, size: int) -> None:
        if len(weights) == 4:
            gamma, beta, mean, var = (_array(w) for w in weights)
        else:
            gamma, beta = np.ones(size, F32), np.zeros(size, F32)
            mean, var = (_array(w) for w in weights[:2])
        self.multiplier = (gamma / np.sqrt(var + F32(epsilon))).astype(F32)
        self.mean, self.beta = mean, beta

    def step(self, x):
        return (self.multiplier * (x - self.mean) + self.beta).astype(F32)


class _PReLU(_Layer):
    def __init__(self, weights: list) -> None:
        self.alpha = _array(weights[0][0])

    def step(self, x):
        return np.where(x >= 0, x, self.alpha * x).astype(F32)


class Engine:
    """A loaded model: ``step(x)`` one time step, ``reset()`` between sequences."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.input_size = int(document["in_shape"][-1])
        self.layers: list[_Layer] = []
        size = self.input_size
        for index, layer in enumerate(document["layers"]):
            size = self._add(index, layer, size)
        self.output_size = size

    def _add(self, index: int, layer: dict[str, Any], size: int) -> int:
        kind, weights = layer["type"], layer["weights"]
        out = int(layer["shape"][-1])
        if kind in ("dense", "time-distributed-dense"):
            self.layers.append(_Dense(weights))
        elif kind == "lstm":
            self.layers.append(_LSTM(weights))
        elif kind == "gru":
            self.layers.append(_GRU(weights))
        elif kind == "batchnorm":
            self.layers.append(_BatchNorm(weights, float(layer["epsilon"]), size))
        elif kind == "prelu":
            self.layers.append(_PReLU(weights))
        elif kind != "activation":
            raise EngineError(f"layers[{index}]: layer type {kind!r} is not supported by the reference engine")
        activation = layer.get("activation", "")
        if kind in ("dense", "time-distributed-dense", "activation") and activation:
            if activation not in ACTIVATION_FUNCTIONS:
                raise EngineError(f"layers[{index}]: activation {activation!r} is not one RTNeural accepts")
            self.layers.append(_Activation(activation))
        return out

    def reset(self) -> None:
        for layer in self.layers:
            layer.reset()

    def step(self, x: Any) -> np.ndarray:
        y = np.asarray(x, dtype=F32)
        for layer in self.layers:
            y = layer.step(y)
        return y

    def run(self, inputs: Any) -> np.ndarray:
        """Reset, then stream ``inputs[T, in]`` step by step: ``outputs[T, out]``."""
        self.reset()
        return np.stack([self.step(x) for x in np.asarray(inputs, dtype=F32)])


def load_model(source: str | Path | dict[str, Any]) -> Engine:
    """An :class:`Engine` from an RTNeural JSON file (path) or its parsed document."""
    if isinstance(source, dict):
        return Engine(source)
    with open(source, encoding="utf-8") as handle:
        return Engine(json.load(handle))
