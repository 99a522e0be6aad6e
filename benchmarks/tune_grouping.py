"""Memory and time of the tune grouping (kel_midi_features.group_by_tune) at full Lakh size, on synthetic melodies.

Builds ``--melodies`` distinct random melodies (random walks of about ``--notes`` notes) and plants a known twin for
every 100th one (transposed, one note changed, as a copy with an ornament or an error would be), then groups them.
Printed: the seconds, the peak memory the grouping added (resident set, measured in a fresh process after the input
was built), the planted twins found and the pieces joined that were not planted (false joins).

    python benchmarks/tune_grouping.py                  # 176,581 melodies (LMD-full's file count)
    python benchmarks/tune_grouping.py --notes 300      # longer melodies (the patterns kept are then sampled)
    python benchmarks/tune_grouping.py --quick          # 2,000 melodies (the test runs this)
    python benchmarks/tune_grouping.py --chorales ROOT  # also: the melodic grouping of a converted chorale root
                                                        # (music21corpus) against Riemenschneider's titles

On chorales the known pairs are chorales with the same title in music21's list of Riemenschneider's chorales; a
title names the hymn text, not the tune, so pairs that the melody joins under two titles are listed to be judged
(e.g. "Nimm von uns, Herr" is sung to "Vater unser im Himmelreich").
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np

from kel_midi_features.tunes import group_by_tune

LAKH_FILES = 176_581
TWIN_EVERY = 100


def synthetic(count: int, notes: int, seed: int = 0) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """``count`` melodies (uint8 pitches), the last ones planted twins of every TWIN_EVERY-th; and the twin pairs."""
    rng = np.random.default_rng(seed)
    twins = count // (TWIN_EVERY + 1)
    melodies = []
    for _ in range(count - twins):
        length = int(rng.integers(notes // 2, notes * 3 // 2 + 1))
        walk = 60 + np.cumsum(rng.integers(-5, 6, length))
        melodies.append(np.clip(walk, 20, 108).astype(np.uint8))
    pairs = []
    for k in range(twins):
        source = k * TWIN_EVERY
        twin = melodies[source].astype(np.int64) + int(rng.integers(-6, 7))
        twin[len(twin) // 2] += 1                   # one note changed
        pairs.append((source, len(melodies)))
        melodies.append(np.clip(twin, 0, 127).astype(np.uint8))
    return melodies, pairs


def chorale_report(root) -> None:
    """Groups of a converted chorale root by melody alone, by title alone and both (the plugin's), and the melodic
    grouping's agreement with the title pairs."""
    pieces = [p for p in json.loads((root / "music21corpus.json").read_text())["pieces"] if "problem" not in p]
    melodic = group_by_tune([p["melody"] for p in pieces])
    titles = [re.sub(r"\W+", " ", p.get("title", "")).strip().lower() for p in pieces]
    print(f"chorales: {len(pieces)} pieces, {sum(map(bool, titles))} with a title in Riemenschneider's list; groups "
          f"by melody alone {len(set(melodic))}, by title alone "
          f"{len({t or f'piece {i}' for i, t in enumerate(titles)})}, both (the plugin's) "
          f"{len({p['group'] for p in pieces})}")
    pairs = [(i, j) for i, j in itertools.combinations(range(len(pieces)), 2) if titles[i] and titles[j]]
    same_title = {(i, j) for i, j in pairs if titles[i] == titles[j]}
    joined = {(i, j) for i, j in pairs if melodic[i] == melodic[j]}
    print(f"  pairs with one title: {len(same_title)}, of which the melody joins {len(joined & same_title)} "
          f"({len(joined & same_title) / max(len(same_title), 1):.1%}); pairs the melody joins: {len(joined)}, of "
          f"which one title {len(joined & same_title)} ({len(joined & same_title) / max(len(joined), 1):.1%}); "
          f"the others, to judge:")
    for i, j in sorted(joined - same_title):
        print(f"    {pieces[i]['id']} ({titles[i]}) ~ {pieces[j]['id']} ({titles[j]})")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--melodies", type=int, default=LAKH_FILES)
    parser.add_argument("--notes", type=int, default=55, help="mean melody length in notes")
    parser.add_argument("--quick", action="store_true", help="2,000 melodies")
    parser.add_argument("--chorales", type=Path, help="a converted music21corpus chorale root to report on")
    args = parser.parse_args(argv)
    if args.chorales:
        chorale_report(args.chorales)
    count = 2_000 if args.quick else args.melodies
    melodies, pairs = synthetic(count, args.notes)
    before = peak_rss_mb()
    started = time.perf_counter()
    roots = group_by_tune(melodies)
    seconds = time.perf_counter() - started
    added = peak_rss_mb() - before
    found = sum(roots[a] == roots[b] for a, b in pairs)
    planted = {i for pair in pairs for i in pair}
    sizes: dict[int, int] = {}
    for root in roots:
        sizes[root] = sizes.get(root, 0) + 1
    false_joins = sum(1 for i, root in enumerate(roots) if i not in planted and sizes[root] > 1)
    print(f"tune grouping: {count} melodies (~{args.notes} notes, {sum(len(m) for m in melodies)} notes in all), "
          f"{seconds:.1f} s, peak memory added {added:.0f} MB ({1024 * added / count:.2f} KB per melody); planted "
          f"twins found {found} of {len(pairs)}; pieces joined that were not planted: {false_joins}")
    return 0 if found == len(pairs) else 1


if __name__ == "__main__":
    sys.exit(main())
