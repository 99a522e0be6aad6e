"""Build and run the C++ audio feature driver (``native/drivers/audio_driver.cpp`` over ``KelAudioFeatures.h``)
and compare what it emits with :func:`features_at_host_rate`, element by element."""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .dsp import features_at_host_rate

FLAGS = ("-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off")
PCM_MAGIC = b"KELPCM01"
VEC_MAGIC = b"KELVEC01"
HEADERS = ("KelAudioFeatures.h", "KelContracts.h")


class NativeError(RuntimeError):
    """The driver could not be built or run; the message holds the compiler's or driver's output."""


def native_dir() -> Path:
    from kel_contracts import native_dir as contracts_native_dir

    return contracts_native_dir()


def find_compiler(cxx: str | None = None) -> str | None:
    """``cxx``, else $CXX, else g++ on PATH (None when there is none)."""
    candidate = cxx or os.environ.get("CXX") or "g++"
    return shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)


def build_audio_driver(build_dir: Path, cxx: str | None = None) -> Path:
    """Compile the driver into ``build_dir`` (cached by the hash of its sources, flags and compiler)."""
    compiler = find_compiler(cxx)
    if compiler is None:
        raise NativeError(f"no C++ compiler: {cxx or os.environ.get('CXX') or 'g++'} is not installed")
    include = native_dir()
    source = include / "drivers" / "audio_driver.cpp"
    digest = hashlib.sha256()
    for path in (source, *(include / h for h in HEADERS)):
        digest.update(path.read_bytes())
    digest.update(" ".join((compiler, *FLAGS)).encode())
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    binary = build_dir / f"audio_driver-{digest.hexdigest()[:16]}"
    if binary.exists():
        return binary
    partial = binary.with_name(binary.name + f".{os.getpid()}.tmp")
    result = subprocess.run([compiler, *FLAGS, f"-I{include}", str(source), "-o", str(partial)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise NativeError(f"compiling {source.name} failed:\n{result.stderr}")
    partial.replace(binary)
    return binary


def write_pcm(path: Path, samples: np.ndarray, rate: int) -> None:
    """The driver's input: magic, int32 rate, int32 channels, int64 frames, float32 interleaved."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    with open(path, "wb") as handle:
        handle.write(PCM_MAGIC + struct.pack("<iiq", int(rate), data.shape[1], data.shape[0]))
        handle.write(np.ascontiguousarray(data).astype("<f4").tobytes())


def read_vectors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The driver's output: ``(times [T] float64, vectors [T, size] float32)``."""
    raw = Path(path).read_bytes()
    if raw[:8] != VEC_MAGIC:
        raise NativeError(f"{path} is not a KELVEC01 file")
    count, size = struct.unpack_from("<ii", raw, 8)
    records = np.frombuffer(raw, dtype=np.dtype([("time", "<f8"), ("values", "<f4", (size,))]), count=count,
                            offset=16)
    return records["time"].astype(np.float64), records["values"].astype(np.float32)


def run_driver(driver: Path, samples: np.ndarray, rate: int, seed: int | None = 0, block: int | None = None,
               whole: bool = False) -> dict:
    """Run the driver on ``samples`` ``[N, channels]`` at ``rate``: random blocks from ``seed``, a fixed ``block``
    size, or the ``whole`` buffer at once. Returns times, vectors, allocations and dropped vectors."""
    mode = ["--whole"] if whole else ["--block", str(block)] if block is not None else ["--seed", str(seed)]
    with tempfile.TemporaryDirectory(prefix="kel-audio-") as tmp:
        pcm, vec = Path(tmp) / "in.pcm", Path(tmp) / "out.vec"
        write_pcm(pcm, samples, rate)
        result = subprocess.run([str(driver), str(pcm), str(vec), *mode], capture_output=True, text=True)
        if result.returncode != 0:
            raise NativeError(f"audio_driver failed ({result.returncode}): {result.stderr.strip()}")
        times, vectors = read_vectors(vec)
    counters = dict(line.split() for line in result.stdout.splitlines() if len(line.split()) == 2)
    return {"times": times, "vectors": vectors, "allocations": int(counters["allocations"]),
            "prepare_allocations": int(counters["prepare_allocations"]),
            "dropped": int(counters["dropped"])}


def compare_audio(driver: Path, samples: np.ndarray, rate: int, seed: int = 0) -> dict:
    """The C++ features (random block sizes 1..4096 from ``seed``, then finish()) against
    :func:`features_at_host_rate` over the same audio.

    ``worst_db`` is the largest |C++ - Python| over every element of every vector (``inf`` when the two do not
    emit the same times); ``allocations`` the operator-new calls inside the plugin's real-time calls.
    """
    native = run_driver(driver, samples, rate, seed=seed)
    times, expected = features_at_host_rate(samples, rate)
    same_times = len(times) == len(native["times"]) and np.array_equal(times, native["times"])
    if same_times and len(times):
        difference = np.abs(native["vectors"].astype(np.float64) - expected.astype(np.float64))
        worst, band = float(difference.max()), int(difference.max(axis=0).argmax())
    else:
        worst, band = (0.0 if same_times else float("inf")), -1
    return {"vectors": len(native["times"]), "python_vectors": len(times), "same_times": same_times,
            "worst_db": worst, "worst_band": band, "allocations": native["allocations"],
            "prepare_allocations": native["prepare_allocations"], "dropped": native["dropped"], "rate": int(rate)}
