"""Agreement of HarmonyPredictor's training targets with expert Roman-numeral analyses, on two corpora: every
score + analysis pair music21 ships (Bach chorales: ``bach/choraleAnalyses``; Monteverdi madrigals:
``monteverdi/madrigal.*.rntxt``).

Each score is put on one bar grid and converted to MIDI exactly as the music21corpus dataset plugin does, read by
the MIDI feature library, and the training targets (the estimated chord of each harmony step) are compared with the
expert's chord covering most of that step: root (pitch class) and root + quality in the contract's 64-class
vocabulary, the expert's quality as the numeral names it (``i[no3]`` is minor); where the expert's chord is outside
that vocabulary (augmented, Italian sixth, ...) the root alone is compared, for both figures (``--sounding-quality``:
the definition before contract 3.3.0, the quality its sounding members spell and such chords never agreeing). The
estimator labels each piece's steps jointly, as training does. Printed per piece and per corpus, for the contract's
step (one beat) and, overall, for half bars and bars; the published reference beside them (AugmentedNet, ISMIR
2021: 83-90 % root, 80-86 % quality per time step).

An analysis is laid on the score by its own timeline (the offsets of its numerals) where each of its bars starts
where the score's bar of that number does; else bar for bar with its repeats expanded where that gives the score's
bars (bwv277: 12 bars with a repeat, 16 written out in the score; the pickup bar is not played again); else by
bar number where every chord falls inside the score's bar of its number (analyses that leave out the opening
rests); else the pair is excluded with the reason printed (madrigal.3.8: music21 reads the score's last bar as
empty, 4 beats short of the analysis). A score the plugin refuses is excluded likewise. The sus question: each
figure is also printed with the augmented and suspended templates the other way (on, penalised 0.2; the contract
has them off).

    python benchmarks/harmony_agreement.py                      # every pair of both corpora
    python benchmarks/harmony_agreement.py --choose-on bach monteverdi   # also: choose the estimator's parameters
                                                          # on one corpus, report them on the other
    python benchmarks/harmony_agreement.py --quick              # 4 chorales + 2 madrigals (the test runs this)
    python benchmarks/harmony_agreement.py --json out.json
    python benchmarks/harmony_agreement.py --sounding-quality   # the definitions before contract 3.3.0
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kel_contracts import harmony as HAR
from kel_midi_features import load_song
from kel_midi_features.features import bar_activity, chord_labels, harmony_steps, held_share

EXPERT_QUALITIES = {"maj": 0, "min": 1, "7": 2, "min7": 3, "dim": 4}
CORPORA = ("bach", "monteverdi")
PUBLISHED = "AugmentedNet (ISMIR 2021): 83-90 % root, 80-86 % quality per time step on its test sets"
KINDS = ("beat", "half_bar", "bar")
BOOTSTRAP = 2000    # resamplings of the pieces for the 95 % intervals
SOUNDING_QUALITY = False    # --sounding-quality: expert quality as its chord sounds, out-of-vocabulary never agrees
# the estimator's parameters searched by --choose-on (kel_contracts.harmony), each with the values tried
SEARCH = {"OFF_PENALTY": (0.3, 0.4, 0.5), "SEVENTH_PENALTY": (0.1, 0.2, 0.3), "SPECIAL_PENALTY": (0.2, 10.0),
          "BASS_ROOT_BONUS": (0.0, 0.05, 0.1), "OTHER_BELOW": (0.4, 0.5)}


def corpus_base() -> Path:
    import music21.corpus

    return Path(music21.corpus.__file__).parent


def bach_pairs() -> list[tuple[Path, Path]]:
    """(analysis, score) pairs of music21's Bach chorale analyses whose score is in the corpus."""
    base = corpus_base() / "bach"
    pairs = []
    for rntxt in sorted((base / "choraleAnalyses").glob("*.rntxt")):
        bwv = re.search(r"BWV:\s*(\S+)", rntxt.read_text(encoding="utf-8", errors="replace")[:500]).group(1)
        bwv = re.sub(r"^(\d+)\((\d+)\)\.(\d+)$", r"\1.\3-\2", bwv)   # 248(2).12 -> bwv248.12-2
        score = base / f"bwv{bwv}.mxl"
        if bwv.endswith("s") or not score.exists():
            continue    # 41.6s: the analysis is of a version without the instrumental interludes of the corpus score
        pairs.append((rntxt, score))
    return pairs


