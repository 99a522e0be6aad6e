"""Tempo per block against the file's tempo map: how many model inputs a plugin computes differently from training
because its host reports one ppq position, tempo and time signature per audio block (kel_contracts.timing).

A host plays each file: every note-on, note-off and sustain-pedal event, tempo change and time signature lands on
the sample nearest its time in the file's tempo map (double arithmetic); blocks of B frames start at multiples of B;
at each block start the host reports the exact ppq position and the tempo and time signature in force there. The
plugin computes an event's grid tick (960 per beat) in one of two ways:

* ``block``: the block-start tempo for the whole block, kel::timing::ppqAtOffset(block ppq, offset, tempo, rate),
  and the block-start time signature continued through the block;
* ``next``: the block's events wait for the next block's play head, which gives back where the tempo changed
  (kel::timing::tempoChangeOffset, ResolvedBlock) and the bar where a new time signature started.

Training computes the file's maps at the exact onset. The training feature functions run on both views of the song;
printed per file, rate, block size and mode: grid ticks moved (events whose tick differs from training's) and, per
model, input rows that differ in any element / rows, with the largest element difference.

Measured (48 kHz; 44.1 and 96 kHz alike): the Lakh file with 65 tempo changes, mode ``block``: DynamicsEngine
1/2234 rows at 64 frames, 3 at 480, 44 at 4096 (the tempo input off by up to 28 qpm), MelodyTransformer 1, 3, 5 of
172; mode ``next``: 0 rows at every block size; 1-frame blocks: 0 in both modes. A composed song with 48 tempo
changes and 4 time signatures: ``block`` 69/391 DynamicsEngine rows at 64 frames (every note that starts with a tempo
change not on a block start gets the old tempo), ``next`` 0. 30 music21 chorales (pickups, up to 9 time
signatures) and the 9 Groove files: 0 in both modes.

    python benchmarks/tempo_per_block.py                       # real Lakh and Groove files + the tempo/metre ramp
    python benchmarks/tempo_per_block.py --rates 44100,48000,96000 --blocks 1,37,64,480,4096 FILE.mid ...
    python benchmarks/tempo_per_block.py --quick               # the real file with the most tempo changes + the ramp
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import mido
import numpy as np
import symusic

from kel_contracts import timing
from kel_midi_features import Part, Song, compose, load_song
from kel_midi_features import MODELS, training_features
from kel_midi_features.song import MAX_QPM, bar_containing

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


# ----------------------------------------------------------------------------- the host
@dataclass
class HostClock:
    """The file's tempo map as a host plays it: segment i starts at ppq[i] (seconds[i]) with tempo qpm[i]."""

    ppq: np.ndarray
    seconds: np.ndarray
    qpm: np.ndarray

    @classmethod
    def of(cls, score: symusic.Score) -> "HostClock":
        resolution = score.ticks_per_quarter
        events = sorted(((int(t.time), float(timing.qpm_of(t.mspq))) for t in score.tempos if t.mspq > 0),
                        key=lambda e: e[0])
        events = [(t, q) for t, q in events if 0 < q < MAX_QPM]
        ppq, qpm = [0.0], [timing.DEFAULT_QPM]
        for tick, tempo in events:
            position = tick / resolution
            if position <= ppq[-1]:
                qpm[-1] = tempo          # of several events at one time the last one counts
            else:
                ppq.append(position)
                qpm.append(tempo)
        ppq_a, qpm_a = np.array(ppq), np.array(qpm)
        seconds = np.concatenate([[0.0], np.cumsum(np.diff(ppq_a) * timing.SECONDS_PER_MINUTE / qpm_a[:-1])])
        return cls(ppq_a, seconds, qpm_a)

    def seconds_of(self, ppq: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.ppq, ppq, side="right") - 1
        return self.seconds[i] + (ppq - self.ppq[i]) * timing.SECONDS_PER_MINUTE / self.qpm[i]

    def at_sample(self, sample: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        """(ppq position, tempo) at each sample: a tempo change takes effect at its own nearest sample, as every
        other event of the file does."""
        i = np.searchsorted(np.rint(self.seconds * rate).astype(np.int64), sample, side="right") - 1
        seconds = sample / rate
        return self.ppq[i] + (seconds - self.seconds[i]) * self.qpm[i] / timing.SECONDS_PER_MINUTE, self.qpm[i]


def plugin_ticks(clock: HostClock, file_ppq: np.ndarray, rate: int, block: int, mode: str) -> tuple[np.ndarray, ...]:
    """(grid tick, tempo, block start sample) the plugin computes for events at the file's ppq positions: with the
    block's tempo (mode "block"), or with the tempo change recovered from the next block's play head ("next")."""
    sample = np.rint(clock.seconds_of(file_ppq) * rate).astype(np.int64)
    start = sample // block * block
    block_ppq, block_qpm = clock.at_sample(start, rate)
    if mode == "block":
        ppq, qpm = timing.ppq_at_offset(block_ppq, sample - start, block_qpm, rate), block_qpm
    else:
        next_ppq, next_qpm = clock.at_sample(start + block, rate)
        change = timing.tempo_change_offset(block_ppq, block_qpm, block, next_ppq, next_qpm, rate)
        ppq, qpm = timing.ppq_in_resolved_block(block_ppq, block_qpm, sample - start, change, next_qpm, rate)
    return timing.ticks(ppq), qpm, start


def _lookup(keys: np.ndarray, values: np.ndarray):
    """A function of grid ticks -> the value of the first event with that tick."""
    order = np.argsort(keys, kind="stable")
    unique, first = np.unique(keys[order], return_index=True)
    table = values[order][first]

    def at(beats: np.ndarray) -> np.ndarray:
        wanted = timing.ticks(beats)
        index = np.clip(np.searchsorted(unique, wanted), 0, len(unique) - 1)
        if not np.array_equal(unique[index], wanted):
            raise AssertionError("a time that is no event's onset")
        return table[index]
    return at


def plugin_song(path: Path, song: Song, rate: int, block: int, mode: str) -> tuple[Song, int, int]:
    """The song as the plugin sees it in blocks of ``block`` frames at ``rate``; and how many grid ticks moved of
    how many events."""
    score = symusic.Score(str(path), ttype="tick")
    resolution, clock = score.ticks_per_quarter, HostClock.of(score)
    parts, pedal_ticks, pedal_values, onsets, tempos, block_starts = [], [], [], [], [], []
    moved = events = 0
    for track, part in zip(score.tracks, song.parts):
        notes = track.notes.numpy()
        on_ppq = notes["time"] / resolution
        off_ppq = (notes["time"].astype(np.int64) + notes["duration"]) / resolution
        on, qpm, start = plugin_ticks(clock, on_ppq, rate, block, mode)
        off, *_ = plugin_ticks(clock, off_ppq, rate, block, mode)
        moved += int(np.sum(on != timing.ticks(on_ppq)) + np.sum(off != timing.ticks(off_ppq)))
        events += 2 * len(on)
        order = np.lexsort((notes["pitch"], on))
        length = np.minimum(off - on, timing.ticks(timing.MAX_NOTE_BEATS))[order]
        parts.append(replace(part, onset=timing.beats(on[order]), duration=timing.beats(length),
                             pitch=notes["pitch"][order].astype(np.int16),
                             velocity=notes["velocity"][order].astype(np.int16)))
        onsets.append(on[order])
        tempos.append(qpm[order])
        block_starts.append(start[order])
        controls = track.controls.numpy()
        mask = controls["number"] == 64
        if mask.any():
            ticks, *_ = plugin_ticks(clock, controls["time"][mask] / resolution, rate, block, mode)
            moved += int(np.sum(ticks != timing.ticks(controls["time"][mask] / resolution)))
            events += int(mask.sum())
            pedal_ticks.append(ticks)
            pedal_values.append(controls["value"][mask].astype(np.int16))
    pedal_t = np.concatenate(pedal_ticks) if pedal_ticks else np.zeros(0, np.int64)
    pedal_v = np.concatenate(pedal_values) if pedal_values else np.zeros(0, np.int16)
    order = np.argsort(pedal_t, kind="stable")
    view = replace(song, parts=parts, pedal_times=timing.beats(pedal_t[order]), pedal_values=pedal_v[order])
    onset, qpm = np.concatenate(onsets), np.concatenate(tempos)
    view.tempo_at = _lookup(onset, qpm)                       # the block's tempo (or the resolved one)
    # the host's time signature at a sample: the last one that took effect at or before it (at its own sample)
    takes_effect = np.rint(clock.seconds_of(song.bar_map.start) * rate).astype(np.int64)
    start = np.concatenate(block_starts)
    segment = np.maximum(np.searchsorted(takes_effect, start, side="right") - 1, 0)
    following = start + block if mode == "next" else start
    next_segment = np.maximum(np.searchsorted(takes_effect, following, side="right") - 1, 0)
    segment_of, next_segment_of = _lookup(onset, segment), _lookup(onset, next_segment)
    view.bar_at = lambda t: bar_as_of(song, t, segment_of(t), next_segment_of(t))
    return view, moved, events


def bar_as_of(song: Song, t: np.ndarray, segment: np.ndarray, next_segment: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bar index, bar start, bar length) of onsets ``t`` with the time signature in force at their block's start
    (``segment`` of the bar map), continued through the block; or, when the next block's play head is known, the
    next block's (``next_segment``) from the bar where it started, if that bar starts at or before the onset."""
    bars = song.bar_map
    k = np.where(bars.start[next_segment] <= np.asarray(t, np.float64), next_segment, segment)
    return bar_containing(np.asarray(t, np.float64), bars.start[k], bars.length[k], bars.first_bar[k])


# ----------------------------------------------------------------------------- the comparison
def compare(path: Path, rate: int, block: int, mode: str) -> dict:
    song = load_song(path)
    expected = training_features(song)
    view, moved, events = plugin_song(path, song, rate, block, mode)
    actual = training_features(view)
    row = {"moved": moved, "events": events, "models": {}}
    for model, spec in MODELS.items():
        a, b = expected.get(model), actual.get(model)
        if isinstance(a, str) or a is None:
            continue
        if isinstance(b, str) or b is None or b.shape != a.shape:
            row["models"][spec] = {"rows": len(a), "differ": len(a), "worst": float("inf")}
            continue
        difference = np.abs(a.astype(np.float64) - b.astype(np.float64))
        row["models"][spec] = {"rows": len(a), "differ": int((difference.max(axis=1) > 0).sum()),
                               "worst": float(difference.max(initial=0.0))}
    return row


def ramp_file(folder: Path) -> Path:
    """A composed piano song (demo corpora) under a conductor with 48 tempo changes off the bar lines (a ramp
    72 -> 168 -> 72 qpm every 1.5 beats) and time-signature changes (3/4, 7/8, 5/4, then 4/4 cutting a 5/4 bar
    short at beat 46, where the chords of a bar start)."""
    midi, _ = compose(7, piano=True)
    conductor, now = mido.MidiTrack(), 0
    events = [(0.0, mido.MetaMessage("time_signature", numerator=4, denominator=4))]
    events += [(beat, mido.MetaMessage("time_signature", numerator=n, denominator=d))
               for beat, n, d in ((16.0, 3, 4), (25.0, 7, 8), (35.5, 5, 4), (46.0, 4, 4))]
    for i in range(48):
        qpm = 72 + 96 * (1 - abs(i - 24) / 24)
        events.append((1.5 * i, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm))))
    for beat, message in sorted(events, key=lambda e: e[0]):
        tick = int(round(beat * midi.ticks_per_beat))
        conductor.append(message.copy(time=tick - now))
        now = tick
    midi.tracks[0] = conductor
    path = folder / "ramp_48_tempi_4_metres.mid"
    midi.save(str(path))
    return path


