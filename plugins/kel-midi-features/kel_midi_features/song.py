"""Reading a MIDI file into note arrays, refusing pathological files before they cost memory.

Parser: symusic (C++), chosen by measurement -- on this machine a typical multi-track Lakh file
parses in ~0.2-0.7 ms with symusic against ~33 ms with pretty_midi and ~26 ms with mido
(see benchmarks/preprocess_midi.py). Times are read as the file's integer ticks and put on the contracts' time
grid exactly as a plugin puts its host's ppq position there (``kel_contracts.timing``: grid tick =
round(960 x file tick / ticks per quarter), beats = grid tick / 960, durations from the note-off's grid tick minus
the note-on's): no parser's float32 beats.

The musical clock follows ``kel_contracts.timing``: the tempo at a note is the tempo map's value at its onset, and
bars follow every time signature of the file (:class:`BarMap`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import symusic

from kel_contracts import timing
from kel_contracts.timing import DEFAULT_BAR_BEATS, DEFAULT_QPM, MAX_NOTE_BEATS

MAX_FILE_BYTES = 16 * 1024 * 1024   # the largest LMD files are ~1 MB
MAX_BEATS = 20_000.0                # ~2.8 h at 120 bpm: anything longer is a broken tick count
MAX_NOTES = 300_000
MAX_QPM = 1000.0                    # tempo events outside (0, MAX_QPM) are ignored (broken files)


class MidiError(ValueError):
    """A MIDI file that cannot be used; the message is the reason that is logged and counted."""


class TooShort(MidiError):
    """A valid file with too little music for a contract (counted as unsupported, not corrupt)."""


@dataclass
class Part:
    """One track's notes, sorted by onset then pitch; times in beats (grid ticks / 960, kel_contracts.timing)."""

    name: str
    program: int
    is_drum: bool
    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray


