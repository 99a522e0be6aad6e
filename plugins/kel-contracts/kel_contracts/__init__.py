"""kel-contracts: the single definition of every feature contract.

Each model's constants, element layout, version and rules live in one module here (``emotion``, ``melody``,
``harmony``, ``dynamics``, ``groove``). The Python feature libraries, the model plugins' ``feature_contract()``,
the exported metadata, docs/CONTRACTS.md (``render_markdown``) and the C++ constants header ``KelContracts.h``
(``render_cpp``) all come from them; ``native_dir()`` is the folder with ``KelFeatures.h``.
"""
from __future__ import annotations

from pathlib import Path

from . import dynamics, emotion, groove, harmony, melody, timing
from .layout import Contract, Layout, Segment

CONTRACTS: dict[str, Contract] = {c.model: c for c in (emotion.CONTRACT, melody.CONTRACT, harmony.CONTRACT,
                                                       dynamics.CONTRACT, groove.CONTRACT)}


def contract(model: str) -> Contract:
    """The contract of a ModelSpec name (``KeyError`` naming the known ones otherwise)."""
    try:
        return CONTRACTS[model]
    except KeyError:
        raise KeyError(f"no feature contract for {model!r}; known: {', '.join(CONTRACTS)}") from None


def native_dir() -> Path:
    """The folder holding KelFeatures.h, KelContracts.h and the other C++ headers."""
    return Path(__file__).resolve().parent / "native"


__all__ = ["CONTRACTS", "Contract", "Layout", "Segment", "contract", "native_dir", "emotion", "melody", "harmony",
           "dynamics", "groove", "timing"]
