"""music21 score -> a standard MIDI file the MIDI feature library (kel_midi_features) reads like any Lakh file.

Chosen by measurement (see docs/DATASETS.md): parsing a chorale with music21 costs ~50-100 ms, writing its MIDI with
mido ~2 ms and re-reading it with symusic < 1 ms, so the corpus is converted once into ``root`` and every later run
(and every feature change) re-reads the MIDI at Lakh speed; the C++ feature comparison runs on the same files.

The bar grid is written as the score notates it: every measure whose length differs from its time signature's (a
pickup / anacrusis, a bar split at a repeat, a short last bar) gets its own time-signature event of its real length
(e.g. a one-beat pickup in 4/4 is a 1/4 bar followed by 4/4), so every reader of the file -- the training features,
the C++ driver, a DAW -- puts the bar lines where the score has them.
"""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import mido

TICKS = 480
VELOCITY = 80
CONVERTER_VERSION = 4     # 3: every part on one bar grid (repaired or refused); 4: a "chorale" without soprano refused


def _signature_of(length: Fraction) -> tuple[int, int]:
    """(numerator, denominator) of a bar of ``length`` quarter notes, denominator a power of two (4..64)."""
    for denominator in (4, 8, 16, 32, 64):
        numerator = length * denominator / 4
        if numerator.denominator == 1 and numerator > 0:
            return int(numerator), denominator
    raise ValueError(f"bar of {float(length)} beats has no time signature")


def bar_signatures(score) -> list[tuple[Fraction, int, int]]:
    """(offset in quarter notes, numerator, denominator) at every change of the notated bar length."""
    part = max(score.parts, key=lambda p: len(p.getElementsByClass("Measure"))) if score.parts else score
    measures = list(part.getElementsByClass("Measure"))
    events: list[tuple[Fraction, int, int]] = []
    for index, measure in enumerate(measures):
        start = Fraction(measure.offset).limit_denominator(1 << 12)
        if index + 1 < len(measures):
            length = Fraction(measures[index + 1].offset).limit_denominator(1 << 12) - start
        else:
            length = Fraction(measure.duration.quarterLength).limit_denominator(1 << 12)
        if length <= 0:
            continue
        signature = measure.timeSignature or measure.getContextByClass("TimeSignature")
        full = Fraction(signature.barDuration.quarterLength).limit_denominator(1 << 12) if signature else None
        if signature is not None and full == length:
            pair = (int(signature.numerator), int(signature.denominator))
        else:
            try:
                pair = _signature_of(length)
            except ValueError:
                continue
        if not events or events[-1][1:] != pair:
            events.append((start, *pair))
    return events or [(Fraction(0), 4, 4)]


class BarGridError(ValueError):
    """The parts of a score do not share one bar grid and no mechanical repair puts them back on one."""


def _fraction(value) -> Fraction:
    return Fraction(value).limit_denominator(1 << 12)


def _bar_length(measure) -> Fraction:
    return _fraction(measure.duration.quarterLength)


def _containers(measure) -> list[tuple[Any, Fraction]]:
    """The measure and its voices, each with its offset in the measure."""
    return [(measure, Fraction(0))] + [(voice, _fraction(voice.offset)) for voice in measure.voices]


def _sounding_end(measure) -> Fraction:
    """Where the measure's last note ends (0 when it holds only rests)."""
    return max((shift + _fraction(e.offset) + _fraction(e.duration.quarterLength)
                for container, shift in _containers(measure) for e in container.notes), default=Fraction(0))


def _cut_to(measure, length: Fraction) -> None:
    """Cut ``measure`` back to ``length``: the rests past it removed or shortened, zero-length marks past it (a clef
    before the next bar) moved to it. Only called where no note sounds past ``length``."""
    for container, shift in _containers(measure):
        for element in list(container.elements):
            if element is container or element.isStream:
                continue
            start = shift + _fraction(element.offset)
            size = _fraction(element.duration.quarterLength)
            if start + size <= length:
                continue
            if size == 0:
                container.setElementOffset(element, float(length - shift))
            elif start >= length:
                container.remove(element)
            else:
                element.duration.quarterLength = float(length - start)
        container.coreElementsChanged()


def _pad_to(measure, length: Fraction) -> None:
    """Fill a bar up to ``length`` with a rest (a part silent in the bar, or its last bar held shorter)."""
    from music21 import note

    rest = note.Rest(quarterLength=float(length - _bar_length(measure)))
    measure.insert(float(_bar_length(measure)), rest)
    measure.coreElementsChanged()


