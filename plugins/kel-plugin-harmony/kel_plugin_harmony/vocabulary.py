"""The 64-class chord vocabulary of HarmonyPredictor, as its feature contract defines it (kel_contracts.harmony).

Index ``12 q + r`` for root ``r`` (C = 0) and quality ``q``: 0 major, 1 minor, 2 dominant 7th, 3 minor 7th,
4 diminished; 60 no chord; 61 augmented (any root); 62 suspended (any root); 63 other.
"""
from __future__ import annotations

import numpy as np
from kel_contracts.harmony import AUGMENTED, CHORD_NAMES, NO_CHORD, OTHER, QUALITIES, SUSPENDED
from kel_contracts.melody import PITCH_CLASS_NAMES as NOTE_NAMES

__all__ = ["CHORD_NAMES", "NOTE_NAMES", "QUALITIES", "NO_CHORD", "AUGMENTED", "SUSPENDED", "OTHER", "chord_templates"]


def chord_templates() -> np.ndarray:
    """Binary pitch-class templates ``[60, 12]`` of the root-and-quality classes 0..59."""
    templates = np.zeros((60, 12), dtype=np.float32)
    for q, intervals in enumerate(QUALITIES.values()):
        for root in range(12):
            templates[12 * q + root, [(root + i) % 12 for i in intervals]] = 1.0
    return templates
