"""DynamicsEngine 32 -> 16: a note's score context in, a distribution over 16 velocity bins out.

Every input is causal: it depends on the note, the notes that start with it (its onset group) and earlier notes
only, so a plugin that generates or receives notes phrase by phrase can compute it when the note is played.
"""
from __future__ import annotations

from . import timing
from .layout import Contract, Layout, Segment, one_hot, scalar
from .melody import PITCH_CLASS_NAMES

DURATION_OFFSET = 1 / 32            # beats added before log2
DENSITY_BEATS = 4.0                 # trailing window of the note density
GROUP_GRID = 16                     # notes whose round(onset x 16) agree form one onset group (a chord)
STRENGTH_TOLERANCE = 0.06           # beats
PHRASE_REST_BEATS = 1.0             # silence that starts a new phrase
PHRASE_SCALE_BEATS = 16.0
PHRASE_BARS = 4
REGISTER_CENTRE, REGISTER_SCALE, INTERVAL_SCALE = 60.0, 24.0, 12.0
PEDAL_DOWN = 64
VELOCITY_BINS, BIN_WIDTH = 16, 8
MAX_NOTES = 4000
MIN_STEPS = 8


def bin_centre(k: int) -> float:
    """MIDI velocity at the centre of bin ``k`` (bins are ``velocity // 8``)."""
    return BIN_WIDTH * k + (BIN_WIDTH - 1) / 2


INPUTS = Layout((
    scalar("pitch", "MIDI pitch", "0..127"),
    scalar("log_duration", "log2(duration + 1/32), duration in beats", "log2 beats"),
    scalar("log_ioi_previous", "log2(onset - previous note's onset + 1/32); 0 for the first note", "log2 beats"),
    scalar("log_duration_previous", "log2(previous note's duration + 1/32); 0 for the first note", "log2 beats"),
    scalar("beat_position", "position within the beat: onset mod 1", "0..1"),
    one_hot("strength", ("downbeat", "beat", "eighth", "other"), "beat strength is {label}: at most 0.06 beats "
            "after the bar start, after a beat (onset mod 1), after an eighth (onset mod 0.5), else other (the "
            "first that applies; a note early by any amount is 'other')"),
    scalar("density", "notes with onsets in (onset - 4, onset] beats, / 4", "notes per beat"),
    scalar("phrase_position", "position in the four-bar phrase: ((bar index mod 4) + position in bar) / 4", "0..1"),
    scalar("group_size", "notes in the onset group (same round(onset x 16))", "count"),
    scalar("group_highest", "1 if no note of the onset group is higher", "0 or 1"),
    scalar("group_lowest", "1 if no note of the onset group is lower", "0 or 1"),
    scalar("pedal", "sustain pedal (CC64 >= 64) down at the onset", "0 or 1"),
    scalar("tempo", "tempo (qpm) at the onset", "qpm"),
    one_hot("pitch_class", PITCH_CLASS_NAMES, "pitch class is {label}"),
    scalar("register", "(pitch - 60) / 24", "about -2.5..2.7"),
    scalar("interval", "(pitch - previous note's pitch) / 12; 0 for the first note", "octaves"),
    scalar("since_rest", "beats since the phrase began (the first note after a silence of at least 1 beat, or "
                         "the first note) / 16, clipped to 1", "0..1"),
    scalar("bar_position", "position in the bar: beats since the bar start / bar length", "0..1"),
))
OUTPUTS = Layout((Segment("velocity_bin", VELOCITY_BINS, "probability that velocity // 8 is {label}",
                          "0..1, sums to 1"),))

CONTRACT = Contract(
    model="DynamicsEngine",
    version="2.1.0",
    datasets="maestro task = \"dynamics\"",
    step="one note, in onset order (an onset group's notes by ascending pitch)",
    plugin_supplies="each onset group's notes together (pitch, onset and duration in beats), the bar start and "
                    "length, the tempo and the sustain pedal at the onset; earlier notes are remembered by the "
                    "feature state; reset at the start of each piece",
    inputs=INPUTS, input_normalisation="standardised", outputs=OUTPUTS, output_normalisation="softmax",
    targets="[velocity], MIDI velocity 1..127 as a float", target_size=1,
    decoding="expected velocity = sum_k p_k (8 k + 3.5).",
    changes=("2.1.0: times are integer ticks on the contracts' grid of 960 per beat (kel_contracts.timing), "
             "computed from the file's ticks exactly as a plugin computes them from its host's ppq position; "
             "training had used the MIDI parser's float32 beats (durations f32(end) - f32(start)), which a plugin "
             "computing in double missed (DynamicsEngine inputs differed on 2,050 of 2,234 rows of a Lakh file).",
             "2.0.0: every input is causal, so a plugin can compute it when it plays the note: the inter-onset "
             "interval to the NEXT note became the previous note's duration, the note density over +-2 beats a "
             "trailing 4-beat density, the position in the whole piece (which needs the piece's end) the time "
             "since the phrase began; tempo and bars follow the file's tempo and time-signature maps.",
             "1.0.0: first version."),
    constants={"ticks_per_beat": timing.TICKS_PER_BEAT,
               "duration_offset": DURATION_OFFSET, "density_beats": DENSITY_BEATS, "group_grid": GROUP_GRID,
               "strength_tolerance": STRENGTH_TOLERANCE, "phrase_rest": PHRASE_REST_BEATS,
               "phrase_scale": PHRASE_SCALE_BEATS, "phrase_bars": PHRASE_BARS,
               "register": [REGISTER_CENTRE, REGISTER_SCALE, INTERVAL_SCALE], "pedal_down": PEDAL_DOWN,
               "velocity_bins": [VELOCITY_BINS, BIN_WIDTH], "max_notes": MAX_NOTES, "min_steps": MIN_STEPS},
    details=(
        "Order: notes sorted by onset, then pitch; the previous note is the one before in that order (for the "
        "second note of a chord: the first, with an inter-onset interval of 0). Only the first 4,000 notes of a "
        "piece are used in training.",
        "Silence before a note: its onset minus the latest end (onset + duration) of all earlier notes.",
    ),
)
