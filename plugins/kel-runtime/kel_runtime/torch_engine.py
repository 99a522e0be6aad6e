"""PyTorch eager modules built from an exported RTNeural document itself: the reference the runtime's recorded
outputs are held against (:func:`kel_runtime.stream.torch_outputs`) and one of kel-hostbench's engines."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

__all__ = ["TorchEngine"]


def _t(value: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float32))


def _gru_order(array: torch.Tensor, hidden: int) -> torch.Tensor:
    """RTNeural's gate blocks z, r, c along the last axis -> PyTorch's r, z, n."""
    return torch.cat([array[..., hidden:2 * hidden], array[..., :hidden], array[..., 2 * hidden:]], dim=-1)


class TorchEngine:
    """PyTorch eager modules (Linear, LSTMCell, GRUCell, activations) holding the file's weights."""

    name = "PyTorch eager"

    def __init__(self, document: dict[str, Any]) -> None:
        self.modules = nn.ModuleList()
        self.ops: list[Callable[[torch.Tensor], torch.Tensor]] = []
        self.state: dict[int, Any] = {}
        size = int(document["in_shape"][-1])
        with torch.no_grad():
            for layer in document["layers"]:
                size = self._add(layer, size)

    def _add(self, layer: dict[str, Any], size: int) -> int:
        kind, weights, out = layer["type"], layer["weights"], int(layer["shape"][-1])
        index = len(self.ops)
        if kind in ("dense", "time-distributed-dense"):
            linear = nn.Linear(size, out, bias=len(weights) > 1)
            linear.weight.copy_(_t(weights[0]).T)
            if len(weights) > 1:
                linear.bias.copy_(_t(weights[1]))
            self.modules.append(linear)
            self.ops.append(linear)
        elif kind == "lstm":
            cell = nn.LSTMCell(size, out)
            cell.weight_ih.copy_(_t(weights[0]).T)
            cell.weight_hh.copy_(_t(weights[1]).T)
            cell.bias_ih.copy_(_t(weights[2]))
            cell.bias_hh.zero_()
            self.modules.append(cell)

            def lstm(x: torch.Tensor, cell=cell, index=index) -> torch.Tensor:
                h, c = cell(x, self.state.get(index))
                self.state[index] = (h, c)
                return h
            self.ops.append(lstm)
        elif kind == "gru":
            cell = nn.GRUCell(size, out)
            cell.weight_ih.copy_(_gru_order(_t(weights[0]), out).T)
            cell.weight_hh.copy_(_gru_order(_t(weights[1]), out).T)
            bias = _t(weights[2])
            cell.bias_ih.copy_(_gru_order(bias[0], out))
            cell.bias_hh.copy_(_gru_order(bias[1], out))
            self.modules.append(cell)

            def gru(x: torch.Tensor, cell=cell, index=index) -> torch.Tensor:
                h = cell(x, self.state.get(index))
                self.state[index] = h
                return h
            self.ops.append(gru)
        elif kind == "batchnorm":
            arrays = [_t(w) for w in weights]
            gamma, beta, mean, var = arrays if len(arrays) == 4 else (torch.ones(size), torch.zeros(size), *arrays[:2])
            scale = gamma / torch.sqrt(var + float(layer["epsilon"]))
            self.ops.append(lambda x, scale=scale, mean=mean, beta=beta: scale * (x - mean) + beta)
        elif kind == "prelu":
            alpha = _t(weights[0][0])
            self.ops.append(lambda x, alpha=alpha: torch.where(x >= 0, x, alpha * x))
        elif kind != "activation":
            raise ValueError(f"layer type {kind!r} is not supported by the PyTorch eager engine")
        activation = layer.get("activation", "")
        if kind in ("dense", "time-distributed-dense", "activation") and activation:
            self.ops.append({"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
                             "softmax": lambda x: torch.softmax(x, dim=-1),
                             "elu": nn.functional.elu}[activation])
        return out

    def reset(self) -> None:
        self.state.clear()

    def step(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            y = torch.from_numpy(np.asarray(x, dtype=np.float32))[None]
            for op in self.ops:
                y = op(y)
            return y[0].numpy()

    def memory_bytes(self) -> int:
        """Parameter bytes plus the recurrent state of one step."""
        params = sum(p.numel() * p.element_size() for p in self.modules.parameters())
        state = 0
        for module in self.modules:
            if isinstance(module, nn.LSTMCell):
                state += 2 * module.hidden_size * 4
            elif isinstance(module, nn.GRUCell):
                state += module.hidden_size * 4
        return params + state
