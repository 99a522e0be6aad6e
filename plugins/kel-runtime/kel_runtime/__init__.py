"""kel-runtime: the plugin's ML runtime in C++ (``native/KelRuntime.h``: one class from host audio, MIDI events and
transport to the five models' decoded outputs, through RTNeural) and the Python side that builds and plays event
streams into it to prove it computes what training computed (:mod:`kel_runtime.stream`)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["native_dir", "rtneural_dir", "RUNTIME_HEADERS"]

RUNTIME_HEADERS = ("KelRuntime.h", "KelRuntimeJuce.h")


def native_dir() -> Path:
    """The folder with KelRuntime.h, its CMakeLists.txt and the JUCE adapter."""
    return Path(__file__).resolve().parent / "native"


def rtneural_dir(repo_root: Path | None = None) -> Path | None:
    """RTNeural for builds: ``$RTNEURAL_DIR`` when set, else ``../shared/vendor/RTNeural`` beside the repository
    (read-only: builds go elsewhere); None when neither has RTNeural/RTNeural.h."""
    candidates = [os.environ.get("RTNEURAL_DIR")]
    root = repo_root or Path(__file__).resolve().parents[3]
    candidates.append(str(root.parent / "shared" / "vendor" / "RTNeural"))
    for candidate in candidates:
        if candidate and (Path(candidate) / "RTNeural" / "RTNeural.h").exists():
            return Path(candidate)
    return None
