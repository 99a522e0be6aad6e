"""kel-runtime: the plugin's ML runtime in C++ (``native/KelRuntime.h``: one class from host audio, MIDI events and
transport to the five models' decoded outputs, through RTNeural) and the Python side that builds and plays event
streams into it to prove it computes what training computed (:mod:`kel_runtime.stream`)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["native_dir", "RUNTIME_HEADERS"]

RUNTIME_HEADERS = ("KelRuntime.h", "KelRuntimeJuce.h")


def native_dir() -> Path:
    """The folder with KelRuntime.h, its CMakeLists.txt and the JUCE adapter."""
    return Path(__file__).resolve().parent / "native"
