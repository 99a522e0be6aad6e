"""MelodyTransformer 64 -> 128: the previous melody note and its context in, the next pitch out."""
from __future__ import annotations

from . import timing
from .layout import Contract, Layout, Segment, one_hot, scalar

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
OCTAVES = 11
DURATION_CLASSES = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
POSITIONS = 16                      # sixteenth steps of the bar (positions past 16 wrap)
REST_BEATS = 1.0
TEMPO_SCALE = 200.0
MIN_DURATION = 1e-3                 # beats, before log2
# Training-side proxy for songs without emotion labels (the plugin supplies its own valence and arousal).
PROXY_VALENCE_MAJOR, PROXY_VALENCE_MINOR = 0.5, -0.5
PROXY_TEMPO_CENTRE, PROXY_TEMPO_SCALE = 100.0, 60.0
PROXY_VELOCITY_CENTRE, PROXY_VELOCITY_SCALE = 64.0, 64.0
# Krumhansl-Kessler key profiles (training-side key estimate; the plugin supplies its key), tonic first.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
MIN_STEPS = 8
# Training-side melody line: a track named with one of these words (a sung top voice first of all) ...
MELODY_NAMES = ("melody", "vocal", "voice", "lead", "sing", "solo", "soprano", "sopran", "cantus", "canto",
                "superius", "treble", "descant")
DOUBLING_SHARE = 0.6                # ... else the highest track that does not double a lower one (this share)

INPUTS = Layout((
    one_hot("prev_pitch_class", PITCH_CLASS_NAMES, "previous note's pitch class is {label} (all zero at the first "
                                                   "step)"),
    one_hot("prev_octave", [str(o) for o in range(OCTAVES)], "previous note's octave pitch // 12 is {label} "
                                                             "(clipped to 0..10; all zero at the first step)"),
    scalar("rest", "1 at the first step, or when a rest of at least 1 beat (onset minus the previous note's end) "
                   "precedes the note to predict", "0 or 1"),
    one_hot("prev_duration", [f"{d:g}" for d in DURATION_CLASSES], "previous note lasted about {label} beats "
                                                                   "(nearest in log2; all zero at the first step)"),
    one_hot("position", [str(s) for s in range(POSITIONS)], "the note to predict starts on sixteenth {label} of its "
                                                            "bar: round(4 x beats since the bar start) mod 16"),
    one_hot("key", PITCH_CLASS_NAMES, "the key's tonic is {label}"),
    scalar("mode", "mode of the key", "1 major, 0 minor"),
    scalar("valence", "emotion conditioning: valence", "-1..1"),
    scalar("arousal", "emotion conditioning: arousal", "-1..1"),
    scalar("tempo", "tempo (qpm) at the note to predict / 200", "0..1 (clipped)"),
))
OUTPUTS = Layout((Segment("pitch", 128, "probability that the next note is MIDI pitch {label}", "0..1, sums to 1"),))

CONTRACT = Contract(
    model="MelodyTransformer",
    version="2.2.0",
    datasets="lakh task = \"melody\", maestro task = \"melody\", music21corpus task = \"melody\"",
    step="one note of the monophonic melody line, in onset order",
    plugin_supplies="the previous melody note (pitch, onset and duration in beats), the onset of the note to "
                    "predict, the bar start and bar length at that onset, the tempo there, the key and mode, "
                    "valence and arousal; reset at the start of each song",
    inputs=INPUTS, input_normalisation="identity", outputs=OUTPUTS, output_normalisation="softmax",
    targets="[next_pitch], MIDI pitch 0..127 as a float", target_size=1,
    decoding="outputs are the next note's pitch distribution: argmax, top-k or sample from it.",
    changes=("2.2.0: times are integer ticks on the contracts' grid of 960 per beat (kel_contracts.timing), "
             "computed from the file's ticks exactly as a plugin computes them from its host's ppq position; "
             "training had used the MIDI parser's float32 beats (durations f32(end) - f32(start)), which a plugin "
             "computing in double missed (DynamicsEngine inputs differed on 2,050 of 2,234 rows of a Lakh file).",
             "2.1.0: melody line (training): soprano-like names count as melody names, and the highest unnamed "
             "track is skipped when it doubles a lower one (instrumental doublings above the voice).",
             "2.0.0: the tempo is the one in force at the note (not the file's first); positions follow every "
             "time signature of the file (not only the first).",
             "1.0.0: first version."),
    constants={"ticks_per_beat": timing.TICKS_PER_BEAT,
               "duration_classes": DURATION_CLASSES, "positions": POSITIONS, "rest_beats": REST_BEATS,
               "tempo_scale": TEMPO_SCALE, "octaves": OCTAVES, "min_duration": MIN_DURATION,
               "proxy": [PROXY_VALENCE_MAJOR, PROXY_VALENCE_MINOR, PROXY_TEMPO_CENTRE, PROXY_TEMPO_SCALE,
                         PROXY_VELOCITY_CENTRE, PROXY_VELOCITY_SCALE],
               "key_profiles": [MAJOR_PROFILE, MINOR_PROFILE], "min_steps": MIN_STEPS,
               "melody_line": [MELODY_NAMES, DOUBLING_SHARE]},
    details=(
        "Melody line (training): the first track named like a melody or a top voice (" + ", ".join(MELODY_NAMES)
        + "), else, of the pitched tracks with at least 16 notes by mean pitch from the highest, the first that "
        f"does not double a lower one (a track doubles another when at least {DOUBLING_SHARE:g} of its notes start "
        "with a note of the same pitch class in the other, onsets on a 1/16-beat grid); reduced to its top line "
        "(of onsets within 1/16 beat keep the highest pitch).",
        "Duration class: the class c minimising |log2(max(duration, 0.001)) - log2(c)| (the first on a tie).",
        "Key and mode (training): the Krumhansl-Kessler profile, rotated to each of the 24 keys, that correlates "
        "best with the song's duration-weighted pitch-class histogram. Valence and arousal (training, unlabelled "
        "songs): valence +0.5 major / -0.5 minor; arousal = clip((first tempo - 100) / 60 + (mean velocity - 64) "
        "/ 64, -1, 1).",
    ),
)