def monteverdi_pairs() -> list[tuple[Path, Path]]:
    """(analysis, score) pairs of music21's Monteverdi madrigals (same stem)."""
    base = corpus_base() / "monteverdi"
    return [(rntxt, rntxt.with_suffix(".mxl")) for rntxt in sorted(base.glob("madrigal.*.rntxt"))
            if rntxt.with_suffix(".mxl").exists()]


def pairs_of(corpus: str) -> list[tuple[Path, Path]]:
    return {"bach": bach_pairs, "monteverdi": monteverdi_pairs}[corpus]()


def expert_class(numeral, sounding: bool = False) -> int:
    """An expert Roman numeral as a 64-class chord: root, and the quality its pitch classes spell -- with the
    members it omits put back (``i[no3]`` is minor: what the expert says), or with ``sounding`` as they sound
    (``i[no3]`` is "other", the definition before contract 3.3.0)."""
    if not sounding and getattr(numeral, "omittedSteps", None):
        from music21 import roman

        numeral = roman.RomanNumeral(re.sub(r"\[(no\d+)+\]", "", numeral.figure), numeral.key)
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


class Misaligned(ValueError):
    """The analysis does not line up with its score."""


def _bar_starts(part) -> dict[int, float]:
    starts: dict[int, float] = {}
    for measure in part.getElementsByClass("Measure"):
        starts.setdefault(int(measure.number), float(measure.offset))
    return starts


def _first_difference(analysis: dict[int, float], score: dict[int, float]) -> int | None:
    """The first bar number whose start differs between the analysis and the score (None: they agree)."""
    return next((n for n, start in sorted(analysis.items()) if n not in score or abs(score[n] - start) > 1e-6), None)


def _numerals(part) -> list:
    from music21 import roman

    return list(part.recurse().getElementsByClass(roman.RomanNumeral))


def _by_bar_number(part, score) -> tuple[list[float], str | None]:
    """Each numeral's onset in the score by its bar number (the score's bar start + its offset in the bar), or
    why that does not fit (a bar the score lacks, a numeral past the end of the score's bar)."""
    bars = {}
    for measure in score.parts[0].getElementsByClass("Measure"):
        bars.setdefault(int(measure.number), (float(measure.offset), float(measure.duration.quarterLength)))
    onsets = []
    for numeral in _numerals(part):
        number = numeral.measureNumber
        if number not in bars:
            return [], f"bar {number} of the analysis is not in the score"
        start, length = bars[number]
        within = float(numeral.offset)
        if within >= length:
            return [], f"a chord at beat {within:g} of bar {number}, a bar of {length:g} beats in the score"
        onsets.append(start + within)
    return onsets, None


def _played_bars(part) -> list:
    """The analysis's bars in the order they are played: each end repeat (``:||``) goes back once to the bar of the
    last start repeat (``||:``) before it, or to the first bar, leaving out a pickup bar (bar 0): on the repeat, the
    bar before it holds the upbeat (bwv277: bars 0, 1-4, 1-4, 5-12 -- 16 full bars after the pickup, as the score
    writes them out; music21's ``expandRepeats`` plays the pickup again and puts the second half a beat late)."""
    from music21 import bar

    measures = list(part.getElementsByClass("Measure"))
    played, start, done, i = [], None, set(), 0
    while i < len(measures):
        measure = measures[i]
        if isinstance(measure.leftBarline, bar.Repeat) and measure.leftBarline.direction == "start":
            start = i
        played.append(measure)
        right = measure.rightBarline
        if isinstance(right, bar.Repeat) and right.direction == "end" and i not in done:
            done.add(i)
            first = 1 if int(measures[0].number) == 0 and len(measures) > 1 else 0
            i = start if start is not None else first
            start = None
            continue
        i += 1
    return played