def one_bar_grid(score) -> list[str]:
    """Put every part of ``score`` (in place) on one bar grid -- the same bars, at the same offsets, of the same
    lengths -- or raise :class:`BarGridError` saying where the parts drift apart.

    Repairs only what is mechanical: where the parts disagree on a bar's length, its length is the longest that a
    note sounds in it (at least the shortest part's); a part whose bar is longer only by rests (music21 reads some
    whole-bar rests twice: 21 of the 49 Monteverdi files, bwv171.6) is cut back to it, a part silent
    in a shorter bar (or held shorter in the last bar) is filled with a rest, and the later bars move accordingly.
    A note that would have to move is not repaired: the piece is refused. Returns the repairs made (empty: none
    were needed)."""
    parts = list(score.parts) if hasattr(score, "parts") else []
    measured = [list(part.getElementsByClass("Measure")) for part in parts]
    if len(parts) < 2 or not any(measured):
        return []
    names = [part.partName or part.id or f"part {n + 1}" for n, part in enumerate(parts)]
    counts = {len(bars) for bars in measured}
    if len(counts) > 1:
        raise BarGridError("parts have different numbers of bars: " + ", ".join(
            f"{name} {len(bars)}" for name, bars in zip(names, measured)))
    repairs: list[str] = []
    total = counts.pop()
    for index in range(total):
        bars = [part_bars[index] for part_bars in measured]
        lengths = [_bar_length(bar) for bar in bars]
        if len(set(lengths)) == 1:
            continue
        target = max(min(lengths), max(_sounding_end(bar) for bar in bars))
        for name, bar, length in zip(names, bars, lengths):
            if length > target:
                _cut_to(bar, target)
                repairs.append(f"bar {bar.number} of {name}: rests past {float(target):g} beats removed")
            elif length < target:
                if _sounding_end(bar) > 0 and index + 1 < total:     # the last bar moves nothing after it
                    raise BarGridError(f"bar {bar.number} is {float(length):g} beats long in {name}, "
                                       f"{float(target):g} in another part")
                _pad_to(bar, target)
                repairs.append(f"bar {bar.number} of {name}: filled with a rest to {float(target):g} beats")
    if repairs:
        for part, bars in zip(parts, measured):
            now = _fraction(bars[0].offset)
            for bar in bars:
                part.setElementOffset(bar, float(now))
                now += _bar_length(bar)
            part.coreElementsChanged()
        score.coreElementsChanged()
    grids = [[(_fraction(bar.offset), _bar_length(bar)) for bar in bars] for bars in measured]
    for name, grid in zip(names[1:], grids[1:]):
        if grid != grids[0]:
            index = next(i for i, (a, b) in enumerate(zip(grids[0], grid)) if a != b)
            (start, length), (other, other_length) = grids[0][index], grid[index]
            raise BarGridError(f"bar {measured[0][index].number}: beat {float(start):g} ({float(length):g} beats) "
                               f"in {names[0]}, beat {float(other):g} ({float(other_length):g} beats) in {name}")
    return repairs


def score_notes(score, in_place: bool = False) -> list[dict]:
    """One dict per part: name, program and notes (onset, duration in quarter notes, MIDI pitch, velocity).
    ``in_place``: tied notes are merged and transposing parts sounded in ``score`` itself, sparing a copy of the
    score (most of a conversion's time) where the caller has no further use for it."""
    from music21 import harmony

    if not in_place:
        score = score.stripTies(inPlace=False)
    else:
        score.stripTies(inPlace=True)
    score.toSoundingPitch(inPlace=True)      # transposing instruments sound
    parts = list(score.parts) or [score]
    out = []
    for number, part in enumerate(parts):
        instrument = part.getInstrument(returnDefault=True)
        name = part.partName or (instrument.partName if instrument else None) or part.id
        name = " ".join(str(name).split()) if name and not str(name).isdigit() else f"part {number + 1}"
        program = instrument.midiProgram if instrument is not None and instrument.midiProgram is not None else 0
        notes = []
        flat = part.flatten()
        for element in flat.notes:
            if isinstance(element, harmony.Harmony):
                continue                      # chord symbols are annotations, not sounding notes
            duration = float(element.duration.quarterLength)
            if duration <= 0:
                continue                      # grace notes
            onset = float(element.getOffsetBySite(flat))
            velocity = element.volume.velocity if element.volume.velocity else VELOCITY
            for pitch in element.pitches:
                notes.append((onset, duration, int(pitch.midi), int(velocity)))
        out.append({"name": name, "program": int(program), "notes": sorted(notes)})
    return out


def tempo_marks(score) -> list[tuple[float, float]]:
    marks = []
    for mark in score.flatten().getElementsByClass("MetronomeMark"):
        qpm = mark.getQuarterBPM()
        if qpm and qpm > 0:
            marks.append((float(mark.offset), float(qpm)))
    return marks


def score_to_midi(score, in_place: bool = False) -> bytes:
    """The score as type-1 MIDI bytes: a conductor track (tempo, the bar grid as time signatures) and one track per
    part, named as the score names it. ``in_place``: see :func:`score_notes`."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    conductor = mido.MidiTrack()
    events = [(int(round(float(t) * TICKS)), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d, time=0))
              for t, n, d in bar_signatures(score)]
    events += [(int(round(t * TICKS)), 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(q), time=0))
               for t, q in tempo_marks(score)]
    midi.tracks.append(_timed(conductor, events))
    for index, part in enumerate(score_notes(score, in_place)):
        channel = index if index < 9 else index + 1
        channel %= 16
        events = [(0, 0, mido.MetaMessage("track_name", name=part["name"], time=0)),
                  (0, 1, mido.Message("program_change", channel=channel, program=part["program"] % 128, time=0))]
        for onset, duration, pitch, velocity in part["notes"]:
            start, end = int(round(onset * TICKS)), int(round((onset + duration) * TICKS))
            events.append((start, 3, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity, time=0)))
            events.append((max(end, start + 1), 2, mido.Message("note_off", channel=channel, note=pitch, velocity=0,
                                                                 time=0)))
        midi.tracks.append(_timed(mido.MidiTrack(), events))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _timed(track: mido.MidiTrack, events: list) -> mido.MidiTrack:
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def write_score(score, path: Path, in_place: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(score_to_midi(score, in_place))
    return path
