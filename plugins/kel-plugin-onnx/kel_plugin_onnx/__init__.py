"""kel-plugin-onnx: export to one-step ONNX graphs with explicit recurrent state, proven with ONNX Runtime.

For hosts that run models through ONNX Runtime (anira and others). Public API: :class:`OnnxExporter`,
:class:`OnnxModel` (a file in ONNX Runtime, one step per call), :func:`build_graph`, :func:`read_metadata`.
"""
import kelcore

from .exporter import OnnxExporter, OnnxModel, read_metadata

__all__ = ["OnnxExporter", "OnnxModel", "build_graph", "read_metadata"]


def __getattr__(name: str):
    if name == "build_graph":  # imports onnx: only when asked for (every kelcore command loads this plugin)
        from .graph import build_graph

        return build_graph
    raise AttributeError(name)


@kelcore.hookimpl
def kelcore_register_exporters(register):
    register("onnx", OnnxExporter)
