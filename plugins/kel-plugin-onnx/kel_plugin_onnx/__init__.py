"""kel-plugin-onnx: export to one-step ONNX graphs with explicit recurrent state, proven with ONNX Runtime.

For hosts that run models through ONNX Runtime (anira and others). Public API: :class:`OnnxExporter`,
:class:`OnnxModel` (a file in ONNX Runtime, one step per call), :func:`build_graph`, :func:`read_metadata`.
"""
import kelcore

from .exporter import OnnxExporter, OnnxModel, read_metadata
from .graph import build_graph

__all__ = ["OnnxExporter", "OnnxModel", "build_graph", "read_metadata"]


@kelcore.hookimpl
def kelcore_register_exporters(register):
    register("onnx", OnnxExporter)
