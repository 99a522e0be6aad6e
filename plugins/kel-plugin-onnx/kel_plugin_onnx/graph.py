"""A model's chain of layers as a one-step ONNX graph: ``input[B, in]`` and every recurrent layer's state in,
``output[B, out]`` and the next state out, so a host (ONNX Runtime, anira, ...) runs one time step per call and
carries the state itself, exactly as the C++ plugin does with RTNeural.

Layers: ``nn.Linear`` (Gemm), ``nn.LSTM`` and ``nn.GRU`` (one layer, one direction: ONNX's LSTM/GRU with their
gates reordered from PyTorch's), ``nn.BatchNorm1d`` (eval statistics), ``nn.Tanh``/``ReLU``/``Sigmoid``/
``Softmax(dim=-1)``/``ELU``; train-only modules (dropout) are left out, so the file equals the model in eval mode.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from kelcore.api import TRAIN_ONLY_MODULES, ExportError

from .names import INPUT, OUTPUT

OPSET = 17
IR_VERSION = 8          # the oldest IR that opset 17 needs: the widest range of runtimes loads the file
ACTIVATIONS: dict[type[nn.Module], tuple[str, str, dict[str, Any]]] = {
    nn.Tanh: ("Tanh", "tanh", {}), nn.ReLU: ("Relu", "relu", {}), nn.Sigmoid: ("Sigmoid", "sigmoid", {}),
    nn.ELU: ("Elu", "elu", {"alpha": 1.0}),
}


@dataclass
class StateTensor:
    """One recurrent state tensor: fed as ``name``, returned as ``output``, shape ``[1, B, size]``, zero at reset."""

    name: str
    output: str
    size: int


@dataclass
class Graph:
    """What :func:`build_graph` made: the ONNX model, its state tensors and the last activation."""

    model: onnx.ModelProto
    state: list[StateTensor] = field(default_factory=list)
    output_activation: str = "linear"


def _reorder(weight: np.ndarray, hidden: int, order: list[int]) -> np.ndarray:
    blocks = [weight[i * hidden:(i + 1) * hidden] for i in range(len(order))]
    return np.concatenate([blocks[i] for i in order], axis=0)


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.state: list[StateTensor] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: int | list[str] = 1, **attributes: Any) -> list[str]:
        names = outputs if isinstance(outputs, list) else [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.name(f"{op}_node"), **attributes))
        return names

    def axes(self) -> str:
        if not any(i.name == "axes0" for i in self.initializers):
            self.initializers.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0"))
        return "axes0"

    def recurrent(self, index: int, layer: nn.LSTM | nn.GRU, x: str) -> str:
        if layer.num_layers != 1 or layer.bidirectional or getattr(layer, "proj_size", 0):
            raise ExportError(f"layers[{index}]: {type(layer).__name__} with num_layers={layer.num_layers}, "
                              f"bidirectional={layer.bidirectional}: the onnx exporter writes one layer, one direction")
        hidden, lstm = layer.hidden_size, isinstance(layer, nn.LSTM)
        order = [0, 3, 1, 2] if lstm else [1, 0, 2]   # ONNX gates: LSTM i,o,f,c (PyTorch i,f,g,o); GRU z,r,h (r,z,n)
        w = _reorder(layer.weight_ih_l0.detach().double().numpy(), hidden, order)[None]
        r = _reorder(layer.weight_hh_l0.detach().double().numpy(), hidden, order)[None]
        inputs = [self.node("Unsqueeze", [x, self.axes()])[0], self.constant(f"W{index}", w),
                  self.constant(f"R{index}", r)]
        if layer.bias:
            b = np.concatenate([_reorder(layer.bias_ih_l0.detach().double().numpy(), hidden, order),
                                _reorder(layer.bias_hh_l0.detach().double().numpy(), hidden, order)])[None]
            inputs.append(self.constant(f"B{index}", b))
        else:
            inputs.append("")
        h = StateTensor(f"state{index}_h", f"state{index}_h_out", hidden)
        self.state.append(h)
        inputs += ["", h.name]     # no sequence_lens; initial_h
        outputs = ["", h.output]   # Y unused; Y_h is the next state and the output
        if lstm:
            c = StateTensor(f"state{index}_c", f"state{index}_c_out", hidden)
            self.state.append(c)
            inputs.append(c.name)
            outputs.append(c.output)
            self.node("LSTM", inputs, outputs, hidden_size=hidden)
        else:
            self.node("GRU", inputs, outputs, hidden_size=hidden, linear_before_reset=1)
        return self.node("Squeeze", [h.output, self.axes()])[0]

    def layer(self, index: int, module: nn.Module, x: str) -> tuple[str, str | None]:
        """Append ``module``; its output name and the activation it applies (None: not an activation)."""
        if isinstance(module, nn.Linear):
            inputs = [x, self.constant(f"dense{index}_w", module.weight.detach().double().numpy())]
            if module.bias is not None:
                inputs.append(self.constant(f"dense{index}_b", module.bias.detach().double().numpy()))
            return self.node("Gemm", inputs, transB=1)[0], None
        if isinstance(module, (nn.LSTM, nn.GRU)):
            return self.recurrent(index, module, x), None
        if isinstance(module, nn.BatchNorm1d):
            size = module.num_features
            scale = module.weight.detach().double().numpy() if module.affine else np.ones(size)
            shift = module.bias.detach().double().numpy() if module.affine else np.zeros(size)
            inputs = [x, self.constant(f"bn{index}_scale", scale), self.constant(f"bn{index}_bias", shift),
                      self.constant(f"bn{index}_mean", module.running_mean.double().numpy()),
                      self.constant(f"bn{index}_var", module.running_var.double().numpy())]
            return self.node("BatchNormalization", inputs, epsilon=float(module.eps))[0], None
        if isinstance(module, nn.Softmax):
            if module.dim not in (-1, None, 1):
                raise ExportError(f"layers[{index}]: Softmax(dim={module.dim}): only the last dimension is written")
            return self.node("Softmax", [x], axis=-1)[0], "softmax"
        for kind, (op, activation, attributes) in ACTIVATIONS.items():
            if isinstance(module, kind):
                if isinstance(module, nn.ELU) and module.alpha != 1.0:
                    attributes = {"alpha": float(module.alpha)}
                return self.node(op, [x], **attributes)[0], activation
        raise ExportError(f"layers[{index}]: {type(module).__name__} has no ONNX translation here (supported: "
                          "Linear, LSTM, GRU, BatchNorm1d, Tanh, ReLU, Sigmoid, Softmax, ELU, dropout)")


def build_graph(model: nn.Module, input_size: int, output_size: int, name: str) -> Graph:
    """The one-step graph of ``model.layers`` (a ChainModel's chain), in eval semantics."""
    layers = getattr(model, "layers", None)
    if layers is None:
        raise ExportError(f"{type(model).__name__} has no `layers` chain: the onnx exporter writes ChainModels")
    builder, x, activation = _Builder(), INPUT, "linear"
    for index, module in enumerate(layers):
        if isinstance(module, TRAIN_ONLY_MODULES):
            continue
        x, applied = builder.layer(index, module, x)
        activation = applied or "linear"
    builder.node("Identity", [x], [OUTPUT])
    batch = "batch"
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, input_size])]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [batch, output_size])]
    for state in builder.state:
        inputs.append(helper.make_tensor_value_info(state.name, TensorProto.FLOAT, [1, batch, state.size]))
        outputs.append(helper.make_tensor_value_info(state.output, TensorProto.FLOAT, [1, batch, state.size]))
    graph = helper.make_graph(builder.nodes, name, inputs, outputs, builder.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="kelcore",
                              ir_version=IR_VERSION)
    onnx.checker.check_model(proto)
    return Graph(proto, builder.state, activation)


def weights_sha256(model: onnx.ModelProto) -> str:
    """sha256 over every initializer's name and little-endian float32/int64 values, in graph order: a file whose
    numbers were changed after export no longer matches its metadata."""
    digest = hashlib.sha256()
    for tensor in model.graph.initializer:
        digest.update(tensor.name.encode())
        array = numpy_helper.to_array(tensor)
        digest.update(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    return digest.hexdigest()
