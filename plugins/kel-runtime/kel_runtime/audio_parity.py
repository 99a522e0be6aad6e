"""Build and run the C++ audio feature driver (``native/drivers/audio_driver.cpp`` over
kel_contracts' ``KelAudioFeatures.h``) and compare what it emits with kel_audio_features'
:func:`~kel_audio_features.features_at_host_rate`, element by element."""
from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import kel_contracts
from kel_audio_features import features_at_host_rate

from . import build, native_dir

DRIVER = "drivers/audio_driver.cpp"
PCM_MAGIC = b"KELPCM01"
VEC_MAGIC = b"KELVEC01"
HEADERS = ("KelAudioFeatures.h", "KelContracts.h")


class NativeError(RuntimeError):
    """The driver failed or wrote something unreadable; the message holds the driver's output."""


def build_audio_driver(build_dir: Path, cxx: str | None = None) -> Path:
    """Compile the driver into ``build_dir`` (cached by the hash of its sources, flags and compiler). Raises
    :class:`kel_runtime.build.BuildError`."""
    contracts = kel_contracts.native_dir()
    return build.build(native_dir() / DRIVER, [*build.DRIVER_FLAGS, f"-I{contracts}"], build_dir,
                       inputs=[contracts / h for h in HEADERS], cxx=cxx)


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
