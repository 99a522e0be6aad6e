"""Pieces that share a tune: a transposition-invariant fingerprint of the melody (its 8-note interval patterns) and
the grouping every MIDI dataset uses so that the same tune (another harmonisation, arrangement or copy) stays on one
side of a split. Shared by the music21corpus and Lakh plugins (one definition, not copies)."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

NGRAM = 7                 # intervals: 8-note patterns
SAME_TUNE_SHARE = 0.5     # share of the shorter melody's patterns found in the other -> the same tune
COMMON_PATTERN = 200      # a pattern in more than this many distinct melodies (a scale run) identifies no tune


def tune_patterns(melody: Iterable[int] | None) -> frozenset[int]:
    """The melody's 8-note interval patterns (hashed): the same under transposition."""
    pitches = [int(p) for p in melody] if melody is not None else []
    if len(pitches) <= NGRAM:
        return frozenset()
    steps = [b - a for a, b in zip(pitches, pitches[1:])]
    return frozenset(hash(tuple(steps[i:i + NGRAM])) for i in range(len(steps) - NGRAM + 1))


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def group_by_tune(melodies: list[Iterable[int] | None], groups: list[str] | None = None) -> list[int]:
    """For each piece, the index of the first piece of its group: pieces are joined when they already share a
    group (``groups``, e.g. the dataset's own song ids) or a tune (at least ``SAME_TUNE_SHARE`` of the shorter
    melody's patterns occur in the other). Identical melodies are compared once, so thousands of copies of one
    tune cost what one does."""
    n = len(melodies)
    parent = list(range(n))

    def union(a: int, b: int) -> None:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    if groups is not None:
        first: dict[str, int] = {}
        for index, group in enumerate(groups):
            union(index, first.setdefault(group, index))
    same: dict[frozenset[int], int] = {}  # exact duplicates (as fingerprints) -> one representative
    distinct: list[tuple[int, frozenset[int]]] = []
    for index, melody in enumerate(melodies):
        found = tune_patterns(melody)
        if not found:
            continue
        if found in same:
            union(index, same[found])
        else:
            same[found] = index
            distinct.append((index, found))
    holders: dict[int, list[int]] = defaultdict(list)
    for slot, (_, found) in enumerate(distinct):
        for pattern in found:
            holders[pattern].append(slot)
    for slot, (index, found) in enumerate(distinct):
        shared: dict[int, int] = defaultdict(int)
        for pattern in found:
            others = holders[pattern]
            if len(others) > COMMON_PATTERN:
                continue
            for other in others:
                if other != slot:
                    shared[other] += 1
        for other, count in shared.items():
            if count >= SAME_TUNE_SHARE * min(len(found), len(distinct[other][1])):
                union(index, distinct[other][0])
    return [_find(parent, i) for i in range(n)]
