"""A small deterministic Groove-MIDI-shaped corpus whose micro-timing and accents depend on the style.

Each style has its own pattern, swing and push/pull per voice, so a model that sees the quantised
pattern (and the bars before) can learn the timing; velocities follow metric accents.
"""
from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

TICKS = 480
# per style: bpm range, steps of kick, snare, closed hat, swing (sixteenths x 2 on odd 8ths), snare lag
STYLES = {
    "rock": ((100, 130), [0, 8, 10], [4, 12], list(range(0, 16, 2)), 0.0, 0.15),
    "funk": ((90, 110), [0, 3, 10], [4, 12, 15], list(range(16)), 0.0, -0.1),
    "jazz": ((120, 160), [0, 10], [4, 12], [0, 6, 8, 14], 0.6, 0.0),
    "hiphop": ((80, 95), [0, 7, 10], [4, 12], list(range(0, 16, 2)), 0.4, 0.35),
}
PITCH = {"kick": 36, "snare": 38, "hat": 42, "crash": 49}


def _hits(style: str, bars: int, rng: np.random.Generator) -> list[tuple[float, int, int]]:
    """(onset in sixteenths, pitch, velocity) of one performance."""
    _, kicks, snares, hats, swing, lag = STYLES[style]
    hits = []
    for bar in range(bars):
        voices = [(s, "kick") for s in kicks] + [(s, "snare") for s in snares] + [(s, "hat") for s in hats]
        if bar % 4 == 0:
            voices.append((0, "crash"))
        for step, voice in voices:
            offset = (swing / 2 if step % 4 == 2 else 0.0) + (lag / 2 if voice == "snare" else 0.0)
            offset += rng.normal(0, 0.03)
            accent = 1.0 if step % 8 == 0 else 0.8 if step % 4 == 0 else 0.55
            velocity = int(np.clip(127 * accent * (0.9 if voice == "hat" else 1.0) + rng.normal(0, 4), 1, 127))
            hits.append((bar * 16 + step + offset, PITCH[voice], velocity))
    return sorted(hits)


def _midi(hits: list[tuple[float, int, int]], bpm: int, numerator: int, denominator: int) -> mido.MidiFile:
    midi = mido.MidiFile(ticks_per_beat=TICKS)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0))
    events = []
    for onset, pitch, velocity in hits:
        tick = max(0, int(round(onset * TICKS / 4)))
        events += [(tick, 1, mido.Message("note_on", channel=9, note=pitch, velocity=velocity)),
                   (tick + TICKS // 8, 0, mido.Message("note_off", channel=9, note=pitch, velocity=0))]
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    return midi


def write_demo(root: Path, seed: int = 0, performances: int = 60) -> None:
    """Write ``info.csv`` (LF header, CRLF rows, like the release) and the MIDI files under ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["drummer,session,id,style,bpm,beat_type,time_signature,midi_filename,audio_filename,duration,split\n"]
    styles = list(STYLES)
    for index in range(performances):
        style = styles[index % len(styles)]
        drummer, session = f"drummer{index % 5 + 1}", f"session{index % 3 + 1}"
        bpm = int(rng.integers(*STYLES[style][0]))
        fill = index % 10 == 9
        signature = "3-4" if index % 15 == 14 else "4-4"
        bars = 1 if fill else int(rng.integers(8, 17))
        name = f"{index + 1}_{style}-groove{index % 7 + 1}_{bpm}_{'fill' if fill else 'beat'}_{signature}.mid"
        relative = f"{drummer}/{session}/{name}"
        (root / drummer / session).mkdir(parents=True, exist_ok=True)
        numerator, denominator = map(int, signature.split("-"))
        _midi(_hits(style, bars, rng), bpm, numerator, denominator).save(root / relative)
        split = "test" if index % 10 == 3 else "validation" if index % 10 == 6 else "train"
        duration = bars * 4 * 60 / bpm
        rows.append(f"{drummer},{drummer}/{session},{drummer}/{session}/{index + 1},{style}/groove{index % 7 + 1},"
                    f"{bpm},{'fill' if fill else 'beat'},{signature},{relative},,{duration:.6f},{split}\r\n")
    with open(root / "info.csv", "w", newline="", encoding="utf-8") as handle:
        handle.writelines(rows)
    (root / "README").write_text(f"kelcore demo corpus in the Groove MIDI v1.0.0 layout (seed {seed}); synthetic.\n")
