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

import mido

TICKS = 480
VELOCITY = 80
CONVERTER_VERSION = 2


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


def score_notes(score) -> list[dict]:
    """One dict per part: name, program and notes (onset, duration in quarter notes, MIDI pitch, velocity)."""
    from music21 import harmony

    score = score.toSoundingPitch(inPlace=False).stripTies(inPlace=False)   # transposing instruments sound
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


def score_to_midi(score) -> bytes:
    """The score as type-1 MIDI bytes: a conductor track (tempo, the bar grid as time signatures) and one track per
    part, named as the score names it."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    conductor = mido.MidiTrack()
    events = [(int(round(float(t) * TICKS)), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d, time=0))
              for t, n, d in bar_signatures(score)]
    events += [(int(round(t * TICKS)), 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(q), time=0))
               for t, q in tempo_marks(score)]
    midi.tracks.append(_timed(conductor, events))
    for index, part in enumerate(score_notes(score)):
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


def write_score(score, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(score_to_midi(score))
    return path
