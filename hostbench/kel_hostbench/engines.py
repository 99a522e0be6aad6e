"""The Python engines: kel-plugin-rtneural's numpy reference engine and PyTorch eager, both built from the
exported JSON file itself (so a tampered file is what they run), replayed against ``metadata.reference`` and timed
one step at a time the way the plugin calls a model."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from kel_plugin_rtneural import load_model
from kel_runtime.torch_engine import TorchEngine

TOLERANCE = 1e-5   # the exporter's: a file must replay within this of PyTorch's snapshot


class NumpyEngine:
    name = "numpy reference (kel_plugin_rtneural)"

    def __init__(self, document: dict[str, Any]) -> None:
        self.engine = load_model(document)

    def reset(self) -> None:
        self.engine.reset()

    def step(self, x: np.ndarray) -> np.ndarray:
        return self.engine.step(x)

    def memory_bytes(self) -> int:
        """Bytes of every array the loaded engine holds (weights and recurrent state)."""
        return sum(value.nbytes for layer in self.engine.layers for value in vars(layer).values()
                   if isinstance(value, np.ndarray))


ENGINES = {"numpy": NumpyEngine, "torch": TorchEngine}


def replay_error(engine: Any, document: dict[str, Any]) -> float:
    """max |engine - metadata.reference.outputs| over the snapshot, from a reset state (inf on a shape error)."""
    reference = document["metadata"]["reference"]
    engine.reset()
    worst = 0.0
    for x, expected in zip(reference["inputs"], reference["outputs"]):
        y = np.asarray(engine.step(np.asarray(x, np.float32)), np.float64)
        expected = np.asarray(expected, np.float64)
        if y.shape != expected.shape or not np.all(np.isfinite(y)):
            return float("inf")
        worst = max(worst, float(np.abs(y - expected).max()))
    engine.reset()
    return worst


def time_pipeline(engines: dict[str, Any], documents: dict[str, dict[str, Any]], iterations: int
                  ) -> tuple[dict[str, list[float]], list[float]]:
    """Every model one step in turn per iteration (the full pipeline), after a warm-up; µs per model and per
    iteration."""
    inputs = {name: np.asarray(doc["metadata"]["reference"]["inputs"], np.float32) for name, doc in documents.items()}
    per_model: dict[str, list[float]] = {name: [] for name in engines}
    total: list[float] = []
    for engine in engines.values():
        engine.reset()
    for it in range(-max(iterations // 10, 5), iterations):
        step = 0.0
        for name, engine in engines.items():
            x = inputs[name][abs(it) % len(inputs[name])]
            start = time.perf_counter()
            engine.step(x)
            us = (time.perf_counter() - start) * 1e6
            step += us
            if it >= 0:
                per_model[name].append(us)
        if it >= 0:
            total.append(step)
    return per_model, total


def stats(samples: list[float]) -> dict[str, Any]:
    """The figures host.cpp prints for a list of µs: count, p50, p99, max, mean, 51 quantiles."""
    if not samples:
        return {"count": 0, "p50": None, "p99": None, "max": None, "mean": None, "quantiles": []}
    array = np.sort(np.asarray(samples, np.float64))
    return {"count": int(array.size), "p50": float(np.quantile(array, 0.5)), "p99": float(np.quantile(array, 0.99)),
            "max": float(array[-1]), "mean": float(array.mean()),
            "quantiles": [float(q) for q in np.quantile(array, np.linspace(0, 1, 51))]}
