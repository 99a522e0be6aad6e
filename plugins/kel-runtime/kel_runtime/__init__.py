"""kel-runtime: the plugin's ML runtime in C++ (``native/KelRuntime.h``: one class from host audio, MIDI events and
transport to the five models' decoded outputs, through RTNeural) and the Python side that proves the plugin's side
computes what training computed: the stream player (:mod:`kel_runtime.stream`), the feature parity drivers
(:mod:`kel_runtime.midi_parity`, :mod:`kel_runtime.audio_parity`, ``native/drivers/``), the ``kelcore native-check``
command (:mod:`kel_runtime.native_check`) and the one cached native build helper they share
(:mod:`kel_runtime.build`). It stands above the feature libraries (kel-midi-features, kel-audio-features), which
it imports; kel-contracts imports neither."""
from __future__ import annotations

from pathlib import Path

__all__ = ["native_dir", "RUNTIME_HEADERS"]

RUNTIME_HEADERS = ("KelRuntime.h", "KelRuntimeJuce.h")


def native_dir() -> Path:
    """The folder with KelRuntime.h, its CMakeLists.txt and the JUCE adapter."""
    return Path(__file__).resolve().parent / "native"
