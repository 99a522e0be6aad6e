"""The 64-class chord vocabulary of HarmonyPredictor (contract 1.0.0).

Index ``12 q + r`` for root ``r`` (C = 0) and quality ``q``: 0 major, 1 minor, 2 dominant 7th, 3 minor 7th,
4 diminished; 60 no chord; 61 augmented (any root); 62 suspended (any root); 63 other.
"""
from __future__ import annotations

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "min7": (0, 3, 7, 10), "dim": (0, 3, 6)}
NO_CHORD, AUGMENTED, SUSPENDED, OTHER = 60, 61, 62, 63
CHORD_NAMES = [f"{NOTE_NAMES[r]}:{q}" for q in QUALITIES for r in range(12)] + ["N", "aug", "sus", "other"]


def chord_templates() -> np.ndarray:
    """Binary pitch-class templates ``[60, 12]`` of the root-and-quality classes 0..59."""
    templates = np.zeros((60, 12), dtype=np.float32)
    for q, intervals in enumerate(QUALITIES.values()):
        for root in range(12):
            templates[12 * q + root, [(root + i) % 12 for i in intervals]] = 1.0
    return templates
