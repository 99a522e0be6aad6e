"""HarmonyPredictor 128 -> 64: a beat's melody pitch activity in, a distribution over 64 chord classes out."""
from __future__ import annotations

from . import timing
from .layout import Contract, Layout, Segment
from .melody import PITCH_CLASS_NAMES

QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "min7": (0, 3, 7, 10), "dim": (0, 3, 6)}
NO_CHORD, AUGMENTED, SUSPENDED, OTHER = 60, 61, 62, 63
AUGMENTED_INTERVALS, SUSPENDED_INTERVALS = (0, 4, 8), (0, 5, 7)
CHORD_NAMES = tuple([f"{PITCH_CLASS_NAMES[r]}:{q}" for q in QUALITIES for r in range(12)]
                    + ["N", "aug", "sus", "other"])
# Training-side chord estimate from all non-drum tracks: score = on-chord share - OFF_PENALTY x off-chord share
# - NOTE_PENALTY x template notes - SEVENTH_PENALTY (seventh chords) - SPECIAL_PENALTY (aug, sus)
# + BASS_ROOT_BONUS (the step's lowest sounding pitch class is the root) + BASS_TONE_BONUS (it is a chord tone);
# best share below OTHER_BELOW -> "other"; a silent step -> "N" (but see REST_CARRY_STEPS). Chosen in 3.1.0 on music21's 19 analysed Bach
# chorales; with the joint labelling of 3.3.0 they are also what the search chooses on its 47 alignable Monteverdi
# madrigals, reported on the chorales (benchmarks/harmony_agreement.py; figures in docs/ML_TRAINING_GUIDE.md).
# SPECIAL_PENALTY is larger than any template's share can make up: augmented and suspended triads are never
# estimated (expert analyses never write sus; with them off agreement rose on both corpora), classes 61/62 stay.
OFF_PENALTY, NOTE_PENALTY, OTHER_BELOW = 0.4, 0.05, 0.4
SEVENTH_PENALTY, BASS_ROOT_BONUS, BASS_TONE_BONUS, SPECIAL_PENALTY = 0.2, 0.1, 0.0, 10.0
# The steps of a piece are labelled jointly (dynamic programming): a chord change between two steps costs
# CHANGE_COST + HELD_CHANGE_COST x the share of the later step's sound held over from before it (a suspension or a
# passing note over a held chord does not start a new chord; a new chord struck on the beat changes cheaply).
CHANGE_COST, HELD_CHANGE_COST = 0.1, 0.3
# A rest of every part inside a piece lasting at most REST_CARRY_STEPS steps (a breath between phrases) keeps the
# chord before it, as analysts write it (a chord is in force until the next); a longer silence, or one before the
# first or after the last sound, is "N". Measured: 101 of Monteverdi's 14,624 analysed beats are such rests.
REST_CARRY_STEPS = 2
STEP_BEATS = 1.0     # one step per beat (quarter note) of the bar grid; chorales change chord on almost every beat
MIN_BARS = 4

