"""Feature extraction for the MIDI feature contracts (docs/CONTRACTS.md, version 1.0.0), vectorised with numpy."""
from __future__ import annotations

import numpy as np

from .song import Part, Song, TooShort

# Krumhansl-Kessler key profiles (major, minor), tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
DURATION_CLASSES = np.log2([0.125, 0.25, 0.5, 0.75, 1, 1.5, 2, 4])
MELODY_NAMES = ("melody", "vocal", "voice", "lead", "sing", "solo")
MIN_STEPS = 8


def pitch_class_profile(parts: list[Part]) -> np.ndarray:
    """Duration-weighted pitch-class histogram of the given parts."""
    profile = np.zeros(12)
    for part in parts:
        np.add.at(profile, part.pitch % 12, part.duration)
    return profile


def estimate_key(song: Song) -> tuple[int, bool]:
    """(tonic pitch class, is_major) by correlating the profile with all 24 rotated key profiles."""
    profile = pitch_class_profile(song.pitched())
    if profile.sum() <= 0:
        return 0, True
    best, best_key = -np.inf, (0, True)
    for tonic in range(12):
        for major, template in ((True, MAJOR_PROFILE), (False, MINOR_PROFILE)):
            score = np.corrcoef(profile, np.roll(template, tonic))[0, 1]
            if score > best:
                best, best_key = score, (tonic, major)
    return best_key


def emotion_proxy(song: Song, major: bool) -> tuple[float, float]:
    """Valence from mode; arousal from tempo and mean velocity (the documented proxy)."""
    velocities = np.concatenate([p.velocity for p in song.pitched()]) if song.pitched() else np.array([64])
    arousal = np.clip((song.qpm - 100) / 60 + (velocities.mean() - 64) / 64, -1, 1)
    return (0.5 if major else -0.5), float(arousal)


def skyline(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray, tolerance: float = 1 / 16) -> np.ndarray:
    """Indices of a monophonic top line: at onsets within ``tolerance`` keep the highest pitch."""
    if len(onset) == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort((-pitch, onset))
    keep = [order[0]]
    for index in order[1:]:
        if onset[index] - onset[keep[-1]] > tolerance:
            keep.append(index)
    return np.asarray(keep)


def melody_part(song: Song) -> Part:
    """The melody line: a track named like a melody, else the pitched track with the highest mean pitch
    among those with at least 16 notes; reduced to a monophonic top line."""
    candidates = [p for p in song.pitched() if len(p.pitch) >= 16] or song.pitched()
    if not candidates:
        raise TooShort("no pitched notes (drums only)")
    named = [p for p in candidates if any(word in p.name.lower() for word in MELODY_NAMES)]
    chosen = named[0] if named else max(candidates, key=lambda p: float(p.pitch.mean()))
    keep = skyline(chosen.onset, chosen.duration, chosen.pitch)
    return Part(chosen.name, chosen.program, False, chosen.onset[keep], chosen.duration[keep], chosen.pitch[keep],
                chosen.velocity[keep])