def _by_played_bars(part, score) -> tuple[list, list[float], float, str | None]:
    """Numerals and their onsets with the analysis's bars in playing order (repeats expanded) laid on the score's
    bars in order, bar for bar: each numeral at its offset in its bar from the start of the score's bar in the same
    place; or why not (the bar counts differ, a chord past the end of the score's bar)."""
    played = _played_bars(part)
    bars = list(score.parts[0].getElementsByClass("Measure"))
    if len(played) != len(bars) or len(played) == len(part.getElementsByClass("Measure")):
        return [], [], 0.0, (f"{len(played)} bars in playing order, {len(bars)} in the score"
                             if len(played) != len(bars) else "no repeat")
    numerals, onsets = [], []
    for theirs, ours in zip(played, bars):
        length = float(ours.duration.quarterLength)
        for numeral in theirs.recurse().getElementsByClass("RomanNumeral"):
            within = float(numeral.offset)
            if within >= length:
                return [], [], 0.0, (f"a chord at beat {within:g} of bar {theirs.number}, laid on the score's bar "
                                     f"{ours.number} of {length:g} beats")
            numerals.append(numeral)
            onsets.append(float(ours.offset) + within)
    return numerals, onsets, float(bars[-1].offset + bars[-1].duration.quarterLength), None


def expert_timeline(rntxt: Path, score) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, float]:
    """(onset in quarter notes from the score's start, 64-class chord, expert root, pitch-class set [n, 12]) of
    every expert chord in time order, how it was laid on the score, and where (in the score) the analysis ends.
    Laid by the analysis's own timeline where every bar of it starts where the score's bar of that number does and
    it ends within a bar of the score's end; else bar for bar with its repeats expanded where that gives the score's
    bars (bwv277: 12 bars and a repeat, 16 written out; see _played_bars); else by bar number where every chord
    falls inside the score's bar of its number (analyses that leave out the opening rests). Raises Misaligned where
    none does."""
    from music21 import converter

    part = converter.parse(rntxt, format="romanText").parts[0]
    score_starts = _bar_starts(score.parts[0])
    score_length = float(max(p.highestTime for p in score.parts))
    last_bar = float(list(score.parts[0].getElementsByClass("Measure"))[-1].duration.quarterLength)
    differs = _first_difference(_bar_starts(part), score_starts)
    short = score_length - float(part.highestTime)
    end = float(part.highestTime)          # where the analysis stops (its last chord lasts until there)
    if differs is None and -last_bar <= short <= last_bar:
        flat = part.flatten()
        onsets, how = [float(n.getOffsetBySite(flat)) for n in flat.getElementsByClass("RomanNumeral")], "as written"
        numerals = list(flat.getElementsByClass("RomanNumeral"))
    else:
        played, played_onsets, played_end, played_why = _by_played_bars(part, score)
        numbered, why = _by_bar_number(part, score)
        if played_why is None:
            numerals, onsets, how, end = played, played_onsets, "repeats expanded, bar for bar", played_end
        elif why is None:
            numerals, onsets, how = _numerals(part), numbered, "by bar number"
            last = max(int(m.number) for m in part.getElementsByClass("Measure"))
            bars = [m for m in score.parts[0].getElementsByClass("Measure") if int(m.number) <= last]
            end = max(float(m.offset + m.duration.quarterLength) for m in bars)
        else:
            where = (f"bar {differs} of the analysis starts at beat {_bar_starts(part)[differs]:g}, in the score at "
                     f"{score_starts.get(differs, float('nan')):g}" if differs is not None else
                     f"the analysis covers {float(part.highestTime):g} beats, the score {score_length:g}")
            empty = [int(m.number) for m in score.parts[0].getElementsByClass("Measure")
                     if float(m.duration.quarterLength) == 0]
            hollow = (f"; the score's bar {', '.join(map(str, empty))} is read as 0 beats (no note in any part): "
                      f"the score lacks music the analysis has, at a place nothing shows" if empty else "")
            raise Misaligned(f"{where}; by bar number: {why}; with its repeats expanded: {played_why}{hollow}")
    classes = [expert_class(n, SOUNDING_QUALITY) for n in numerals]
    roots = [n.root().pitchClass for n in numerals]
    tones = [np.isin(np.arange(12), list(n.pitchClasses)) for n in numerals]
    order = np.argsort(onsets, kind="stable")
    return (np.asarray(onsets)[order], np.asarray(classes)[order], np.asarray(roots)[order],
            np.asarray(tones, float).reshape(-1, 12)[order], how, end)


