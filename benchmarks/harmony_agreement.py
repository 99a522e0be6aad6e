"""Agreement of HarmonyPredictor's training targets with expert Roman-numeral analyses (music21's Bach chorales).

For every chorale of music21's corpus that has an expert analysis (``bach/choraleAnalyses/*.rntxt``), the score is
converted to MIDI exactly as the music21corpus dataset plugin converts it, read by the MIDI feature library, and the
training targets (the estimated chord of each harmony step) are compared with the expert's chord covering most of
that step: root (pitch class) and root + quality in the contract's 64-class vocabulary. Printed for the contract's
step (``harmony_steps``) and, for comparison, for whole bars and half bars.

    python benchmarks/harmony_agreement.py            # every analysed chorale
    python benchmarks/harmony_agreement.py --quick    # 4 chorales (the test runs this)
    python benchmarks/harmony_agreement.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from kel_contracts import harmony as HAR
from kel_midi_features import load_song
from kel_midi_features.features import bar_activity, chord_labels, harmony_steps

EXPERT_QUALITIES = {"maj": 0, "min": 1, "7": 2, "min7": 3, "dim": 4}


def analyses() -> list[tuple[Path, Path]]:
    """(analysis, score) pairs of music21's Bach chorale analyses whose score is in the corpus."""
    import music21.corpus

    base = Path(music21.corpus.__file__).parent / "bach"
    pairs = []
    for rntxt in sorted((base / "choraleAnalyses").glob("*.rntxt")):
        bwv = re.search(r"BWV:\s*(\S+)", rntxt.read_text(encoding="utf-8", errors="replace")[:500]).group(1)
        bwv = re.sub(r"^(\d+)\((\d+)\)\.(\d+)$", r"\1.\3-\2", bwv)   # 248(2).12 -> bwv248.12-2
        score = base / f"bwv{bwv}.mxl"
        if bwv.endswith("s") or not score.exists():
            continue    # 41.6s: the analysis is of a version without the instrumental interludes of the corpus score
        pairs.append((rntxt, score))
    return pairs


def expert_class(numeral) -> int:
    """An expert Roman numeral as a 64-class chord: root, and the quality its pitch classes spell."""
    root = numeral.root().pitchClass
    intervals = {(pc - root) % 12 for pc in numeral.pitchClasses}
    if {4, 7} <= intervals:
        quality = "7" if 10 in intervals else "maj"
    elif {3, 7} <= intervals:
        quality = "min7" if 10 in intervals else "min"
    elif {3, 6} <= intervals:
        quality = "dim"          # diminished triad, half-diminished and diminished sevenths
    elif {4, 8} <= intervals:
        return HAR.AUGMENTED
    else:
        return HAR.OTHER
    return 12 * EXPERT_QUALITIES[quality] + root


