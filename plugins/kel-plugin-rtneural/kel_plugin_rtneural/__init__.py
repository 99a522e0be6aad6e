"""kel-plugin-rtneural: export to RTNeural JSON, prove it, validate files, write ModelT headers.

Public API: :class:`RTNeuralExporter`, :func:`load_model` / :class:`Engine` (the numpy
reference of RTNeural's semantics), :func:`validate_file`, :func:`cpp_header`.
"""
import kelcore

from .commands import write_plugin_folder
from .cpp_header import cpp_header
from .engine import Engine, EngineError, load_model
from .exporter import RTNeuralExporter
from .rules import SUPPORTED_MODULES, check_rtneural_layers, unsupported_reason
from .validate import FileReport, validate_file

__all__ = ["RTNeuralExporter", "Engine", "EngineError", "load_model", "validate_file", "FileReport", "cpp_header",
           "write_plugin_folder", "SUPPORTED_MODULES", "unsupported_reason", "check_rtneural_layers"]


@kelcore.hookimpl
def kelcore_register_exporters(register):
    register("rtneural", RTNeuralExporter)

