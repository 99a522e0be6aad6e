"""The musical clock every MIDI contract shares, defined once for training and the plugin: the time arithmetic a
plugin has (the host's ppq position and sample offsets as doubles), rounded to an integer time grid that training
computes exactly the same way from a file's ticks. The Python features (kel_midi_features.song) and
KelMidiFeatures.h (kel::timing) both follow it; docs/CONTRACTS.md says it in words."""
from __future__ import annotations

import numpy as np

DEFAULT_QPM = 120.0
DEFAULT_BAR_BEATS = 4.0
TICKS_PER_BEAT = 960                 # the contracts' time grid: every time is an integer number of 1/960 beats
MAX_NOTE_BEATS = 512.0               # a longer note is a missing note-off: its duration is cut to this
MICROSECONDS_PER_MINUTE = 60_000_000.0
SECONDS_PER_MINUTE = 60.0

TIMING_RULES = (
    f"Time grid: every time is an integer number of ticks, {TICKS_PER_BEAT} per beat (quarter note): "
    f"tick = round-half-even(ppq x {TICKS_PER_BEAT}) in double arithmetic, where ppq is the position in quarter "
    "notes as a double. In the plugin ppq is the host's ppq position at the block start + the event's sample "
    "offset x qpm / 60 / sample rate (kel::timing::ppqAtOffset, the block's tempo); in training it is the file's "
    "tick / its ticks per quarter note. Nothing else: no parser's own (float32) times are used.",
    f"Beats = tick / {TICKS_PER_BEAT} (a double). A note's duration is (note-off tick - note-on tick) / "
    f"{TICKS_PER_BEAT}, cut to {MAX_NOTE_BEATS:g} beats (a longer note is a missing note-off).",
    "Bars: every time signature starts a bar at its own time and lasts numerator x 4 / denominator beats; "
    "4/4 from beat 0 until the first time signature (a file without one is 4/4 throughout). The plugin gets the "
    "same from its host (bar start and time signature at the note, e.g. JUCE's AudioPlayHead::PositionInfo).",
    f"Tempo: qpm = {MICROSECONDS_PER_MINUTE:,.0f} / microseconds per quarter note (a double), the tempo in force "
    f"at the note's onset: the last tempo event at or before it, {DEFAULT_QPM:g} before the first.",
    "Tempo or time signature changing inside an audio block: a host reports one tempo, time signature and ppq "
    "position per block, at its start. The plugin computes every event of the block with them (ppqAtOffset) and "
    "takes the next block's ppq position as it comes, so a drift never outlives its block. Training computes the "
    "file's maps at the exact onset: the plugin with 1-frame blocks. The two differ only on notes after a change "
    "inside the same block; benchmarks/tempo_per_block.py measures how many on real files.",
    "Rounding to a grid is round-half-to-even (numpy.round, std::nearbyint).",
)


def ticks(ppq: np.ndarray | float) -> np.ndarray:
    """Grid ticks of positions in quarter notes (doubles): round-half-even(ppq x TICKS_PER_BEAT)."""
    return np.rint(np.asarray(ppq, np.float64) * TICKS_PER_BEAT).astype(np.int64)


def file_ticks(file_tick: np.ndarray | int, ticks_per_quarter: int) -> np.ndarray:
    """Grid ticks of a MIDI file's ticks: its ppq (file tick / ticks per quarter note, a double) on the grid."""
    return ticks(np.asarray(file_tick, np.float64) / float(ticks_per_quarter))


def beats(grid_ticks: np.ndarray | int) -> np.ndarray:
    """Beats (doubles) of grid ticks: tick / TICKS_PER_BEAT."""
    return np.asarray(grid_ticks, np.int64).astype(np.float64) / TICKS_PER_BEAT


def ppq_at_offset(block_ppq: float, offset: np.ndarray | int, qpm: float, sample_rate: float) -> np.ndarray:
    """The plugin's ppq of an event ``offset`` samples into a block that starts at ``block_ppq`` with tempo ``qpm``
    (kel::timing::ppqAtOffset, the same operations in the same order)."""
    return block_ppq + np.asarray(offset, np.float64) * (qpm / SECONDS_PER_MINUTE) / sample_rate


def qpm_of(microseconds_per_quarter: np.ndarray | float) -> np.ndarray:
    """Tempo in quarter notes per minute of a MIDI set-tempo value."""
    return MICROSECONDS_PER_MINUTE / np.asarray(microseconds_per_quarter, np.float64)