def bar_containing(t: np.ndarray, start: np.ndarray, length: np.ndarray, first_bar: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bar index, bar start, bar length) of times ``t`` in runs of bars of ``length`` from ``start`` whose first bar
    is ``first_bar``: a time signature's segment, or a block's bar continued to a later event of the block
    (kel::timing::barContaining, the same operations)."""
    j = np.floor((t - start) / length)
    j = j - (start + j * length > t)            # guard the division's rounding, both ways
    j = j + (start + (j + 1) * length <= t)
    return first_bar + j.astype(np.int64), start + j * length, length


@dataclass
class BarMap:
    """Bars from the time-signature map (kel_contracts.timing): segment ``k`` starts a bar at ``start[k]`` and
    holds bars of ``length[k]`` beats until ``start[k + 1]`` (the last bar before a new time signature may be
    cut short); ``first_bar[k]`` is the index of its first bar. Segment 0 starts at beat 0."""

    start: np.ndarray
    length: np.ndarray
    first_bar: np.ndarray

    @classmethod
    def from_signatures(cls, times: list[float], lengths: list[float]) -> "BarMap":
        """From time-signature events (beats, bar length in beats), in file order; 4/4 before the first. Of
        several events at the same time the last one counts."""
        start, length = [0.0], [DEFAULT_BAR_BEATS]
        for time, bar in sorted(zip(times, lengths), key=lambda e: e[0]):   # stable: file order on ties
            time = max(float(time), 0.0)
            if time <= start[-1]:       # at the latest segment's start (a signature at beat 0 replaces 4/4)
                length[-1] = float(bar)
            else:
                start.append(time)
                length.append(float(bar))
        start_a, length_a = np.asarray(start, np.float64), np.asarray(length, np.float64)
        counts = np.ceil((start_a[1:] - start_a[:-1]) / length_a[:-1]).astype(np.int64)
        first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(start_a, length_a, first)

    def locate(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bar index, bar start, bar length) of each time ``t`` (beats, >= 0)."""
        t = np.asarray(t, np.float64)
        k = np.maximum(np.searchsorted(self.start, t, side="right") - 1, 0)
        return bar_containing(t, self.start[k], self.length[k], self.first_bar[k])

    def bars_before(self, end: float) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of every bar that starts before ``end``: a bar ends where the next one starts (the last
        bar of a time signature may be cut short by the next signature)."""
        begins, finishes = [], []
        for k in range(len(self.start)):
            if self.start[k] >= end:
                break
            stop = self.start[k + 1] if k + 1 < len(self.start) else end
            index = np.arange(int(np.ceil((min(stop, end) - self.start[k]) / self.length[k])))
            finish = self.start[k] + (index + 1) * self.length[k]
            if k + 1 < len(self.start):
                finish = np.minimum(finish, stop)
            begins.append(self.start[k] + index * self.length[k])
            finishes.append(finish)
        begin = np.concatenate(begins) if begins else np.zeros(0)
        finish = np.concatenate(finishes) if finishes else np.zeros(0)
        keep = begin < end
        return begin[keep], finish[keep]


@dataclass
class Song:
    parts: list[Part]
    bar_map: BarMap
    tempo_times: np.ndarray   # tempo map: qpm tempo_qpm[i] from beat tempo_times[i] (sorted)
    tempo_qpm: np.ndarray
    end: float                # last note end in beats
    pedal_times: np.ndarray   # CC64 events of all tracks, merged, in beats
    pedal_values: np.ndarray
    signatures: list[tuple[float, int, int]] = field(default_factory=list)   # (time, numerator, denominator)

    @property
    def qpm(self) -> float:
        """The first tempo (DEFAULT_QPM if the file has none): the training-side arousal proxy uses it."""
        return float(self.tempo_qpm[0]) if len(self.tempo_qpm) and self.tempo_times[0] <= 0 else DEFAULT_QPM

    def tempo_at(self, t: np.ndarray | float) -> np.ndarray:
        """qpm in force at each time ``t``: the last tempo event at or before it, DEFAULT_QPM before the first."""
        t = np.asarray(t, np.float64)
        index = np.searchsorted(self.tempo_times, t, side="right") - 1
        if len(self.tempo_qpm) == 0:
            return np.full(t.shape, DEFAULT_QPM)
        return np.where(index >= 0, self.tempo_qpm[np.maximum(index, 0)], DEFAULT_QPM)

    def bar_at(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bar index, bar start, bar length) of each onset ``t`` from the time-signature map."""
        return self.bar_map.locate(t)

    def pedal_at(self, t: np.ndarray | float, down: int) -> np.ndarray:
        """1.0 where the last CC64 event at or before ``t`` has a value >= ``down``, else 0.0."""
        t = np.asarray(t, np.float64)
        if len(self.pedal_times) == 0:
            return np.zeros(t.shape)
        index = np.searchsorted(self.pedal_times, t, side="right") - 1
        return np.where(index >= 0, self.pedal_values[np.maximum(index, 0)] >= down, False).astype(np.float64)

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
        score = symusic.Score(str(path), ttype="tick")
    except Exception as exc:  # symusic raises RuntimeError/ValueError on bad bytes
        raise MidiError(f"unreadable MIDI: {exc}") from None
    resolution = int(score.ticks_per_quarter)
    if resolution <= 0:
        raise MidiError(f"ticks per quarter note is {resolution}: expected a positive division (SMPTE time is "
                        "not supported)")
    end = float(score.end()) / resolution
    if not np.isfinite(end) or end > MAX_BEATS:
        raise MidiError(f"absurd length: {end:.0f} beats (limit {MAX_BEATS:.0f}): broken tick resolution?")
    count = sum(len(track.notes) for track in score.tracks)
    if count == 0:
        raise MidiError("no notes")
    if count > MAX_NOTES:
        raise MidiError(f"{count} notes, over the {MAX_NOTES} limit")

    def grid(file_tick) -> np.ndarray:
        return timing.file_ticks(file_tick, resolution)

    longest = timing.ticks(MAX_NOTE_BEATS)
    parts, pedal = [], []
    for track in score.tracks:
        notes = track.notes.numpy()
        on = grid(notes["time"])
        off = grid(notes["time"].astype(np.int64) + notes["duration"])
        order = np.lexsort((notes["pitch"], on))
        length = np.minimum(off - on, longest)[order]
        parts.append(Part(track.name, int(track.program), bool(track.is_drum), timing.beats(on[order]),
                          timing.beats(length), notes["pitch"][order].astype(np.int16),
                          notes["velocity"][order].astype(np.int16)))
        controls = track.controls.numpy()
        mask = controls["number"] == 64
        pedal.append((timing.beats(grid(controls["time"][mask])), controls["value"][mask].astype(np.int16)))
    tempos = [(int(t.time), float(timing.qpm_of(t.mspq))) for t in score.tempos if t.mspq > 0]
    tempos = [(t, q) for t, q in tempos if 0 < q < MAX_QPM]
    tempos.sort(key=lambda e: e[0])   # stable: of several events at one time the last one counts
    signatures = [(float(timing.beats(grid(s.time))), int(s.numerator), int(s.denominator))
                  for s in score.time_signatures if s.numerator > 0 and s.denominator > 0]
    bar_map = BarMap.from_signatures([t for t, _, _ in signatures], [n * 4.0 / d for _, n, d in signatures])
    times = np.concatenate([t for t, _ in pedal]) if pedal else np.zeros(0)
    values = np.concatenate([v for _, v in pedal]) if pedal else np.zeros(0, np.int16)
    order = np.argsort(times, kind="stable")
    tempo_times = timing.beats(grid(np.array([t for t, _ in tempos], np.int64)))
    tempo_qpm = np.array([q for _, q in tempos], np.float64)
    return Song(parts, bar_map, tempo_times, tempo_qpm, float(timing.beats(grid(score.end()))), times[order],
                values[order], signatures)
