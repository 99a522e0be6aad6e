"""The musical clock every MIDI contract shares: times in beats (quarter notes), bars from the time-signature map,
tempo from the tempo map. Defined once; the Python features and KelFeatures.h both follow it."""
from __future__ import annotations

DEFAULT_QPM = 120.0
DEFAULT_BAR_BEATS = 4.0

TIMING_RULES = (
    "Times are in beats (quarter notes) from the start of the song.",
    "Bars: every time signature starts a bar at its own time and lasts numerator x 4 / denominator beats; "
    "4/4 from beat 0 until the first time signature (a file without one is 4/4 throughout). The plugin gets the "
    "same from its host (bar start and time signature at the note, e.g. JUCE's AudioPlayHead::PositionInfo).",
    "Tempo: the quarter-note tempo (qpm) in force at the note's onset: the last tempo event at or before it, "
    f"{DEFAULT_QPM:g} before the first.",
    "Rounding to a grid is round-half-to-even (numpy.round, std::nearbyint).",
)
