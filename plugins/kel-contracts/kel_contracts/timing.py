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
    "notes as a double. In training it is the file's tick / its ticks per quarter note; in the plugin the host's "
    "ppq position at the block start + the event's sample offset x qpm / 60 / sample rate (kel::timing). "
    "Nothing else: no parser's own (float32) times are used. A host places events on samples: the grid absorbs "
    "that rounding whenever a file's ticks per quarter note divide 960 (96, 120, 192, 240, 480, 960).",
    f"Beats = tick / {TICKS_PER_BEAT} (a double). A note's duration is (note-off tick - note-on tick) / "
    f"{TICKS_PER_BEAT}, cut to {MAX_NOTE_BEATS:g} beats (a longer note is a missing note-off).",
    "Bars: every time signature starts a bar at its own time and lasts numerator x 4 / denominator beats; "
    "4/4 from beat 0 until the first time signature (a file without one is 4/4 throughout). The plugin gets the "
    "same from its host (bar start and time signature, e.g. JUCE's AudioPlayHead::PositionInfo).",
    f"Tempo: qpm = {MICROSECONDS_PER_MINUTE:,.0f} / microseconds per quarter note (a double), the tempo in force "
    f"at the note's onset: the last tempo event at or before it, {DEFAULT_QPM:g} before the first.",
    "Tempo or time signature changing inside an audio block: a host reports one ppq position, tempo and time "
    "signature per block, at its start; training computes the file's maps at the exact onset. A plugin equals "
    "training when it resolves each block from the next block's play head (one block of latency): "
    "kel::timing::tempoChangeOffset and ResolvedBlock give back where the tempo changed from the ppq advance, and "
    "an event at or after the next block's last bar start takes the next block's time signature from that bar; "
    "exact with at most one change of each per block. With the block-start tempo and bar for the whole block "
    "(ppqAtOffset alone), a note that starts with a tempo change inside a block gets the old tempo. "
    "benchmarks/tempo_per_block.py measures both on real files.",
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


def tempo_change_offset(block_ppq, block_qpm, frames, next_ppq, next_qpm, sample_rate) -> np.ndarray:
    """Where in a block of ``frames`` frames the tempo changed, in samples, from the next block's ppq position and
    tempo (one change per block recovered exactly; ``frames`` when the tempo did not change):
    round-half-even(((next ppq - ppq) x 60 x rate - frames x next qpm) / (qpm - next qpm)), clipped to [0, frames]
    (kel::timing::tempoChangeOffset)."""
    block_qpm, next_qpm = np.asarray(block_qpm, np.float64), np.asarray(next_qpm, np.float64)
    frames = np.asarray(frames, np.float64)
    changed = block_qpm != next_qpm
    slope = np.where(changed, block_qpm - next_qpm, 1.0)
    advance = (np.asarray(next_ppq, np.float64) - block_ppq) * SECONDS_PER_MINUTE * sample_rate
    offset = np.clip(np.rint((advance - frames * next_qpm) / slope), 0.0, frames)
    return np.where(changed, offset, frames)


def ppq_in_resolved_block(block_ppq, block_qpm, offset, change, next_qpm, sample_rate) -> tuple[np.ndarray, ...]:
    """(ppq, tempo) of an event ``offset`` samples into a block whose tempo changed to ``next_qpm`` at ``change``
    samples (tempo_change_offset): kel::timing::ResolvedBlock::ppqAt and qpmAt, the same operations."""
    offset = np.asarray(offset, np.float64)
    before = ppq_at_offset(block_ppq, offset, block_qpm, sample_rate)
    after = ppq_at_offset(ppq_at_offset(block_ppq, change, block_qpm, sample_rate), offset - change, next_qpm,
                          sample_rate)
    late = offset >= change
    return np.where(late, after, before), np.where(late, next_qpm, block_qpm)


def qpm_of(microseconds_per_quarter: np.ndarray | float) -> np.ndarray:
    """Tempo in quarter notes per minute of a MIDI set-tempo value."""
    return MICROSECONDS_PER_MINUTE / np.asarray(microseconds_per_quarter, np.float64)
