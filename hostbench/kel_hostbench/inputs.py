"""The song the native host plays: an audio file (or a synthesized stereo test signal) delivered at each swept host
rate, and a MIDI file (or a generated one) as note events in beats for the MIDI models' contract inputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from scipy.signal import resample_poly

TEST_RATE = 48_000


def synthesize_audio(path: Path, seconds: float = 12.0, rate: int = TEST_RATE, seed: int = 0) -> Path:
    """A stereo test signal: a chord progression of decaying harmonic tones, a moving noise band and a kick-like
    pulse at 120 qpm, different in each channel (so the mixdown matters). Written as 24-bit WAV."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    left, right = np.zeros_like(t), np.zeros_like(t)
    chords = [(57, 60, 64), (53, 57, 60), (55, 59, 62), (52, 55, 59)]
    for bar in range(int(np.ceil(seconds / 2))):
        start = bar * 2.0
        span = (t >= start) & (t < start + 2.0)
        local = t[span] - start
        for k, note in enumerate(chords[bar % len(chords)]):
            f = 440.0 * 2 ** ((note - 69) / 12)
            tone = sum(np.sin(2 * np.pi * f * h * local) / h for h in (1, 2, 3)) * np.exp(-1.2 * local)
            (left if k % 2 == 0 else right)[span] += 0.12 * tone
    noise = rng.standard_normal(t.size)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t)
    left += 0.02 * noise * envelope
    right += 0.02 * np.roll(noise, 97) * (1 - envelope)
    beat = np.mod(t, 0.5)
    kick = 0.4 * np.sin(2 * np.pi * (50 + 80 * np.exp(-30 * beat)) * beat) * np.exp(-12 * beat)
    left += kick
    right += kick
    audio = np.stack([left, right], axis=1)
    audio /= max(1.0, np.abs(audio).max() / 0.9)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio.astype(np.float32), rate, subtype="PCM_24")
    return path


def generate_midi(path: Path, bars: int = 8, qpm: float = 120.0, seed: int = 0) -> Path:
    """A short song: a melody (eighths and quarters), block chords and a drum kit track, 4/4."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    song = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    song.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    beat = 60.0 / qpm
    lead, chords, drums = (pretty_midi.Instrument(0, name="melody"), pretty_midi.Instrument(0, name="chords"),
                           pretty_midi.Instrument(0, is_drum=True, name="drums"))
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    roots = [57, 53, 48, 55]
    for bar in range(bars):
        at = bar * 4
        position = 0.0
        while position < 4:
            length = float(rng.choice([0.5, 1.0]))
            pitch = int(rng.choice(scale)) + 12
            lead.notes.append(pretty_midi.Note(int(rng.integers(70, 110)), pitch, (at + position) * beat,
                                               (at + position + length * 0.9) * beat))
            position += length
        root = roots[bar % len(roots)]
        for interval in (0, 4, 7):
            chords.notes.append(pretty_midi.Note(64, root + interval, at * beat, (at + 3.9) * beat))
        for step in range(16):
            onset = (at + step / 4 + rng.normal(0, 0.01)) * beat
            if step % 2 == 0:
                drums.notes.append(pretty_midi.Note(int(rng.integers(60, 100)), 42, max(onset, 0), max(onset, 0) + 0.05))
            if step in (0, 8, 10):
                drums.notes.append(pretty_midi.Note(110, 36, max(onset, 0), max(onset, 0) + 0.05))
            if step in (4, 12):
                drums.notes.append(pretty_midi.Note(100, 38, max(onset, 0), max(onset, 0) + 0.05))
    song.instruments += [lead, chords, drums]
    path.parent.mkdir(parents=True, exist_ok=True)
    song.write(str(path))
    return path


def midi_notes(midi: Path, out: Path) -> dict[str, Any]:
    """The host's notes file: ``tempo QPM``, ``bar BEATS``, ``n PITCH ONSET DURATION VELOCITY MELODY`` per pitched
    note (sorted by onset then pitch; MELODY 1 on the highest note of each onset, the skyline) and ``d ...`` per drum
    hit, times in beats. Returns what it wrote (counts, tempo, bar length, notes on simplifications)."""
    import pretty_midi

    song = pretty_midi.PrettyMIDI(str(midi))
    resolution = song.resolution

    def beats(seconds: float) -> float:
        return song.time_to_tick(seconds) / resolution

    _, tempi = song.get_tempo_changes()
    qpm = float(tempi[0]) if len(tempi) else 120.0
    signature = song.time_signature_changes[0] if song.time_signature_changes else None
    bar_beats = signature.numerator * 4.0 / signature.denominator if signature else 4.0
    pitched, drums = [], []
    for instrument in song.instruments:
        for note in instrument.notes:
            onset = beats(note.start)
            row = (note.pitch, onset, max(beats(note.end) - onset, 1e-3), note.velocity)
            (drums if instrument.is_drum else pitched).append(row)
    pitched.sort(key=lambda n: (n[1], n[0]))
    drums.sort(key=lambda n: (n[1], n[0]))
    top: dict[float, int] = {}
    for pitch, onset, _, _ in pitched:
        top[round(onset, 6)] = max(top.get(round(onset, 6), -1), pitch)
    lines = [f"tempo {qpm:.6f}", f"bar {bar_beats:.6f}"]
    lines += [f"n {p} {o:.9f} {d:.9f} {v} {int(top[round(o, 6)] == p)}" for p, o, d, v in pitched]
    lines += [f"d {p} {o:.9f} {d:.9f} {v} 0" for p, o, d, v in drums]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    notes = []
    if len(tempi) > 1:
        notes.append(f"{len(tempi)} tempo changes: the host plays the notes at the first tempo ({qpm:.1f} qpm)")
    if len(song.time_signature_changes) > 1:
        notes.append("several time signatures: the host uses the first one's bar length")
    return {"file": str(midi), "qpm": qpm, "bar_beats": bar_beats, "pitched_notes": len(pitched),
            "melody_notes": len(top), "drum_hits": len(drums), "notes": notes}


def audio_at(audio: Path, rate: int, seconds: float, out: Path) -> tuple[Path, int, dict[str, Any]]:
    """``audio`` as raw interleaved float32 at ``rate`` (polyphase resampling when the file's rate differs),
    at most ``seconds`` long; returns (path, channels, description)."""
    data, source_rate = soundfile.read(str(audio), dtype="float32", always_2d=True,
                                       frames=int(np.ceil(seconds * soundfile.info(str(audio)).samplerate)) + 1)
    if source_rate != rate:
        g = np.gcd(int(source_rate), int(rate))
        data = resample_poly(data, rate // g, source_rate // g, axis=0).astype(np.float32)
    data = data[: int(seconds * rate)]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(data, np.float32).tofile(out)
    return out, int(data.shape[1]), {"file": str(audio), "source_rate": int(source_rate), "rate": rate,
                                     "channels": int(data.shape[1]), "seconds": data.shape[0] / rate}