def real_files() -> list[Path]:
    return sorted(REAL.glob("lakh/**/*.mid")) + sorted(REAL.glob("groove/**/*.mid")) if REAL.is_dir() else []


def most_tempo_changes(paths: list[Path]) -> list[Path]:
    counts = {path: len(symusic.Score(str(path)).tempos) for path in paths}
    return [max(counts, key=counts.get)] if counts else []


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "-"
    worst = "" if entry["differ"] == 0 else f" ({entry['worst']:.3g})"
    return f"{entry['differ']}/{entry['rows']}{worst}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="MIDI files (default: ../shared/data/real + the ramp)")
    parser.add_argument("--rates", default="48000", help="host sample rates, comma-separated (default 48000)")
    parser.add_argument("--blocks", default="1,64,480,4096", help="block sizes in frames (default 1,64,480,4096)")
    parser.add_argument("--modes", default="block,next", help="block: each block's tempo (ppqAtOffset); next: the "
                        "tempo change recovered from the next block's play head (tempoChangeOffset)")
    parser.add_argument("--quick", action="store_true", help="the real file with the most tempo changes + the ramp")
    args = parser.parse_args(argv)
    try:
        rates = [int(r) for r in args.rates.split(",")]
        blocks = [int(b) for b in args.blocks.split(",")]
        modes = args.modes.split(",")
        if not set(modes) <= {"block", "next"}:
            raise ValueError(args.modes)
    except ValueError:
        print("tempo_per_block: --rates and --blocks take comma-separated integers, --modes block and/or next",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kel-tempo-") as folder:
        files = list(args.files) or (most_tempo_changes(real_files()) if args.quick else real_files())
        if not args.files:
            files.append(ramp_file(Path(folder)))
        missing = [f for f in files if not f.is_file()]
        if missing:
            print(f"tempo_per_block: no such file: {missing[0]}", file=sys.stderr)
            return 2
        names = list(MODELS.values())
        print("rows that differ from training / rows (largest element difference); 'ticks moved': events whose "
              "grid tick differs")
        print(f"{'file':<42} {'tempi':>5} {'rate':>6} {'block':>5} {'mode':>5} {'ticks moved':>12}  " + "  ".join(
            f"{n:<18}" for n in names))
        for path in files:
            tempi = len(symusic.Score(str(path)).tempos)
            for rate in rates:
                for block in blocks:
                    for mode in modes:
                        row = compare(path, rate, block, mode)
                        cells = "  ".join(f"{_cell(row['models'].get(n)):<18}" for n in names)
                        print(f"{path.name[-42:]:<42} {tempi:>5} {rate:>6} {block:>5} {mode:>5} "
                              f"{row['moved']:>5}/{row['events']:<6}  {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
