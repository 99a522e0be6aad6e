"""Feature extraction for the MIDI feature contracts (kel_contracts; docs/CONTRACTS.md), vectorised
with numpy. Every constant and offset comes from the contract modules of kel_contracts."""
from __future__ import annotations

import numpy as np
from kel_contracts import dynamics as DYN
from kel_contracts import groove as GRV
from kel_contracts import harmony as HAR
from kel_contracts import melody as MEL

from .song import Part, Song, TooShort

MAJOR_PROFILE = np.array(MEL.MAJOR_PROFILE)
MINOR_PROFILE = np.array(MEL.MINOR_PROFILE)
DURATION_CLASSES = np.log2(np.array(MEL.DURATION_CLASSES))
MELODY_NAMES = MEL.MELODY_NAMES
DOUBLING_SHARE = MEL.DOUBLING_SHARE
SKYLINE_TOLERANCE = 1 / 16          # beats: onsets closer than this are one onset of the top line
SIXTEENTHS_PER_BEAT = 4.0           # melody position: round(4 x beats since the bar start) mod POSITIONS
MIN_STEPS = MEL.MIN_STEPS
_M = MEL.INPUTS.offsets()
_H = HAR.CONTRACT.inputs.offsets()
_D = DYN.INPUTS.offsets()
_G = GRV.CONTRACT.inputs.offsets()
_GO = GRV.CONTRACT.outputs.offsets()


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
    """Valence from mode; arousal from the first tempo and mean velocity (the documented proxy)."""
    velocities = np.concatenate([p.velocity for p in song.pitched()]) if song.pitched() else np.array([64])
    arousal = np.clip((song.qpm - MEL.PROXY_TEMPO_CENTRE) / MEL.PROXY_TEMPO_SCALE
                      + (velocities.mean() - MEL.PROXY_VELOCITY_CENTRE) / MEL.PROXY_VELOCITY_SCALE, -1, 1)
    return (MEL.PROXY_VALENCE_MAJOR if major else MEL.PROXY_VALENCE_MINOR), float(arousal)


def skyline(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray,
            tolerance: float = SKYLINE_TOLERANCE) -> np.ndarray:
    """Indices of a monophonic top line: at onsets within ``tolerance`` keep the highest pitch."""
    if len(onset) == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort((-pitch, onset))
    keep = [order[0]]
    for index in order[1:]:
        if onset[index] - onset[keep[-1]] > tolerance:
            keep.append(index)
    return np.asarray(keep)


def doubles(upper: Part, lower: Part) -> bool:
    """True when at least DOUBLING_SHARE of ``upper``'s notes start with a note of the same pitch class in
    ``lower`` (onsets on a 1/16-beat grid): an instrument doubling a voice, in unison or octaves."""
    if len(upper.pitch) == 0:
        return False
    grid = 1 / SKYLINE_TOLERANCE
    theirs = set(zip(np.round(lower.onset * grid).astype(np.int64).tolist(), (lower.pitch % 12).tolist()))
    mine = zip(np.round(upper.onset * grid).astype(np.int64).tolist(), (upper.pitch % 12).tolist())
    return sum(note in theirs for note in mine) >= DOUBLING_SHARE * len(upper.pitch)


def melody_part(song: Song) -> Part:
    """The melody line (kel_contracts.melody): a track named like a melody or a top voice, else the pitched track
    with the highest mean pitch among those with at least 16 notes that does not double a lower one (an oboe or
    violin doubling the soprano leaves the soprano); reduced to a monophonic top line."""
    candidates = [p for p in song.pitched() if len(p.pitch) >= 16] or song.pitched()
    if not candidates:
        raise TooShort("no pitched notes (drums only)")
    named = [p for p in candidates if any(word in p.name.lower() for word in MELODY_NAMES)]
    if named:
        chosen = named[0]
    else:
        ranked = sorted(candidates, key=lambda p: -float(p.pitch.mean()))
        chosen = next((p for i, p in enumerate(ranked) if not any(doubles(p, q) for q in ranked[i + 1:])), ranked[0])
    keep = skyline(chosen.onset, chosen.duration, chosen.pitch)
    return Part(chosen.name, chosen.program, False, chosen.onset[keep], chosen.duration[keep], chosen.pitch[keep],
                chosen.velocity[keep])


