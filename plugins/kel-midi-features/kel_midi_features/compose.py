"""Deterministic songs with learnable musical structure, for the demo corpora of the MIDI datasets.

Each song has a key and mode, a diatonic chord progression, a melody that lands on chord tones on
strong beats and moves by step between them, a bass on the roots, and phrase-shaped dynamics
(a crescendo to the third bar of each four-bar phrase, accented downbeats, the melody above the
accompaniment). Minor songs are slower and softer than major ones, so the emotion proxy carries signal.
"""
from __future__ import annotations

import mido
import numpy as np

TICKS = 480
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
PROGRESSIONS = {True: [[0, 4, 5, 3], [0, 3, 4, 4], [0, 5, 3, 4], [0, 3, 0, 4]],
                False: [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 4], [0, 3, 6, 4]]}
RHYTHMS = [[1, 1, 1, 1], [0.5, 0.5, 1, 1, 1], [1.5, 0.5, 1, 1], [2, 1, 1], [0.5, 0.5, 0.5, 0.5, 2], [1, 0.5, 0.5, 2]]


def _chord(tonic: int, scale: list[int], degree: int) -> list[int]:
    """Pitch classes of the diatonic triad on ``degree``."""
    return [(tonic + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4)]


def _nearest(previous: int, classes: list[int], low: int, high: int) -> int:
    candidates = [p for p in range(low, high + 1) if p % 12 in classes]
    return min(candidates, key=lambda p: (abs(p - previous), p))


def _dynamics(bar: int, beat: float, rng: np.random.Generator, base: float) -> int:
    phrase = bar % 4 + beat / 4
    arch = 1 - abs(phrase - 2.5) / 2.5          # crescendo to bar 3, then release
    accent = 12 if beat == 0 else 5 if beat == int(beat) else 0
    return int(np.clip(base + 30 * arch + accent + rng.normal(0, 3), 1, 127))


def compose(seed: int, piano: bool = False) -> tuple[mido.MidiFile, dict]:
    """A song as a MIDI file and its generating facts (key, mode, tempo)."""
    rng = np.random.default_rng(seed)
    tonic, major = int(rng.integers(0, 12)), bool(rng.random() < 0.5)
    scale = MAJOR if major else MINOR
    bpm = int(rng.integers(104, 140) if major else rng.integers(66, 96))
    base = 62 if major else 44
    progression = PROGRESSIONS[major][int(rng.integers(0, 4))]
    bars = int(rng.choice([16, 24, 32]))
    melody, chords, bass, pedal = [], [], [], []
    pitch = 60 + tonic
    for bar in range(bars):
        degree = progression[bar % 4]
        chord = _chord(tonic, scale, degree)
        scale_classes = [(tonic + s) % 12 for s in scale]
        start = bar * 4.0
        for offset in (0.0, 2.0):
            chord_pitches = sorted(_nearest(55, [pc], 48, 62) for pc in chord)
            chords += [(start + offset, 2.0, p, _dynamics(bar, offset, rng, base - 14)) for p in chord_pitches]
            bass.append((start + offset, 2.0, _nearest(40, [chord[0]], 36, 47), _dynamics(bar, offset, rng, base - 6)))
        beat = 0.0
        for duration in RHYTHMS[int(rng.integers(0, len(RHYTHMS)))]:
            strong = beat in (0.0, 2.0)
            target = chord if strong else scale_classes
            step = int(rng.choice([-2, -1, 1, 2])) if not strong else 0
            pitch = _nearest(min(max(pitch + step, 62), 82), target, 60, 84)
            melody.append((start + beat, duration * 0.95, pitch, min(127, _dynamics(bar, beat, rng, base) + 10)))
            beat += duration
        pedal += [(start, 127), (start + 3.9, 0)]
    parts = {"Melody": (0 if piano else 73, melody), "Chords": (0, chords), "Bass": (0 if piano else 33, bass)}
    return _write(parts, bpm, pedal if piano else [], drums=not piano, bars=bars), {
        "tonic": tonic, "major": major, "bpm": bpm}


def _write(parts: dict, bpm: int, pedal: list, drums: bool, bars: int) -> mido.MidiFile:
    midi = mido.MidiFile(ticks_per_beat=TICKS)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
                                mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    midi.tracks.append(conductor)
    for channel, (name, (program, notes)) in enumerate(parts.items()):
        extra = [(t, mido.Message("control_change", channel=channel, control=64, value=v)) for t, v in pedal]
        midi.tracks.append(_track(name, channel, program, notes, extra))
    if drums:
        hits = [(bar * 4.0 + beat, 0.1, pitch, 90) for bar in range(bars) for beat, pitch in
                ((0, 36), (1, 38), (2, 36), (3, 38), (0, 42), (1, 42), (2, 42), (3, 42))]
        midi.tracks.append(_track("Drums", 9, 0, hits, []))
    return midi


def _track(name: str, channel: int, program: int, notes: list, extra: list) -> mido.MidiTrack:
    events = [(0.0, 0, mido.MetaMessage("track_name", name=name)),
              (0.0, 0, mido.Message("program_change", channel=channel, program=program))]
    events += [(t, 1, message) for t, message in extra]
    for onset, duration, pitch, velocity in notes:
        events.append((onset, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((onset + duration, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    track, now = mido.MidiTrack(), 0
    for beat, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        tick = int(round(beat * TICKS))
        track.append(message.copy(time=tick - now))
        now = tick
    return track
