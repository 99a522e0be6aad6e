"""HarmonyPredictor 128 -> 64: a bar's melody pitch activity in, a distribution over 64 chord classes out."""
from __future__ import annotations

from .layout import Contract, Layout, Segment
from .melody import PITCH_CLASS_NAMES

QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "min7": (0, 3, 7, 10), "dim": (0, 3, 6)}
NO_CHORD, AUGMENTED, SUSPENDED, OTHER = 60, 61, 62, 63
AUGMENTED_INTERVALS, SUSPENDED_INTERVALS = (0, 4, 8), (0, 5, 7)
CHORD_NAMES = tuple([f"{PITCH_CLASS_NAMES[r]}:{q}" for q in QUALITIES for r in range(12)]
                    + ["N", "aug", "sus", "other"])
# Training-side chord estimate from all non-drum tracks: score = on-chord share - OFF_PENALTY x off-chord share
# - NOTE_PENALTY x template notes; best share below OTHER_BELOW -> "other"; a silent bar -> "N".
OFF_PENALTY, NOTE_PENALTY, OTHER_BELOW = 0.6, 0.05, 0.5
MIN_BARS = 4

CONTRACT = Contract(
    model="HarmonyPredictor",
    version="2.0.0",
    datasets="lakh task = \"harmony\"",
    step="one bar (bars from the time-signature map)",
    plugin_supplies="the melody notes (pitch, onset and duration in beats) that sound in the bar, and the bar's "
                    "start and length; reset at the start of each song",
    inputs=Layout((Segment("melody_pitch", 128, "duration-weighted activity of MIDI pitch {label} in the bar's "
                           "melody", "0..1 (divided by the bar's maximum)"),)),
    input_normalisation="identity",
    outputs=Layout((Segment("chord", 64, "probability of chord class {label}", "0..1, sums to 1",
                            CHORD_NAMES),)),
    output_normalisation="softmax",
    targets="[chord_class] 0..63, the bar's chord estimated from all non-drum tracks", target_size=1,
    decoding="class 12 q + r is root r (C = 0) with quality q in maj, min, 7, min7, dim; 60 N (no chord), "
             "61 aug, 62 sus, 63 other; the names are CHORD_NAMES (kel::harmony::kChordNames in C++).",
    changes=("2.0.0: bars follow every time signature of the file (not only the first).",
             "1.0.0: first version."),
    constants={"qualities": QUALITIES, "special": [NO_CHORD, AUGMENTED, SUSPENDED, OTHER],
               "augmented": AUGMENTED_INTERVALS, "suspended": SUSPENDED_INTERVALS,
               "estimator": [OFF_PENALTY, NOTE_PENALTY, OTHER_BELOW], "min_bars": MIN_BARS},
    details=(
        "Activity of pitch p in a bar [s, e): the sum over the melody notes of pitch p of the overlap of "
        "[onset, onset + duration) with [s, e), in beats; then every element is divided by the bar's largest "
        "(a silent bar is all zero).",
        "Target (training): the same activity over all non-drum tracks, folded to 12 pitch classes and divided by "
        "its sum, matched to the 60 root/quality templates plus augmented and suspended triads.",
    ),
)