def expert_timeline(rntxt: Path, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(onset in quarter notes from the score's start, 64-class chord, pitch-class set [n, 12]) of every expert
    chord, in time order."""
    from music21 import converter, roman

    part = score.parts[0]
    starts: dict[int, float] = {}
    for measure in part.getElementsByClass("Measure"):
        starts.setdefault(int(measure.number), float(measure.offset))
    analysis = converter.parse(rntxt, format="romanText")
    onsets, classes, tones = [], [], []
    for numeral in analysis.recurse().getElementsByClass(roman.RomanNumeral):
        if numeral.measureNumber not in starts:
            continue
        onsets.append(starts[numeral.measureNumber] + float(numeral.offset))
        classes.append(expert_class(numeral))
        tones.append(np.isin(np.arange(12), list(numeral.pitchClasses)))
    order = np.argsort(onsets, kind="stable")
    return np.asarray(onsets)[order], np.asarray(classes)[order], np.asarray(tones, float).reshape(-1, 12)[order]


def transposition(tones: np.ndarray, onsets: np.ndarray, end: float, profile: np.ndarray) -> int:
    """Semitones to add to the expert's chords so that their tones best match the score's pitch content: some
    analyses are of the chorale in another key than music21's score (e.g. BWV 184.5: analysis in G, score in D).
    Decided by the pitch content of the whole piece only, never by the estimator under test."""
    content = (tones * np.diff(np.append(onsets, max(end, onsets[-1])))[:, None]).sum(axis=0)
    return int(np.argmax([np.dot(np.roll(content, t), profile) for t in range(12)]))


def transpose(classes: np.ndarray, semitones: int) -> np.ndarray:
    rooted = classes < HAR.NO_CHORD
    return np.where(rooted, classes - classes % 12 + (classes % 12 + semitones) % 12, classes)


def expert_per_step(onsets: np.ndarray, classes: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The expert chord sounding longest in each step [start, end) (-1 where none is in force)."""
    bounds = np.append(onsets[1:], np.inf)
    out = np.full(len(start), -1)
    for i, (s, e) in enumerate(zip(start, end)):
        overlap = np.minimum(bounds, e) - np.maximum(onsets, s)
        if overlap.max(initial=0) > 0:
            out[i] = classes[int(overlap.argmax())]
    return out


def split_steps(start: np.ndarray, end: np.ndarray, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Each step cut into ``parts`` equal pieces (half bars)."""
    edges = start[:, None] + (end - start)[:, None] * np.arange(parts + 1)[None, :] / parts
    return edges[:, :-1].ravel(), edges[:, 1:].ravel()


def measure(pairs: list[tuple[Path, Path]]) -> dict:
    from music21 import converter

    from kel_plugin_music21_corpus.convert import score_to_midi

    tally = {kind: Counter() for kind in ("beat", "half_bar", "bar")}
    labels_seen = Counter()
    with tempfile.TemporaryDirectory(prefix="kel-agree-") as folder:
        for rntxt, score_path in pairs:
            score = converter.parse(score_path)
            midi = Path(folder) / f"{score_path.stem}.mid"
            midi.write_bytes(score_to_midi(score))
            song = load_song(midi)
            onsets, classes, tones = expert_timeline(rntxt, score)
            whole = bar_activity(song.pitched(), np.zeros(1), np.full(1, song.end), 12)[0]
            shift = transposition(tones, onsets, song.end, whole)
            classes = transpose(classes, shift)
            tally["beat"]["transposed"] += shift != 0
            bar_start, bar_end = song.bar_map.bars_before(song.end)
            steps = {"beat": harmony_steps(song), "half_bar": split_steps(bar_start, bar_end, 2),
                     "bar": (bar_start, bar_end)}
            for kind, (start, end) in steps.items():
                ours = chord_labels(bar_activity(song.pitched(), start, end, 12),
                                    bar_activity(song.pitched(), start, end, 128))
                theirs = expert_per_step(onsets, classes, start, end)
                known = theirs >= 0
                ours, theirs = ours[known], theirs[known]
                rooted = (ours < HAR.NO_CHORD) & (theirs < HAR.NO_CHORD)
                tally[kind]["steps"] += len(theirs)
                tally[kind]["root"] += int(np.sum(rooted & (ours % 12 == theirs % 12)))
                tally[kind]["exact"] += int(np.sum(ours == theirs))
                if kind == "beat":
                    labels_seen.update(int(c) for c in ours)
                    tally[kind].update(f"expert:{int(c)}" for c in theirs)
    result = {"pieces": len(pairs), "transposed_analyses": tally["beat"]["transposed"]}
    for kind, counts in tally.items():
        steps = max(counts["steps"], 1)
        result[kind] = {"steps": counts["steps"], "root": counts["root"] / steps,
                        "root_quality": counts["exact"] / steps}
    experts = Counter({int(k.split(":")[1]): v for k, v in tally["beat"].items() if k.startswith("expert:")})
    total = max(sum(labels_seen.values()), 1)
    quality = Counter(HAR.CHORD_NAMES[c].split(":")[-1] for c in labels_seen.elements())
    result["target_qualities"] = {q: n / total for q, n in sorted(quality.items())}
    result["majority_class_share"] = experts.most_common(1)[0][1] / max(sum(experts.values()), 1) if experts else 0.0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 chorales only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    pairs = analyses()
    if args.quick:
        pairs = pairs[:4]
    result = measure(pairs)
    print(f"harmony targets vs expert analyses: {result['pieces']} Bach chorales (music21 corpus; "
          f"{result['transposed_analyses']} analyses are in another key than the score and were transposed to it)")
    for kind in ("beat", "half_bar", "bar"):
        row = result[kind]
        contract = "  <- contract step" if kind == "beat" else ""
        print(f"  {kind:8s} {row['steps']:5d} steps  root {100 * row['root']:5.1f} %  root+quality "
              f"{100 * row['root_quality']:5.1f} %{contract}")
    print("  target qualities (beat): " + ", ".join(f"{q} {100 * s:.1f} %" for q, s in
                                                   result["target_qualities"].items()))
    print(f"  commonest expert chord covers {100 * result['majority_class_share']:.1f} % of the beats")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
