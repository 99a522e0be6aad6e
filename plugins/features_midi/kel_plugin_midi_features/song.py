"""Reading a MIDI file into note arrays, refusing pathological files before they cost memory.

Parser: symusic (C++), chosen by measurement -- on this machine a typical multi-track Lakh file
parses in ~0.2-0.7 ms with symusic against ~33 ms with pretty_midi and ~26 ms with mido
(see benchmarks/preprocess_midi.py). Times are read in quarter notes (beats).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

MAX_FILE_BYTES = 16 * 1024 * 1024   # the largest LMD files are ~1 MB
MAX_BEATS = 20_000.0                # ~2.8 h at 120 bpm: anything longer is a broken tick count
MAX_NOTES = 300_000
MAX_NOTE_BEATS = 512.0              # a single note longer than this is a missing note-off


class MidiError(ValueError):
    """A MIDI file that cannot be used; the message is the reason that is logged and counted."""


class TooShort(MidiError):
    """A valid file with too little music for a contract (counted as unsupported, not corrupt)."""


@dataclass
class Part:
    """One track's notes, sorted by onset then pitch; times in beats."""

    name: str
    program: int
    is_drum: bool
    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray


@dataclass
class Song:
    parts: list[Part]
    bar_beats: float          # length of a bar in beats (first time signature; 4/4 if none)
    qpm: float                # first tempo (120 if none)
    end: float                # last note end in beats
    pedal_times: np.ndarray   # CC64 events of all tracks, merged, in beats
    pedal_values: np.ndarray

    def pitched(self) -> list[Part]:
        return [p for p in self.parts if not p.is_drum and len(p.pitch)]

    def drums(self) -> list[Part]:
        return [p for p in self.parts if p.is_drum and len(p.pitch)]


def load_song(path: Path) -> Song:
    """Parse ``path``; raises :class:`MidiError` with a reason for any unusable file."""
    size = Path(path).stat().st_size
    if size > MAX_FILE_BYTES:
        raise MidiError(f"file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
    try:
        score = symusic.Score(str(path), ttype="quarter")
    except Exception as exc:  # symusic raises RuntimeError/ValueError on bad bytes
        raise MidiError(f"unreadable MIDI: {exc}") from None
    end = float(score.end())
    if not np.isfinite(end) or end > MAX_BEATS:
        raise MidiError(f"absurd length: {end:.0f} beats (limit {MAX_BEATS:.0f}): broken tick resolution?")
    count = sum(len(track.notes) for track in score.tracks)
    if count == 0:
        raise MidiError("no notes")
    if count > MAX_NOTES:
        raise MidiError(f"{count} notes, over the {MAX_NOTES} limit")
    parts, pedal = [], []
    for track in score.tracks:
        notes = track.notes.numpy()
        order = np.lexsort((notes["pitch"], notes["time"]))
        duration = np.minimum(notes["duration"][order].astype(np.float64), MAX_NOTE_BEATS)
        parts.append(Part(track.name, int(track.program), bool(track.is_drum), notes["time"][order].astype(np.float64),
                          duration, notes["pitch"][order].astype(np.int16), notes["velocity"][order].astype(np.int16)))
        controls = track.controls.numpy()
        mask = controls["number"] == 64
        pedal.append((controls["time"][mask].astype(np.float64), controls["value"][mask].astype(np.int16)))
    signature = score.time_signatures[0] if len(score.time_signatures) else None
    bar = signature.numerator * 4.0 / signature.denominator if signature is not None else 4.0
    qpm = float(score.tempos[0].qpm) if len(score.tempos) else 120.0
    times = np.concatenate([t for t, _ in pedal]) if pedal else np.zeros(0)
    values = np.concatenate([v for _, v in pedal]) if pedal else np.zeros(0, np.int16)
    order = np.argsort(times, kind="stable")
    return Song(parts, bar if bar > 0 else 4.0, qpm if 0 < qpm < 1000 else 120.0, end, times[order], values[order])
