"""Building and running the native host (native/host.cpp) against RTNeural and KelFeatures.h.

Two builds, both holding the dynamic API (``json_parser::parseJson``) and, when the models folder has the
``KelModels.h`` of ``kelcore export --cpp``, the compile-time ``ModelT`` types:

* ``default``: RTNeural's default CMake configuration on x86-64 (Eigen backend, ``RTNEURAL_USE_AVX`` off, so the
  compiler's SSE2 baseline, alignment 16) at ``-O2``;
* both with ``-DNDEBUG`` as a plugin's release build (Eigen's assertions off);
* ``native``: ``-O3 -march=native`` (alignment 32, as RTNeural's AVX option sets it).

Binaries are built by kel_runtime.build, cached by the hash of everything that goes into them (sources, headers,
KelModels.h, flags, compiler, RTNeural checkout) under ``$KEL_HOSTBENCH_CACHE`` or ``~/.cache/kel-hostbench``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kel_contracts import native_dir
from kel_runtime import build
from kel_runtime import native_dir as runtime_dir
from kel_runtime.build import BuildError

HOST_CPP = Path(__file__).resolve().parent / "native" / "host.cpp"
COMMON = ["-std=c++17", "-DNDEBUG", "-DRTNEURAL_USE_EIGEN=1", "-DEIGEN_STACK_ALLOCATION_LIMIT=0", "-pthread"]
FLAG_SETS: dict[str, list[str]] = {
    "default": ["-O2", "-DRTNEURAL_DEFAULT_ALIGNMENT=16"],
    "native": ["-O3", "-march=native", "-DRTNEURAL_DEFAULT_ALIGNMENT=32"],
}
APIS = ("dynamic", "modelt")


def compiler() -> str:
    """The compiler kel_runtime.build uses (g++ or $CXX), as a path; raises BuildError."""
    command = build.compiler()
    return shutil.which(command[0]) or command[0]


def check_rtneural(rtneural_dir: Path) -> None:
    if not (Path(rtneural_dir) / "RTNeural" / "RTNeural.h").exists():
        raise BuildError(f"RTNEURAL_DIR={rtneural_dir} has no RTNeural/RTNeural.h: point it at an RTNeural checkout")


def compile_flags(rtneural_dir: Path, header_dir: Path, flags: str = "default") -> list[str]:
    """The full g++ flag list of one build (``flags``: a key of FLAG_SETS)."""
    rtneural_dir, header_dir = Path(rtneural_dir), Path(header_dir)
    models = ["-DKEL_HAVE_MODELS"] if (header_dir / "KelModels.h").exists() else []
    return [*COMMON, *FLAG_SETS[flags], *models, f"-I{header_dir}", f"-I{native_dir()}", f"-I{runtime_dir()}",
            f"-I{rtneural_dir}", f"-I{rtneural_dir / 'modules' / 'Eigen'}"]


def rtneural_commit(rtneural_dir: Path) -> str:
    try:
        result = subprocess.run(["git", "-C", str(rtneural_dir), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def compiler_version() -> str:
    try:
        return subprocess.run([compiler(), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (BuildError, OSError, IndexError):
        return "unknown"


def cache_root() -> Path:
    return Path(os.environ.get("KEL_HOSTBENCH_CACHE") or Path.home() / ".cache" / "kel-hostbench")


def _models_folder(header_dir: Path) -> Path:
    """A folder holding only the models folder's KelModels.h (none: an empty one), named by its content, so that the
    same exports in two folders share one build."""
    models = Path(header_dir) / "KelModels.h"
    text = models.read_bytes() if models.exists() else b""
    folder = cache_root() / "models" / (hashlib.sha256(text).hexdigest()[:16] if models.exists() else "none")
    folder.mkdir(parents=True, exist_ok=True)
    if models.exists() and not (folder / "KelModels.h").exists():
        partial = folder / f".KelModels.h.{os.getpid()}"
        partial.write_bytes(text)
        os.replace(partial, folder / "KelModels.h")
    return folder


def build_host(rtneural_dir: Path, header_dir: Path, flags: str = "default") -> Path:
    """host.cpp against RTNeural, the runtime and the folder's KelModels.h, one build (``flags``: a key of
    FLAG_SETS), through kel_runtime.build's cache under :func:`cache_root`. Raises BuildError."""
    check_rtneural(rtneural_dir)
    models = _models_folder(header_dir)
    headers = [*native_dir().glob("*.h"), *runtime_dir().glob("*.h"), *models.glob("KelModels.h")]
    key = json.dumps([compiler_version(), str(Path(rtneural_dir).resolve()), rtneural_commit(rtneural_dir)])
    return build.build(HOST_CPP, compile_flags(rtneural_dir, models, flags), cache_root(), inputs=headers, key=key,
                       name=f"host-{flags}")


def build_all(rtneural_dir: Path, header_dir: Path) -> dict[str, Path]:
    """Both builds (in parallel, cached); ``{flags: binary}``. Raises BuildError."""
    check_rtneural(rtneural_dir)
    with ThreadPoolExecutor(len(FLAG_SETS)) as pool:
        running = {flags: pool.submit(build_host, rtneural_dir, header_dir, flags) for flags in FLAG_SETS}
        return {flags: future.result() for flags, future in running.items()}


def verify(binary: Path, files: list[Path]) -> dict[str, dict[str, Any]]:
    """``host verify``: per file name, the dynamic and ModelT replay errors (None: that API was not built)."""
    result = subprocess.run([str(binary), "verify", *map(str, files)], capture_output=True, text=True, timeout=600)
    rows = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[1] == "dynamic":
            def value(text: str) -> float | None:
                return None if text in ("nan", "-nan") else float(text)
            rows[Path(parts[0]).name] = {"dynamic": value(parts[2]), "modelt": value(parts[4]), "verdict": parts[5]}
    for path in files:
        rows.setdefault(path.name, {"dynamic": None, "modelt": None, "verdict": "FAIL",
                                    "error": (result.stderr.strip() or f"host verify exited {result.returncode}")[-500:]})
    return rows


def bench(binary: Path, api: str, iterations: int, files: list[Path]) -> dict[str, Any]:
    result = subprocess.run([str(binary), "bench", api, str(iterations), *map(str, files)], capture_output=True,
                            text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"host bench {api} exited {result.returncode}: {result.stderr[-1000:]}")
    return json.loads(result.stdout)


def pipeline(binary: Path, api: str, rate: int, block: int, seconds: float, audio_raw: Path, channels: int,
             notes: Path, files: list[Path]) -> dict[str, Any]:
    command = [str(binary), "pipeline", api, str(rate), str(block), f"{seconds:g}", str(audio_raw), str(channels),
               str(notes), *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=max(60.0, 4 * seconds + 60))
    if result.returncode != 0:
        raise RuntimeError(f"host pipeline {api} {rate} {block} exited {result.returncode}: {result.stderr[-1000:]}")
    return json.loads(result.stdout)
