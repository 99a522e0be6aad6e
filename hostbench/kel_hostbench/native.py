"""Building and running the native host (native/host.cpp) against RTNeural and KelFeatures.h.

Two builds, both holding the dynamic API (``json_parser::parseJson``) and, when the models folder has the
``KelModels.h`` of ``kelcore export --cpp``, the compile-time ``ModelT`` types:

* ``default``: RTNeural's default CMake configuration on x86-64 (Eigen backend, ``RTNEURAL_USE_AVX`` off, so the
  compiler's SSE2 baseline, alignment 16) at ``-O2``;
* both with ``-DNDEBUG`` as a plugin's release build (Eigen's assertions off);
* ``native``: ``-O3 -march=native`` (alignment 32, as RTNeural's AVX option sets it).

Binaries are cached by the hash of everything that goes into them (sources, headers, KelModels.h, flags,
compiler, RTNeural checkout) under ``$KEL_HOSTBENCH_CACHE`` or ``~/.cache/kel-hostbench``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kel_contracts import native_dir
from kel_runtime import native_dir as runtime_dir

HOST_CPP = Path(__file__).resolve().parent / "native" / "host.cpp"
COMMON = ["-std=c++17", "-DNDEBUG", "-DRTNEURAL_USE_EIGEN=1", "-DEIGEN_STACK_ALLOCATION_LIMIT=0", "-pthread"]
FLAG_SETS: dict[str, list[str]] = {
    "default": ["-O2", "-DRTNEURAL_DEFAULT_ALIGNMENT=16"],
    "native": ["-O3", "-march=native", "-DRTNEURAL_DEFAULT_ALIGNMENT=32"],
}
APIS = ("dynamic", "modelt")


class BuildError(RuntimeError):
    """The native host could not be built (the message says why)."""


def compiler() -> str:
    found = shutil.which(os.environ.get("CXX", "g++"))
    if found is None:
        raise BuildError(f"no C++ compiler: {os.environ.get('CXX', 'g++')} not found (set CXX)")
    return found


def check_rtneural(rtneural_dir: Path) -> None:
    if not (Path(rtneural_dir) / "RTNeural" / "RTNeural.h").exists():
        raise BuildError(f"RTNEURAL_DIR={rtneural_dir} has no RTNeural/RTNeural.h: point it at an RTNeural checkout")


def compile_flags(rtneural_dir: Path, header_dir: Path, flags: str = "default") -> list[str]:
    """The full g++ flag list of one build (``flags``: a key of FLAG_SETS)."""
    rtneural_dir, header_dir = Path(rtneural_dir), Path(header_dir)
    models = ["-DKEL_HAVE_MODELS"] if (header_dir / "KelModels.h").exists() else []
    return [*COMMON, *FLAG_SETS[flags], *models, f"-I{header_dir}", f"-I{native_dir()}", f"-I{runtime_dir()}",
            f"-I{rtneural_dir}",
            f"-I{rtneural_dir / 'modules' / 'Eigen'}"]


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


def _command(rtneural_dir: Path, header_dir: Path, out: Path, flags: str) -> list[str]:
    return [compiler(), *compile_flags(rtneural_dir, header_dir, flags), str(HOST_CPP), "-o", str(out)]


def build_host(rtneural_dir: Path, header_dir: Path, out: Path, flags: str = "default") -> Path:
    """Compile host.cpp against RTNeural, KelFeatures.h and the folder's KelModels.h into ``out``."""
    check_rtneural(rtneural_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(_command(rtneural_dir, header_dir, out, flags), capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"building {out.name} ({flags}) failed:\n{result.stderr[-4000:]}")
    return out


def cache_root() -> Path:
    return Path(os.environ.get("KEL_HOSTBENCH_CACHE") or Path.home() / ".cache" / "kel-hostbench")


def _build_key(rtneural_dir: Path, header_dir: Path, flags: str) -> str:
    digest = hashlib.sha256()
    digest.update(HOST_CPP.read_bytes())
    for header in sorted([*native_dir().glob("*.h"), *runtime_dir().glob("*.h")]):
        digest.update(header.name.encode() + header.read_bytes())
    models = Path(header_dir) / "KelModels.h"
    digest.update(models.read_bytes() if models.exists() else b"no KelModels.h")
    digest.update(json.dumps([compile_flags(rtneural_dir, "H", flags), compiler_version(),
                              str(Path(rtneural_dir).resolve()), rtneural_commit(rtneural_dir)]).encode())
    return digest.hexdigest()[:20]


def build_all(rtneural_dir: Path, header_dir: Path) -> dict[str, Path]:
    """Both builds (in parallel, cached); ``{flags: binary}``. Raises BuildError."""
    check_rtneural(rtneural_dir)
    binaries, running = {}, {}
    for flags in FLAG_SETS:
        target = cache_root() / _build_key(rtneural_dir, header_dir, flags) / "host"
        binaries[flags] = target
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"host.{os.getpid()}.partial")
            running[flags] = (partial, subprocess.Popen(_command(rtneural_dir, header_dir, partial, flags),
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for flags, (partial, process) in running.items():
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise BuildError(f"building the native host ({flags}) failed:\n{stderr[-4000:]}")
        os.replace(partial, binaries[flags])
    return binaries


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