CONTRACT = Contract(
    model="HarmonyPredictor",
    version="3.4.0",
    datasets="lakh task = \"harmony\", music21corpus task = \"harmony\"",
    step="one beat: every bar of the time-signature map cut into steps of 1 beat (quarter note) from its start, "
         "the last one cut short at the bar's end",
    plugin_supplies="the melody notes (pitch, onset and duration in beats) that sound in the step, and the step's "
                    "start and end (from the bar start and length); reset at the start of each song",
    inputs=Layout((Segment("melody_pitch", 128, "duration-weighted activity of MIDI pitch {label} in the step's "
                           "melody", "0..1 (divided by the step's maximum)"),)),
    input_normalisation="identity",
    outputs=Layout((Segment("chord", 64, "probability of chord class {label}", "0..1, sums to 1",
                            CHORD_NAMES),)),
    output_normalisation="softmax",
    targets="[chord_class] 0..63, the step's chord estimated from all non-drum tracks (the song's steps labelled "
            "jointly)", target_size=1,
    decoding="class 12 q + r is root r (C = 0) with quality q in maj, min, 7, min7, dim; 60 N (no chord), "
             "61 aug, 62 sus, 63 other; the names are CHORD_NAMES (kel::harmony::kChordNames in C++).",
    changes=("3.4.0: a rest of every part inside a piece of at most two steps keeps the chord before it (analysts' "
             "convention: a chord is in force until the next) instead of \"N\"; longer silences and silence before the "
             "first or after the last sound stay \"N\". Training targets change on such rests only; inputs do not. Per "
             "beat against the expert analyses (benchmarks/harmony_agreement.py): Monteverdi root 85.2 %, "
             "root+quality 80.9 % (3.3.0: 84.6 / 80.4), Bach 88.7 / 85.9 (88.3 / 85.5).",
             "3.3.0: the target estimator labels the beats of a piece jointly (dynamic programming) instead of each "
             "beat on its own: a chord change costs 0.1 + 0.3 x the share of the beat's sound held over from the beat "
             "before (a 4-3 suspension or a passing note over a held chord no longer starts a chord); a bare fifth "
             "(no third sounding) takes the quality of its neighbouring beat's chord on the same root instead of "
             "major. Training targets change; inputs do not. Per beat against the expert analyses (benchmarks/"
             "harmony_agreement.py; these parameters are what the search chooses on Monteverdi): Monteverdi root "
             "84.6 %, root+quality 80.4 %, Bach, not tuned on, 88.3 / 85.5 (under the benchmark's definitions of "
             "3.2.0: 82.5 / 79.0 and 88.3 / 85.5, where 3.2.0 had 80.4 / 75.1 and 87.3 / 85.5); figures and "
             "definitions in docs/ML_TRAINING_GUIDE.md.",
             "3.2.0: times are integer ticks on the contracts' grid of 960 per beat (kel_contracts.timing), "
             "computed from the file's ticks exactly as a plugin computes them from its host's ppq position; "
             "training had used the MIDI parser's float32 beats (durations f32(end) - f32(start)), which a plugin "
             "computing in double missed (DynamicsEngine inputs differed on 2,050 of 2,234 rows of a Lakh file).",
             "3.1.0: the target estimator never estimates augmented or suspended triads (expert analyses have no "
             "sus: 4-3 suspensions were the commonest disagreement), weighs the bass root more and calls a step "
             "\"other\" only below 40 % of its energy on the best template; chosen on the Bach chorale analyses "
             "(root 87.3 %, root+quality 85.5 % per beat), reported on the Monteverdi madrigal analyses it was not "
             "chosen on (figures in docs/DATASETS.md).",
             "3.0.0: one step per beat (was one bar); the target estimator weighs the bass, penalises seventh, "
             "augmented and suspended templates (a triad with a passing tone is no longer its relative's seventh "
             "chord); agrees with expert analyses of Bach chorales on the root of 86 % of the beats (64 % with one "
             "step per bar).",
             "2.0.0: bars follow every time signature of the file (not only the first).",
             "1.0.0: first version."),
    constants={"ticks_per_beat": timing.TICKS_PER_BEAT,
               "qualities": QUALITIES, "special": [NO_CHORD, AUGMENTED, SUSPENDED, OTHER],
               "augmented": AUGMENTED_INTERVALS, "suspended": SUSPENDED_INTERVALS,
               "estimator": [OFF_PENALTY, NOTE_PENALTY, OTHER_BELOW, SEVENTH_PENALTY, BASS_ROOT_BONUS,
                             BASS_TONE_BONUS, SPECIAL_PENALTY, CHANGE_COST, HELD_CHANGE_COST, REST_CARRY_STEPS],
               "min_bars": MIN_BARS, "step_beats": STEP_BEATS},
    details=(
        "Steps: bar [b, b + L) gives steps [b + k, min(b + k + 1, b + L)) for k = 0, 1, ... (a 3/8 bar: 1 and 0.5 "
        "beats; a one-beat pickup bar: one step).",
        "Activity of pitch p in a step [s, e): the sum over the melody notes of pitch p of the overlap of "
        "[onset, onset + duration) with [s, e), in beats; then every element is divided by the step's largest "
        "(a silent step is all zero).",
        "Target (training): the same activity over all non-drum tracks, folded to 12 pitch classes and divided by "
        "its sum, matched to the 60 root/quality templates (score above; the augmented and suspended templates are "
        "penalised out: classes 61 and 62 are never targets); the bass is the lowest pitch sounding in the step. "
        "The steps of a song are labelled jointly: the templates maximising the sum of the step scores less "
        "CHANGE_COST + HELD_CHANGE_COST x (share of the step's activity from notes begun before the step) at each "
        "step whose template differs from the previous step's (no cost into or out of a silent step); then a "
        "major or minor triad whose third does not sound takes the class of the previous (else next) step's chord "
        "on the same root; then \"other\" (best share below OTHER_BELOW) and \"N\" (silent), except that a run "
        "of at most REST_CARRY_STEPS silent steps with sound before and after it takes the class of the step "
        "before it.",
    ),
)