def melody_features(song: Song, line: Part | None = None, valence_arousal: tuple[float, float] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """MelodyTransformer inputs [T, 64] and targets [T, 1] (next pitch), one step per melody note."""
    line = line if line is not None else melody_part(song)
    n = len(line.pitch)
    if n < MIN_STEPS:
        raise TooShort(f"melody has {n} notes, fewer than {MIN_STEPS}")
    tonic, major = estimate_key(song)
    valence, arousal = valence_arousal if valence_arousal is not None else emotion_proxy(song, major)
    x = np.zeros((n, 64), dtype=np.float32)
    previous = np.arange(n - 1)
    x[previous + 1, line.pitch[:-1] % 12] = 1
    x[previous + 1, 12 + np.clip(line.pitch[:-1] // 12, 0, 10)] = 1
    gap = line.onset[1:] - (line.onset[:-1] + line.duration[:-1])
    x[0, 23] = 1
    x[1:, 23] = gap >= 1.0
    log_duration = np.log2(np.maximum(line.duration[:-1], 1e-3))
    x[previous + 1, 24 + np.abs(log_duration[:, None] - DURATION_CLASSES[None, :]).argmin(axis=1)] = 1
    x[np.arange(n), 32 + (np.round(np.mod(line.onset, song.bar_beats) * 4).astype(int) % 16)] = 1
    x[:, 48 + tonic] = 1
    x[:, 60] = 1.0 if major else 0.0
    x[:, 61], x[:, 62] = valence, arousal
    x[:, 63] = min(song.qpm / 200.0, 1.0)
    return x, line.pitch.astype(np.float32)[:, None]


# ----------------------------------------------------------------------------- harmony
QUALITY_INTERVALS = [(0, 4, 7), (0, 3, 7), (0, 4, 7, 10), (0, 3, 7, 10), (0, 3, 6)]
AUGMENTED, SUSPENDED = (0, 4, 8), (0, 5, 7)
NO_CHORD, AUG_CLASS, SUS_CLASS, OTHER_CLASS = 60, 61, 62, 63


def _templates(intervals: tuple[int, ...]) -> np.ndarray:
    rows = np.zeros((12, 12))
    for root in range(12):
        rows[root, [(root + i) % 12 for i in intervals]] = 1
    return rows


TEMPLATES = np.concatenate([_templates(q) for q in QUALITY_INTERVALS] + [_templates(AUGMENTED), _templates(SUSPENDED)])
TEMPLATE_CLASSES = np.array(list(range(60)) + [AUG_CLASS] * 12 + [SUS_CLASS] * 12)


def bar_activity(parts: list[Part], n_bars: int, bar: float, size: int) -> np.ndarray:
    """Duration (beats) each pitch sounds in each bar: ``[n_bars, size]`` (size 128 pitches or 12 classes)."""
    activity = np.zeros((n_bars, size))
    for part in parts:
        start, end = part.onset, part.onset + part.duration
        first, last = (start // bar).astype(int), np.minimum((np.maximum(end - 1e-9, start) // bar).astype(int), n_bars - 1)
        slot = part.pitch % size if size == 12 else part.pitch
        for offset in range(int((last - first).max(initial=0)) + 1):
            index = first + offset
            valid = (index <= last) & (index < n_bars)
            overlap = np.minimum(end, (index + 1) * bar) - np.maximum(start, index * bar)
            np.add.at(activity, (index[valid], slot[valid]), np.maximum(overlap[valid], 0))
    return activity


def chord_labels(profiles: np.ndarray) -> np.ndarray:
    """64-class chord per bar from pitch-class profiles ``[n, 12]`` by template matching.

    Score = energy on chord tones - 0.6 x energy off them - 0.05 per template note (a triad wins over
    its seventh chord unless the seventh sounds). Silent bars are no chord; a best match covering less
    than half the energy is "other".
    """
    total = profiles.sum(axis=1)
    normalised = profiles / np.maximum(total[:, None], 1e-9)
    on = normalised @ TEMPLATES.T
    scores = on - 0.6 * (1 - on) - 0.05 * TEMPLATES.sum(axis=1)[None, :]
    best = scores.argmax(axis=1)
    labels = TEMPLATE_CLASSES[best].copy()
    labels[on[np.arange(len(best)), best] < 0.5] = OTHER_CLASS
    labels[total <= 0] = NO_CHORD
    return labels


def harmony_features(song: Song, line: Part | None = None) -> tuple[np.ndarray, np.ndarray]:
    """HarmonyPredictor inputs [bars, 128] (melody pitch activity / bar max) and targets [bars, 1]."""
    line = line if line is not None else melody_part(song)
    n_bars = int(np.ceil(song.end / song.bar_beats))
    if n_bars < MIN_STEPS // 2:
        raise TooShort(f"{n_bars} bars, fewer than {MIN_STEPS // 2}")
    melody = bar_activity([line], n_bars, song.bar_beats, 128)
    peak = melody.max(axis=1, keepdims=True)
    inputs = np.divide(melody, peak, out=np.zeros_like(melody), where=peak > 0)
    chords = chord_labels(bar_activity(song.pitched(), n_bars, song.bar_beats, 12))
    return inputs.astype(np.float32), chords.astype(np.float32)[:, None]


# ----------------------------------------------------------------------------- dynamics
def dynamics_features(song: Song, max_notes: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """DynamicsEngine inputs [notes, 32] (score context, never velocity) and targets [notes, 1] (velocity)."""
    parts = song.pitched()
    if not parts:
        raise TooShort("no pitched notes")
    onset = np.concatenate([p.onset for p in parts])
    order = np.lexsort((np.concatenate([p.pitch for p in parts]), onset))[:max_notes]
    onset = onset[order]
    duration = np.concatenate([p.duration for p in parts])[order]
    pitch = np.concatenate([p.pitch for p in parts])[order].astype(np.float64)
    velocity = np.concatenate([p.velocity for p in parts])[order]
    n = len(onset)
    if n < MIN_STEPS:
        raise TooShort(f"{n} notes, fewer than {MIN_STEPS}")
    bar = song.bar_beats
    x = np.zeros((n, 32))
    x[:, 0] = pitch
    x[:, 1] = np.log2(duration + 1 / 32)
    ioi = np.diff(onset)
    x[1:, 2] = np.log2(ioi + 1 / 32)
    x[:-1, 3] = np.log2(ioi + 1 / 32)
    x[:, 4] = np.mod(onset, 1.0)
    in_bar = np.mod(onset, bar)
    strength = np.select([np.isclose(in_bar, 0, atol=0.06), np.isclose(np.mod(onset, 1.0), 0, atol=0.06),
                          np.isclose(np.mod(onset, 0.5), 0, atol=0.06)], [0, 1, 2], 3)
    x[np.arange(n), 5 + strength] = 1
    x[:, 9] = (np.searchsorted(onset, onset + 2, side="right") - np.searchsorted(onset, onset - 2)) / 4.0
    x[:, 10] = np.mod(onset / bar, 4.0) / 4.0
    same = np.round(onset * 16).astype(np.int64)
    _, group, sizes = np.unique(same, return_inverse=True, return_counts=True)
    x[:, 11] = sizes[group]
    highest = np.full(group.max() + 1, -1.0)
    lowest = np.full(group.max() + 1, 999.0)
    np.maximum.at(highest, group, pitch)
    np.minimum.at(lowest, group, pitch)
    x[:, 12] = pitch == highest[group]
    x[:, 13] = pitch == lowest[group]
    x[:, 14] = _pedal_down(song, onset)
    x[:, 15] = song.qpm
    x[np.arange(n), 16 + (pitch.astype(int) % 12)] = 1
    x[:, 28] = (pitch - 60) / 24
    x[1:, 29] = np.diff(pitch) / 12
    x[:, 30] = onset / max(song.end, 1e-9)
    x[:, 31] = in_bar / bar
    return x.astype(np.float32), velocity.astype(np.float32)[:, None]


def _pedal_down(song: Song, onset: np.ndarray) -> np.ndarray:
    if len(song.pedal_times) == 0:
        return np.zeros(len(onset))
    index = np.searchsorted(song.pedal_times, onset, side="right") - 1
    return np.where(index >= 0, song.pedal_values[np.maximum(index, 0)] >= 64, False).astype(np.float64)


# ----------------------------------------------------------------------------- groove
KICK, SNARE, HATS = {36, 35}, {38, 40, 37}, {42, 22, 44, 46, 26}


def drum_group(pitch: np.ndarray) -> np.ndarray:
    """0 kick, 1 snare, 2 hi-hats, 3 toms + cymbals + everything else."""
    groups = np.full(len(pitch), 3)
    groups[np.isin(pitch, list(KICK))] = 0
    groups[np.isin(pitch, list(SNARE))] = 1
    groups[np.isin(pitch, list(HATS))] = 2
    return groups


def groove_features(song: Song, bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """GroovePredictor inputs [bars, 64] and targets [bars, 49] of a 4/4 drum performance."""
    notes = song.drums() or song.pitched()
    if not notes:
        raise TooShort("no drum notes")
    onset = np.concatenate([p.onset for p in notes])
    pitch = np.concatenate([p.pitch for p in notes])
    velocity = np.concatenate([p.velocity for p in notes]).astype(np.float64)
    grid = np.round(onset * 4).astype(np.int64)          # global sixteenth index
    offset = np.clip((onset * 4 - grid) * 2, -1, 1)       # sixteenths x 2
    bars, step = grid // 16, grid % 16
    n_bars = int(bars.max()) + 1
    x = np.zeros((n_bars, 64), dtype=np.float32)
    x[bars, 16 * drum_group(pitch) + step] = 1
    y = np.zeros((n_bars, 49), dtype=np.float64)
    counts = np.zeros((n_bars, 16))
    np.add.at(counts, (bars, step), 1)
    np.add.at(y, (bars, step), offset)
    y[:, :16] = np.divide(y[:, :16], counts, out=np.zeros_like(counts), where=counts > 0)
    loudest = np.zeros((n_bars, 16))
    np.maximum.at(loudest, (bars, step), velocity)
    y[:, 16:32] = np.where(counts > 0, loudest / 127 * 2 - 1, 0)
    y[:, 32:48] = counts > 0
    y[:, 48] = 60000.0 / bpm / 4
    return x, y.astype(np.float32)
