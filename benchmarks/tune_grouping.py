"""Memory and time of the tune grouping (kel_midi_features.group_by_tune) at full Lakh size, on synthetic melodies.

Builds ``--melodies`` distinct random melodies (random walks of about ``--notes`` notes) and plants a known twin for
every 100th one (transposed, one note changed, as a copy with an ornament or an error would be), then groups them.
Printed: the seconds, the peak memory the grouping added (resident set, measured in a fresh process after the input
was built), the planted twins found and the pieces joined that were not planted (false joins).

    python benchmarks/tune_grouping.py                  # 176,581 melodies (LMD-full's file count)
    python benchmarks/tune_grouping.py --notes 300      # longer melodies (the patterns kept are then sampled)
    python benchmarks/tune_grouping.py --quick          # 2,000 melodies (the test runs this)
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--melodies", type=int, default=LAKH_FILES)
    parser.add_argument("--notes", type=int, default=55, help="mean melody length in notes")
    parser.add_argument("--quick", action="store_true", help="2,000 melodies")
    args = parser.parse_args(argv)
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