def transposition(tones: np.ndarray, onsets: np.ndarray, end: float, profile: np.ndarray) -> int:
    """Semitones to add to the expert's chords so that their tones best match the score's pitch content: some
    analyses are of the chorale in another key than music21's score (e.g. BWV 184.5: analysis in G, score in D).
    Decided by the pitch content of the whole piece only, never by the estimator under test."""
    content = (tones * np.diff(np.append(onsets, max(end, onsets[-1])))[:, None]).sum(axis=0)
    return int(np.argmax([np.dot(np.roll(content, t), profile) for t in range(12)]))


def transpose(classes: np.ndarray, semitones: int) -> np.ndarray:
    rooted = classes < HAR.NO_CHORD
    return np.where(rooted, classes - classes % 12 + (classes % 12 + semitones) % 12, classes)


def expert_per_step(onsets: np.ndarray, classes: np.ndarray, start: np.ndarray, end: np.ndarray,
                    stop: float = np.inf) -> np.ndarray:
    """The expert chord (``classes``: any per-chord value) sounding longest in each step [start, end) (-1 where
    none is in force; the last chord lasts until ``stop``, where the analysis ends)."""
    bounds = np.append(onsets[1:], stop)
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


@dataclass
class Piece:
    """One analysed score, read once: per kind of step, the score's pitch content and the expert's chord."""

    corpus: str
    name: str
    how: str
    transposed: bool
    # kind -> (profiles [n,12], pitches [n,128], held-over share [n], expert class [n], expert root [n]) over every
    # step of the piece (the estimator labels them jointly); expert class -1: no expert chord in force (not counted)
    steps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def read_piece(corpus: str, rntxt: Path, score_path: Path, folder: Path) -> Piece:
    """The pair as the benchmark compares it; raises Misaligned or BarGridError (the reason it is excluded)."""
    from music21 import converter

    from kel_plugin_music21_corpus.convert import one_bar_grid, score_to_midi

    score = converter.parse(score_path)
    one_bar_grid(score)
    midi = folder / f"{score_path.stem}.mid"
    midi.write_bytes(score_to_midi(score))
    song = load_song(midi)
    onsets, classes, roots, tones, how, stop = expert_timeline(rntxt, score)
    whole = bar_activity(song.pitched(), np.zeros(1), np.full(1, song.end), 12)[0]
    shift = transposition(tones, onsets, song.end, whole)
    classes = transpose(classes, shift)
    roots = (roots + shift) % 12
    bar_start, bar_end = song.bar_map.bars_before(song.end)
    spans = {"beat": harmony_steps(song), "half_bar": split_steps(bar_start, bar_end, 2), "bar": (bar_start, bar_end)}
    steps = {}
    for kind, (start, end) in spans.items():
        parts = song.pitched()
        steps[kind] = (bar_activity(parts, start, end, 12), bar_activity(parts, start, end, 128),
                       held_share(parts, start, end), expert_per_step(onsets, classes, start, end, stop),
                       expert_per_step(onsets, roots, start, end, stop))
    name = score_path.stem if corpus == "monteverdi" else f"{score_path.stem} ({rntxt.stem})"
    return Piece(corpus, name, how, shift != 0, steps)


def read_pieces(corpus: str, pairs: list[tuple[Path, Path]]) -> tuple[list[Piece], list[tuple[str, str]]]:
    """The pieces that line up, and (name, reason) of those excluded."""
    from kel_plugin_music21_corpus.convert import BarGridError

    pieces, excluded = [], []
    with tempfile.TemporaryDirectory(prefix="kel-agree-") as folder:
        for rntxt, score in pairs:
            try:
                pieces.append(read_piece(corpus, rntxt, score, Path(folder)))
            except (Misaligned, BarGridError) as exc:
                excluded.append((score.stem, f"{type(exc).__name__}: {exc}"))
    return pieces, excluded


