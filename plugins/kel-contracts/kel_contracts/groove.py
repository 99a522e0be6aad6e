"""GroovePredictor 64 -> 32: one bar of quantised drum hits in, micro-timing and velocity per step out."""
from __future__ import annotations

from . import timing
from .layout import Contract, Layout, Segment

STEPS = 16
BAR_BEATS = 4.0
OFFSET_SCALE = 2.0                  # outputs are sixteenths x 2: +-1 = +-half a sixteenth
VOICE_GROUPS = ("kick", "snare", "hats", "other")
DRUM_GROUPS = {"kick": (35, 36), "snare": (37, 38, 40), "hats": (22, 26, 42, 44, 46)}   # other: everything else


def drum_group_of(note: int) -> int:
    """Voice group index (0 kick, 1 snare, 2 hats, 3 other) of a General MIDI drum note."""
    for index, name in enumerate(VOICE_GROUPS[:-1]):
        if note in DRUM_GROUPS[name]:
            return index
    return len(VOICE_GROUPS) - 1


CONTRACT = Contract(
    model="GroovePredictor",
    version="2.1.0",
    datasets="groove-midi",
    step="one 4/4 bar of a beat performance (fills and other metres are skipped and counted)",
    plugin_supplies="the bar's drum hits (General MIDI note, onset in beats from the bar start, velocity) and "
                    "the tempo for decoding; reset at the start of each performance",
    inputs=Layout(tuple(Segment(f"hit_{voice}", STEPS, f"a {voice} hit is quantised to sixteenth {{label}}",
                                "0 or 1") for voice in VOICE_GROUPS)),
    input_normalisation="identity",
    outputs=Layout((Segment("timing", STEPS, "micro-timing of the hits at sixteenth {label}, in sixteenths x 2",
                            "-1..1 (tanh)"),
                    Segment("velocity", STEPS, "velocity y of the hits at sixteenth {label}; MIDI velocity = "
                            "127 (y + 1) / 2", "-1..1 (tanh)"))),
    output_normalisation="tanh",
    targets="49 values: 0..15 mean timing offset and 16..31 max velocity (as y) of the hits at each step (0 where "
            "none), 32..47 a mask (1 where the step has a hit), 48 the length of a sixteenth in ms",
    target_size=49,
    decoding="offset in ms = y_timing / 2 x (60,000 / qpm / 4); MIDI velocity = 127 (y_velocity + 1) / 2.",
    changes=("2.1.0: times are integer ticks on the contracts' grid of 960 per beat (kel_contracts.timing), "
             "computed from the file's ticks exactly as a plugin computes them from its host's ppq position; "
             "training had used the MIDI parser's float32 beats (durations f32(end) - f32(start)), which a plugin "
             "computing in double missed (DynamicsEngine inputs differed on 2,050 of 2,234 rows of a Lakh file).",
             "2.0.0: MIDI note 35 (acoustic bass drum) is a kick, as training always treated it (1.0.0 listed 36 "
             "alone, so a plugin following it put note 35 in the 'other' group).",
             "1.0.0: first version."),
    constants={"ticks_per_beat": timing.TICKS_PER_BEAT,
               "steps": STEPS, "bar_beats": BAR_BEATS, "offset_scale": OFFSET_SCALE, "groups": DRUM_GROUPS},
    details=(
        "A hit at onset t (beats from the performance's start) lands on global sixteenth g = round(4 t); its bar "
        "is g // 16 and its step g mod 16 (so a hit just before a bar line belongs to the next bar's step 0). "
        "Voice groups: kick 35, 36; snare 37, 38, 40; hats 22, 26, 42, 44, 46; other: every other note.",
        "Targets: offset = clip(2 (4 t - g), -1, 1), averaged over the step's hits; velocity y = 2 v / 127 - 1 "
        "of the loudest hit.",
    ),
)
