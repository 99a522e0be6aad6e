"""Which torch device a job trains on: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

``auto`` picks CUDA, then Apple's MPS, then the CPU. A device that is asked for by
name and absent is an error (raised while the pipeline file is checked), never a
silent fallback. Final evaluation and export always run on the CPU in float32.
"""
from __future__ import annotations

import re

import torch

DEVICE_PATTERN = r"^(auto|cpu|cuda|cuda:\d+|mps)$"


class DeviceError(ValueError):
    """The device asked for does not exist on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def check_device(name: str) -> str:
    """``name`` if this machine has it (``auto`` always works); else :class:`DeviceError` saying why."""
    if not re.match(DEVICE_PATTERN, name):
        raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "this torch has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available ({build}; torch "
                              f"{torch.__version__}); use device = \"auto\" or \"cpu\"")
        index = int(name.split(":")[1]) if ":" in name else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise DeviceError(f"device {name!r} asked for, but this machine has {count} CUDA device(s) "
                              f"(cuda:0..cuda:{count - 1})")
    if name == "mps" and not _mps_available():
        raise DeviceError("device 'mps' asked for, but Apple's MPS backend is not available on this machine; "
                          "use device = \"auto\" or \"cpu\"")
    return name


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``: ``auto`` = CUDA, then MPS, then CPU; a named one must exist."""
    check_device(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def describe(device: torch.device, asked: str) -> str:
    """One line for the run log: the device used and how it was chosen."""
    text = str(device)
    if device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(device)})"
    if asked == "auto":
        text += " (auto: " + ("CUDA" if device.type == "cuda" else "MPS" if device.type == "mps"
                              else "no CUDA or MPS device") + ")"
    return text