def agreement(pieces: list[Piece], kind: str = "beat") -> dict:
    """Steps, root and root + quality agreement (shares, with 95 % intervals over pieces) over ``pieces``, and per
    piece. Where the expert's chord is outside the 64-class vocabulary (augmented, Italian sixth, ...), only its
    root is compared, for both figures; with SOUNDING_QUALITY (the definition before 3.3.0) such a step never
    agrees."""
    total = Counter()
    rows = {}
    for piece in pieces:
        profiles, pitches, held, theirs, roots = piece.steps[kind]
        known = theirs >= 0
        ours = chord_labels(profiles, pitches, held)[known]
        theirs, roots = theirs[known], roots[known]
        inside = theirs < HAR.NO_CHORD
        root = (ours < HAR.NO_CHORD) & (ours % 12 == roots)
        if SOUNDING_QUALITY:
            root, exact = root & inside, ours == theirs
        else:
            exact = np.where(inside, ours == theirs, root)
        counts = Counter(steps=len(theirs), root=int(np.sum(root)), exact=int(np.sum(exact)))
        total.update(counts)
        rows[piece.name] = share(counts)
    row = {**share(total), "pieces": rows}
    return {**row, "interval": intervals(row)}


def intervals(row: dict, seed: int = 0) -> dict[str, tuple[float, float]]:
    """95 % bootstrap intervals (pieces resampled, BOOTSTRAP draws) of the root and root + quality agreement of
    ``row`` (overall shares and per piece, as :func:`agreement` makes them)."""
    pieces = list(row["pieces"].values())
    steps = np.array([piece["steps"] for piece in pieces], float)
    draws = np.random.default_rng(seed).integers(0, len(pieces), (BOOTSTRAP, len(pieces)))
    out = {}
    for key in ("root", "root_quality"):
        hits = np.array([piece[key] for piece in pieces]) * steps
        values = hits[draws].sum(axis=1) / np.maximum(steps[draws].sum(axis=1), 1)
        out[key] = (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
    return out


def figures(row: dict) -> str:
    """Root and root + quality of an :func:`agreement` row, each with its 95 % interval (pieces resampled)."""
    spread = row["interval"]
    return ", ".join(f"{name} {100 * row[key]:.1f} % ({100 * spread[key][0]:.1f}-{100 * spread[key][1]:.1f})"
                     for name, key in (("root", "root"), ("root+quality", "root_quality")))


def share(counts: Counter) -> dict:
    steps = max(counts["steps"], 1)
    return {"steps": counts["steps"], "root": counts["root"] / steps, "root_quality": counts["exact"] / steps}


@contextmanager
def estimator(parameters: dict[str, float]):
    """The harmony target estimator with other parameters (kel_contracts.harmony's constants), for the search."""
    saved = {name: getattr(HAR, name) for name in parameters}
    try:
        for name, value in parameters.items():
            setattr(HAR, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(HAR, name, value)


def choose(pieces: list[Piece]) -> tuple[dict[str, float], dict]:
    """The SEARCH grid's parameters with the best root + root-and-quality agreement per beat on ``pieces``."""
    best, best_score, best_row = {}, -1.0, {}
    for values in itertools.product(*SEARCH.values()):
        parameters = dict(zip(SEARCH, values))
        with estimator(parameters):
            row = agreement(pieces)
        score = row["root"] + row["root_quality"]
        if score > best_score + 1e-12:
            best, best_score, best_row = parameters, score, row
    return best, best_row


def target_qualities(pieces: list[Piece]) -> dict[str, float]:
    labels = (np.concatenate([chord_labels(*p.steps["beat"][:3])[p.steps["beat"][3] >= 0] for p in pieces])
              if pieces else np.zeros(0, int))
    quality = Counter(HAR.CHORD_NAMES[int(c)].split(":")[-1] for c in labels)
    return {q: n / max(len(labels), 1) for q, n in sorted(quality.items())}


def measure(corpora: dict[str, list[tuple[Path, Path]]]) -> dict:
    result = {"published": PUBLISHED, "corpora": {}}
    for corpus, pairs in corpora.items():
        pieces, excluded = read_pieces(corpus, pairs)
        row = {"pairs": len(pairs), "pieces": len(pieces), "excluded": dict(excluded),
               "repeats_expanded": [f"{p.name} {p.how}" for p in pieces if p.how != "as written"],
               "transposed_analyses": sum(p.transposed for p in pieces),
               "target_qualities": target_qualities(pieces)}
        for kind in KINDS:
            row[kind] = agreement(pieces, kind)
        result["corpora"][corpus] = row
        result.setdefault("_pieces", {})[corpus] = pieces
    return result


def print_corpus(corpus: str, row: dict, per_piece: bool) -> None:
    print(f"{corpus}: {row['pieces']} of {row['pairs']} score + analysis pairs ({row['transposed_analyses']} "
          f"analyses in another key than the score, transposed to it; not laid as written: "
          f"{', '.join(row['repeats_expanded']) or 'none'})")
    for name, reason in row["excluded"].items():
        print(f"  excluded {name}: {reason}")
    if per_piece:
        for name, piece in row["beat"]["pieces"].items():
            print(f"    {name:42s} {piece['steps']:5d} beats  root {100 * piece['root']:5.1f} %  root+quality "
                  f"{100 * piece['root_quality']:5.1f} %")
    for kind in KINDS:
        cell = row[kind]
        if kind == "beat":
            print(f"  {kind:8s} {cell['steps']:6d} steps  {figures(cell)}  <- contract step (95 % intervals, "
                  f"pieces resampled)")
        else:
            print(f"  {kind:8s} {cell['steps']:6d} steps  root {100 * cell['root']:5.1f} %  root+quality "
                  f"{100 * cell['root_quality']:5.1f} %")
    print("  target qualities (beat): " + ", ".join(f"{q} {100 * s:.1f} %" for q, s in
                                                   row["target_qualities"].items()))


def print_sus(what: str, pieces: dict[str, list[Piece]], record: dict) -> None:
    """The sus question: agreement per beat of ``what`` with the augmented and suspended templates the other way
    (on: penalised 0.2 as in contract 3.0.0; off: penalised out as the contract has them since 3.1.0)."""
    flipped = 0.2 if HAR.SPECIAL_PENALTY > 1 else 10.0
    state = "on (penalty 0.2)" if flipped < 1 else "off"
    with estimator({"SPECIAL_PENALTY": flipped}):
        for corpus, chosen in pieces.items():
            row = agreement(chosen)
            record[corpus] = {"root": row["root"], "root_quality": row["root_quality"], "sus_aug": state}
            print(f"  {what} with the sus/aug templates {state}: {corpus} root {100 * row['root']:.1f} %, "
                  f"root+quality {100 * row['root_quality']:.1f} % per beat")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 chorales and 2 madrigals only")
    parser.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA))
    parser.add_argument("--choose-on", nargs="*", choices=CORPORA, default=[], help="choose the estimator's "
                        "parameters (grid: SEARCH) on this corpus and report them on the others")
    parser.add_argument("--per-piece", action="store_true", help="print every piece's figures")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--sounding-quality", action="store_true", help="the definition before contract 3.3.0: "
                        "the expert's quality as its chord sounds (i[no3] is 'other'), and an expert chord outside "
                        "the 64 classes never agrees (default: its omitted members put back, and outside the "
                        "vocabulary the root alone is compared)")
    args = parser.parse_args(argv)
    global SOUNDING_QUALITY
    SOUNDING_QUALITY = args.sounding_quality
    corpora = {corpus: pairs_of(corpus)[:(4 if corpus == "bach" else 2) if args.quick else None]
               for corpus in args.corpora}
    result = measure(corpora)
    pieces = result.pop("_pieces")
    print(f"harmony targets vs expert analyses (music21 corpus), estimator as the contract fixes it "
          f"(HarmonyPredictor {HAR.CONTRACT.version}); published: {PUBLISHED}")
    for corpus, row in result["corpora"].items():
        print_corpus(corpus, row, args.per_piece or args.quick)
    print_sus("the contract's estimator", pieces, result.setdefault("sus_templates_on", {}))
    for tuned_on in args.choose_on:
        chosen, fitted = choose(pieces[tuned_on])
        record = result.setdefault("chosen_on", {})[tuned_on] = {"parameters": chosen, "fitted": fitted}
        print(f"parameters chosen on {tuned_on} ({len(list(itertools.product(*SEARCH.values())))} "
              f"tried): {chosen}: there {figures(fitted)}")
        with estimator(chosen):
            for corpus in result["corpora"]:
                if corpus != tuned_on:
                    row = agreement(pieces[corpus])
                    record[corpus] = row
                    print(f"  reported on {corpus} (not tuned on): {figures(row)} per beat")
            print_sus(f"the parameters chosen on {tuned_on}", pieces, record.setdefault("sus_flipped", {}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