def duration_class(duration: np.ndarray) -> np.ndarray:
    """Index of the nearest duration class in log2 (the first on a tie)."""
    log_duration = np.log2(np.maximum(duration, MEL.MIN_DURATION))
    return np.abs(log_duration[:, None] - DURATION_CLASSES[None, :]).argmin(axis=1)


def melody_features(song: Song, line: Part | None = None, valence_arousal: tuple[float, float] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """MelodyTransformer inputs [T, 64] and targets [T, 1] (next pitch), one step per melody note."""
    line = line if line is not None else melody_part(song)
    n = len(line.pitch)
    if n < MIN_STEPS:
        raise TooShort(f"melody has {n} notes, fewer than {MIN_STEPS}")
    tonic, major = estimate_key(song)
    valence, arousal = valence_arousal if valence_arousal is not None else emotion_proxy(song, major)
    x = np.zeros((n, MEL.INPUTS.size), dtype=np.float32)
    later = np.arange(1, n)
    x[later, _M["prev_pitch_class"] + line.pitch[:-1] % 12] = 1
    x[later, _M["prev_octave"] + np.clip(line.pitch[:-1] // 12, 0, MEL.OCTAVES - 1)] = 1
    gap = line.onset[1:] - (line.onset[:-1] + line.duration[:-1])
    x[0, _M["rest"]] = 1
    x[1:, _M["rest"]] = gap >= MEL.REST_BEATS
    x[later, _M["prev_duration"] + duration_class(line.duration[:-1])] = 1
    _, bar_start, _ = song.bar_at(line.onset)
    position = np.round(SIXTEENTHS_PER_BEAT * (line.onset - bar_start)).astype(np.int64) % MEL.POSITIONS
    x[np.arange(n), _M["position"] + position] = 1
    x[:, _M["key"] + tonic] = 1
    x[:, _M["mode"]] = 1.0 if major else 0.0
    x[:, _M["valence"]], x[:, _M["arousal"]] = valence, arousal
    x[:, _M["tempo"]] = np.minimum(song.tempo_at(line.onset) / MEL.TEMPO_SCALE, 1.0)
    return x, line.pitch.astype(np.float32)[:, None]


# ----------------------------------------------------------------------------- harmony
QUALITY_INTERVALS = list(HAR.QUALITIES.values())
NO_CHORD, AUG_CLASS, SUS_CLASS, OTHER_CLASS = HAR.NO_CHORD, HAR.AUGMENTED, HAR.SUSPENDED, HAR.OTHER


def _templates(intervals: tuple[int, ...]) -> np.ndarray:
    rows = np.zeros((12, 12))
    for root in range(12):
        rows[root, [(root + i) % 12 for i in intervals]] = 1
    return rows


TEMPLATES = np.concatenate([_templates(q) for q in QUALITY_INTERVALS]
                           + [_templates(HAR.AUGMENTED_INTERVALS), _templates(HAR.SUSPENDED_INTERVALS)])
TEMPLATE_CLASSES = np.array(list(range(12 * len(QUALITY_INTERVALS))) + [AUG_CLASS] * 12 + [SUS_CLASS] * 12)
TEMPLATE_ROOTS = np.tile(np.arange(12), len(QUALITY_INTERVALS) + 2)
SPECIALS = (TEMPLATE_CLASSES >= 60).astype(float)   # augmented and suspended templates
SEVENTHS = np.concatenate([np.full(12, len(q) == 4) for q in QUALITY_INTERVALS] + [np.zeros(24, bool)]).astype(float)


def bar_activity(parts: list[Part], bar_start: np.ndarray, bar_end: np.ndarray, size: int) -> np.ndarray:
    """Beats each pitch sounds in each bar [start, end): ``[n_bars, size]`` (size 128 pitches or 12 classes).

    Sums run note by note in the parts' order (what a plugin accumulating notes as they arrive does)."""
    n_bars = len(bar_start)
    activity = np.zeros((n_bars, size))
    if n_bars == 0:
        return activity
    for part in parts:
        start, end = part.onset, part.onset + part.duration
        first = np.maximum(np.searchsorted(bar_start, start, side="right") - 1, 0)
        last = np.maximum(np.searchsorted(bar_start, end, side="left") - 1, first)
        last = np.minimum(last, n_bars - 1)
        counts = np.maximum(last - first + 1, 0)
        note = np.repeat(np.arange(len(start)), counts)
        bar = first[note] + (np.arange(len(note)) - np.repeat(np.cumsum(counts) - counts, counts))
        overlap = np.minimum(end[note], bar_end[bar]) - np.maximum(start[note], bar_start[bar])
        slot = (part.pitch % size if size == 12 else part.pitch).astype(np.int64)
        np.add.at(activity, (bar, slot[note]), np.maximum(overlap, 0))
    return activity


def held_activity(parts: list[Part], step_start: np.ndarray, step_end: np.ndarray) -> np.ndarray:
    """Beats each step [start, end) sounds notes begun before it (held over from an earlier step): ``[n]``."""
    held = np.zeros(len(step_start))
    if len(step_start) == 0:
        return held
    for part in parts:
        start, end = part.onset, part.onset + part.duration
        first = np.maximum(np.searchsorted(step_start, start, side="right") - 1, 0)
        last = np.minimum(np.maximum(np.searchsorted(step_start, end, side="left") - 1, first), len(step_start) - 1)
        counts = np.maximum(last - first + 1, 0)
        note = np.repeat(np.arange(len(start)), counts)
        step = first[note] + (np.arange(len(note)) - np.repeat(np.cumsum(counts) - counts, counts))
        overlap = np.minimum(end[note], step_end[step]) - np.maximum(start[note], step_start[step])
        np.add.at(held, step, np.where(start[note] < step_start[step], np.maximum(overlap, 0), 0.0))
    return held


def template_scores(profiles: np.ndarray, pitches: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(score [n, templates], share of each step's energy on each template's tones [n, templates]): the template
    match of each step on its own (see chord_labels)."""
    total = profiles.sum(axis=1)
    normalised = profiles / np.maximum(total[:, None], 1e-9)
    on = normalised @ TEMPLATES.T
    scores = (on - HAR.OFF_PENALTY * (1 - on) - HAR.NOTE_PENALTY * TEMPLATES.sum(axis=1)[None, :]
              - HAR.SEVENTH_PENALTY * SEVENTHS[None, :] - HAR.SPECIAL_PENALTY * SPECIALS[None, :])
    if pitches is not None and len(pitches):
        sounding = pitches > 0
        bass = np.where(sounding.any(axis=1), sounding.argmax(axis=1) % 12, -1)
        has_bass = bass >= 0
        scores += HAR.BASS_ROOT_BONUS * ((TEMPLATE_ROOTS[None, :] == bass[:, None]) & has_bass[:, None])
        scores += HAR.BASS_TONE_BONUS * (TEMPLATES[:, np.maximum(bass, 0)].T > 0) * has_bass[:, None]
    return scores, on


def _joint_path(scores: np.ndarray, change: np.ndarray) -> np.ndarray:
    """The template of each step maximising the sum of the steps' scores less ``change[t]`` wherever step t's
    template differs from step t - 1's (Viterbi); ties keep the previous step's template, then the lowest index."""
    n, k = scores.shape
    if n == 0:
        return np.zeros(0, np.int64)
    came = np.zeros((n, k), np.int64)
    best = scores[0].copy()
    index = np.arange(k)
    for t in range(1, n):
        j = int(best.argmax())
        switch = best[j] - change[t]
        stay = best >= switch
        came[t] = np.where(stay, index, j)
        best = np.where(stay, best, switch) + scores[t]
    path = np.empty(n, np.int64)
    path[-1] = int(best.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = came[t, path[t]]
    return path


def _bare_fifths_from_neighbours(labels: np.ndarray, profiles: np.ndarray) -> np.ndarray:
    """A major or minor triad whose third does not sound (a bare fifth or a bare root) takes the class of the
    neighbouring step's chord on the same root -- the previous one, else the next -- instead of the template tie's
    default (major)."""
    rooted = labels < 24
    root = labels % 12
    rows = np.arange(len(labels))
    bare = rooted & (profiles[rows, (root + 3) % 12] <= 0) & (profiles[rows, (root + 4) % 12] <= 0)
    out = labels.copy()
    resolved = ~bare
    for order in (range(1, len(out)), range(len(out) - 2, -1, -1)):
        for t in order:
            near = t - 1 if order.step > 0 else t + 1
            if not resolved[t] and resolved[near] and out[near] < NO_CHORD and out[near] % 12 == root[t]:
                out[t], resolved[t] = out[near], True
    return out


def chord_labels(profiles: np.ndarray, pitches: np.ndarray | None = None,
                 held: np.ndarray | None = None) -> np.ndarray:
    """64-class chord of each of a piece's consecutive steps from pitch-class profiles ``[n, 12]`` (and the
    128-pitch activity ``[n, 128]``, whose lowest sounding pitch is the bass, and the share of each step's sound
    held over from the step before, ``[n]``; none: 0) by template matching (kel_contracts.harmony: ESTIMATOR).

    Score of a template in a step = share of the energy on its chord tones - OFF_PENALTY x share off them -
    NOTE_PENALTY per template note - SEVENTH_PENALTY for a seventh chord - SPECIAL_PENALTY for an augmented or
    suspended triad + BASS_ROOT_BONUS when the bass is its root + BASS_TONE_BONUS when the bass is one of its tones
    (a triad with a passing tone stays the triad; the bass decides between a triad and its relative's seventh
    chord). The steps are labelled jointly: the templates maximising the sum of their scores less CHANGE_COST +
    HELD_CHANGE_COST x (held-over share) at every step whose chord differs from the step before (dynamic
    programming over the piece; a silent step costs no change). A major or minor triad whose third does not sound
    takes its neighbour's chord on the same root. Silent steps are no chord, except a rest of at most
    REST_CARRY_STEPS steps between sounding steps, which keeps the chord before it; a chord covering less than
    OTHER_BELOW of its step's energy is "other".
    """
    total = profiles.sum(axis=1)
    scores, on = template_scores(profiles, pitches)
    silent = total <= 0
    held = np.zeros(len(total)) if held is None else np.asarray(held, float)
    change = HAR.CHANGE_COST + HAR.HELD_CHANGE_COST * held
    change[1:][silent[1:] | silent[:-1]] = 0.0
    best = _joint_path(np.where(silent[:, None], 0.0, scores), change)
    labels = _bare_fifths_from_neighbours(TEMPLATE_CLASSES[best].copy(), profiles)
    labels[on[np.arange(len(best)), best] < HAR.OTHER_BELOW] = OTHER_CLASS
    return _rests_keep_the_chord(labels, silent)


def _rests_keep_the_chord(labels: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """Silent steps are no chord, except a run of at most REST_CARRY_STEPS of them between two sounding steps (a
    breath between phrases), which keeps the chord of the step before it: analysts write a chord as in force until
    the next one."""
    labels = labels.copy()
    run_start = None
    for t in range(len(silent) + 1):
        if t < len(silent) and silent[t]:
            run_start = t if run_start is None else run_start
            continue
        if run_start is not None:
            inside = run_start > 0 and t < len(silent) and t - run_start <= HAR.REST_CARRY_STEPS
            labels[run_start:t] = labels[run_start - 1] if inside else NO_CHORD
            run_start = None
    return labels


def held_share(parts: list[Part], start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Share of each step's sound (duration-weighted) held over from before the step: ``[n]`` in 0..1."""
    total = bar_activity(parts, start, end, 12).sum(axis=1)
    return np.divide(held_activity(parts, start, end), total, out=np.zeros_like(total), where=total > 0)


def harmony_bars(song: Song) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of every bar of the time-signature map that starts before the song ends."""
    return song.bar_map.bars_before(song.end)


def harmony_steps(song: Song) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of the harmony steps (kel_contracts.harmony: STEP_BEATS): every bar cut into steps of
    STEP_BEATS beats from its start, the last one cut short at the bar's end."""
    bar_start, bar_end = harmony_bars(song)
    counts = np.maximum(np.ceil((bar_end - bar_start) / HAR.STEP_BEATS - 1e-9).astype(np.int64), 1)
    bar = np.repeat(np.arange(len(bar_start)), counts)
    within = np.arange(len(bar)) - np.repeat(np.cumsum(counts) - counts, counts)
    start = bar_start[bar] + within * HAR.STEP_BEATS
    return start, np.minimum(start + HAR.STEP_BEATS, bar_end[bar])


def normalised_activity(activity: np.ndarray) -> np.ndarray:
    peak = activity.max(axis=1, keepdims=True)
    return np.divide(activity, peak, out=np.zeros_like(activity), where=peak > 0)


def harmony_features(song: Song, line: Part | None = None) -> tuple[np.ndarray, np.ndarray]:
    """HarmonyPredictor inputs [steps, 128] (melody pitch activity / step max) and targets [steps, 1]."""
    line = line if line is not None else melody_part(song)
    if len(harmony_bars(song)[0]) < HAR.MIN_BARS:
        raise TooShort(f"{len(harmony_bars(song)[0])} bars, fewer than {HAR.MIN_BARS}")
    start, end = harmony_steps(song)
    inputs = normalised_activity(bar_activity([line], start, end, HAR.CONTRACT.inputs.size))
    everything = song.pitched()
    chords = chord_labels(bar_activity(everything, start, end, 12), bar_activity(everything, start, end, 128),
                          held_share(everything, start, end))
    return inputs.astype(np.float32), chords.astype(np.float32)[:, None]


# ----------------------------------------------------------------------------- dynamics
def dynamics_notes(song: Song) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(onset, duration, pitch, velocity) of every pitched note in the contract's order: onset, then pitch."""
    parts = song.pitched()
    if not parts:
        raise TooShort("no pitched notes")
    onset = np.concatenate([p.onset for p in parts])
    pitch = np.concatenate([p.pitch for p in parts])
    order = np.lexsort((pitch, onset))
    return (onset[order], np.concatenate([p.duration for p in parts])[order], pitch[order].astype(np.float64),
            np.concatenate([p.velocity for p in parts])[order])


def _log_beats(beats: np.ndarray) -> np.ndarray:
    return np.log2(beats + DYN.DURATION_OFFSET)


def _near(value: np.ndarray) -> np.ndarray:
    return np.abs(value) <= DYN.STRENGTH_TOLERANCE


def dynamics_features(song: Song, max_notes: int = DYN.MAX_NOTES) -> tuple[np.ndarray, np.ndarray]:
    """DynamicsEngine inputs [notes, 32] (score context, never velocity; causal) and targets [notes, 1] (velocity).

    Computed over every note of the piece (each input depends on earlier notes and the note's onset group only),
    then cut to the first ``max_notes``."""
    onset, duration, pitch, velocity = dynamics_notes(song)
    n = len(onset)
    if min(n, max_notes) < DYN.MIN_STEPS:
        raise TooShort(f"{min(n, max_notes)} notes, fewer than {DYN.MIN_STEPS}")
    bar_index, bar_start, bar_length = song.bar_at(onset)
    in_bar = onset - bar_start
    x = np.zeros((n, DYN.INPUTS.size))
    x[:, _D["pitch"]] = pitch
    x[:, _D["log_duration"]] = _log_beats(duration)
    x[1:, _D["log_ioi_previous"]] = _log_beats(np.diff(onset))
    x[1:, _D["log_duration_previous"]] = _log_beats(duration[:-1])
    beat = np.mod(onset, 1.0)
    x[:, _D["beat_position"]] = beat
    strength = np.select([_near(in_bar), _near(beat), _near(np.mod(onset, 0.5))], [0, 1, 2], 3)
    x[np.arange(n), _D["strength"] + strength] = 1
    window = np.searchsorted(onset, onset, side="right") - np.searchsorted(onset, onset - DYN.DENSITY_BEATS,
                                                                              side="right")
    x[:, _D["density"]] = window / DYN.DENSITY_BEATS
    x[:, _D["phrase_position"]] = (np.mod(bar_index, DYN.PHRASE_BARS) + in_bar / bar_length) / DYN.PHRASE_BARS
    same = np.round(onset * DYN.GROUP_GRID).astype(np.int64)
    _, group, sizes = np.unique(same, return_inverse=True, return_counts=True)
    x[:, _D["group_size"]] = sizes[group]
    highest = np.full(group.max() + 1, -1.0)
    lowest = np.full(group.max() + 1, 999.0)
    np.maximum.at(highest, group, pitch)
    np.minimum.at(lowest, group, pitch)
    x[:, _D["group_highest"]] = pitch == highest[group]
    x[:, _D["group_lowest"]] = pitch == lowest[group]
    x[:, _D["pedal"]] = song.pedal_at(onset, DYN.PEDAL_DOWN)
    x[:, _D["tempo"]] = song.tempo_at(onset)
    x[np.arange(n), _D["pitch_class"] + (pitch.astype(np.int64) % 12)] = 1
    x[:, _D["register"]] = (pitch - DYN.REGISTER_CENTRE) / DYN.REGISTER_SCALE
    x[1:, _D["interval"]] = np.diff(pitch) / DYN.INTERVAL_SCALE
    x[:, _D["since_rest"]] = np.minimum((onset - phrase_start(onset, duration)) / DYN.PHRASE_SCALE_BEATS, 1.0)
    x[:, _D["bar_position"]] = in_bar / bar_length
    return x[:max_notes].astype(np.float32), velocity[:max_notes].astype(np.float32)[:, None]


def phrase_start(onset: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Onset of the phrase each note belongs to: a phrase begins at the first note, and at every note whose onset
    is at least PHRASE_REST_BEATS after the latest end of all earlier notes."""
    latest_end = np.maximum.accumulate(onset + duration)
    starts = np.ones(len(onset), dtype=bool)
    starts[1:] = onset[1:] - latest_end[:-1] >= DYN.PHRASE_REST_BEATS
    index = np.maximum.accumulate(np.where(starts, np.arange(len(onset)), 0))
    return onset[index]


# ----------------------------------------------------------------------------- groove
STEPS_PER_BEAT = GRV.STEPS / GRV.BAR_BEATS


def drum_group(pitch: np.ndarray) -> np.ndarray:
    """Voice group per note (kel_contracts.groove.VOICE_GROUPS: kick, snare, hats, other)."""
    groups = np.full(len(pitch), len(GRV.VOICE_GROUPS) - 1)
    for index, name in enumerate(GRV.VOICE_GROUPS[:-1]):
        groups[np.isin(pitch, list(GRV.DRUM_GROUPS[name]))] = index
    return groups


def groove_features(song: Song, bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """GroovePredictor inputs [bars, 64] and targets [bars, 49] of a 4/4 drum performance."""
    notes = song.drums() or song.pitched()
    if not notes:
        raise TooShort("no drum notes")
    steps = GRV.STEPS
    onset = np.concatenate([p.onset for p in notes])
    pitch = np.concatenate([p.pitch for p in notes])
    velocity = np.concatenate([p.velocity for p in notes]).astype(np.float64)
    grid = np.round(onset * STEPS_PER_BEAT).astype(np.int64)                              # global sixteenth
    offset = np.clip((onset * STEPS_PER_BEAT - grid) * GRV.OFFSET_SCALE, -1, 1)        # sixteenths x 2
    bars, step = grid // steps, grid % steps
    n_bars = int(bars.max()) + 1
    x = np.zeros((n_bars, GRV.CONTRACT.inputs.size), dtype=np.float32)
    x[bars, _G["hit_kick"] + steps * drum_group(pitch) + step] = 1
    y = np.zeros((n_bars, GRV.CONTRACT.target_size), dtype=np.float64)
    timing, loud, mask = _GO["timing"], _GO["velocity"], GRV.CONTRACT.outputs.size
    counts = np.zeros((n_bars, steps))
    np.add.at(counts, (bars, step), 1)
    np.add.at(y, (bars, timing + step), offset)
    y[:, timing:timing + steps] = np.divide(y[:, timing:timing + steps], counts, out=np.zeros_like(counts),
                                            where=counts > 0)
    loudest = np.zeros((n_bars, steps))
    np.maximum.at(loudest, (bars, step), velocity)
    y[:, loud:loud + steps] = np.where(counts > 0, loudest / 127 * 2 - 1, 0)
    y[:, mask:mask + steps] = counts > 0
    y[:, mask + steps] = 60000.0 / bpm / STEPS_PER_BEAT
    return x, y.astype(np.float32)


MODELS = {"melody": "MelodyTransformer", "harmony": "HarmonyPredictor", "dynamics": "DynamicsEngine",
          "groove": "GroovePredictor"}
"""The MIDI models this library computes inputs for: its short name -> ModelSpec name."""


def training_features(song: Song) -> dict[str, np.ndarray | str]:
    """Each MIDI model's training inputs for ``song`` (keys of :data:`MODELS`): the ``[steps, size]`` array the
    training functions above compute, or the reason the song gives that model none (a string)."""
    runs = {"melody": lambda: melody_features(song), "harmony": lambda: harmony_features(song),
            "dynamics": lambda: dynamics_features(song)}
    if song.drums():
        runs["groove"] = lambda: groove_features(song, song.qpm)
    features: dict[str, np.ndarray | str] = {"groove": "no drum notes"} if not song.drums() else {}
    for name, run in runs.items():
        try:
            features[name] = run()[0]
        except TooShort as exc:
            features[name] = str(exc)
    return features
