"""Pieces that share a tune: a transposition-invariant fingerprint of the melody (its 8-note interval patterns) and
the grouping every MIDI dataset uses so that the same tune (another harmonisation, arrangement or copy) stays on one
side of a split. Shared by the music21corpus and Lakh plugins (one definition, not copies).

Memory-bounded: a pattern is a 56-bit number (7 intervals of one byte each), mixed into a 64-bit hash; every
distinct melody's patterns go into one flat ``uint64`` array (hash bits above, the melody's slot below) that is
sorted in place, so a pattern costs 8 bytes wherever it occurs, not a Python set entry. Past ``PATTERN_BUDGET``
patterns in all, only the patterns whose hash falls in one of 2**k equal parts of the hash space are kept (the same
patterns of every melody: a consistent sample), and shares are measured on that sample. Measured with a synthetic
input of 176,581 distinct melodies (full-size Lakh): see docs/DATASETS.md and benchmarks/tune_grouping.py.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np

NGRAM = 7                 # intervals: 8-note patterns
SAME_TUNE_SHARE = 0.5     # share of the shorter melody's patterns found in the other -> the same tune
COMMON_PATTERN = 200      # a pattern in more than this many distinct melodies (a scale run) identifies no tune
PATTERN_BUDGET = 8_000_000  # patterns kept in all (8 bytes each, twice): past it, a consistent 1/2**k sample
SLOT_BITS = 24            # distinct melodies: at most 2**24 (16.7 M)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _hashes(melody: Iterable[int] | None) -> np.ndarray:
    """The melody's distinct 8-note interval patterns as sorted 64-bit hashes (empty when it is too short)."""
    pitches = np.asarray(list(melody) if melody is not None and not isinstance(melody, np.ndarray) else
                         (melody if melody is not None else []), dtype=np.int64).ravel()
    if len(pitches) <= NGRAM:
        return np.zeros(0, np.uint64)
    steps = (np.clip(np.diff(pitches), -127, 127) + 128).astype(np.uint64)
    exact = np.zeros(len(steps) - NGRAM + 1, np.uint64)
    for offset in range(NGRAM):                       # 7 bytes: the pattern itself, no collision
        exact = (exact << np.uint64(8)) | steps[offset:offset + len(exact)]
    mixed = exact * _MIX                              # spread the bits (sampling, slot packing)
    mixed ^= mixed >> np.uint64(29)
    return np.unique(mixed * _MIX)


def tune_patterns(melody: Iterable[int] | None) -> frozenset[int]:
    """The melody's 8-note interval patterns (hashed): the same under transposition."""
    return frozenset(int(h) for h in _hashes(melody))


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return int(root)


def _union(parent: np.ndarray, a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


def _sample_bits(melodies: Sequence[Iterable[int] | None]) -> int:
    """k such that keeping 1/2**k of the patterns stays within PATTERN_BUDGET (0: keep them all)."""
    total = sum(max(len(m) - NGRAM, 0) for m in melodies if m is not None)
    bits = 0
    while total > PATTERN_BUDGET << bits:
        bits += 1
    return bits


def group_by_tune(melodies: Sequence[Iterable[int] | None], groups: list[str] | None = None) -> list[int]:
    """For each piece, the index of the first piece of its group: pieces are joined when they already share a
    group (``groups``, e.g. the dataset's own song ids) or a tune (at least ``SAME_TUNE_SHARE`` of the shorter
    melody's patterns occur in the other). Identical melodies are compared once, so thousands of copies of one
    tune cost what one does."""
    n = len(melodies)
    parent = np.arange(n, dtype=np.int64)
    if groups is not None:
        first: dict[str, int] = {}
        for index, group in enumerate(groups):
            _union(parent, index, first.setdefault(group, index))
    bits = _sample_bits(melodies)
    keep_mask = np.uint64((1 << bits) - 1)
    same: dict[bytes, int] = {}        # exact duplicates (as pattern sets) -> one representative
    owners: list[int] = []             # slot -> index of its piece
    sizes: list[int] = []              # slot -> patterns kept
    chunks: list[np.ndarray] = []
    for index, melody in enumerate(melodies):
        found = _hashes(melody)
        if not len(found):
            continue
        digest = hashlib.blake2b(found.tobytes(), digest_size=16).digest()
        if digest in same:
            _union(parent, index, same[digest])
            continue
        same[digest] = index
        slot = len(owners)
        if slot >= 1 << SLOT_BITS:
            raise ValueError(f"group_by_tune: more than {1 << SLOT_BITS} distinct melodies")
        kept = found[(found & keep_mask) == 0] if bits else found
        owners.append(index)
        sizes.append(len(kept))
        chunks.append((kept >> np.uint64(SLOT_BITS) << np.uint64(SLOT_BITS)) | np.uint64(slot))
    del same
    if not chunks:
        return [_find(parent, i) for i in range(n)]
    keys = np.concatenate(chunks)
    del chunks
    keys.sort()
    _join_shared(parent, keys, np.asarray(owners, np.int64), np.asarray(sizes, np.int64))
    return [_find(parent, i) for i in range(n)]


def _join_shared(parent: np.ndarray, keys: np.ndarray, owners: np.ndarray, sizes: np.ndarray) -> None:
    """Union the pieces whose melodies share enough patterns. ``keys`` (sorted): pattern bits above, slot below."""
    slot_mask = np.uint64((1 << SLOT_BITS) - 1)
    run_of_entry = np.zeros(len(keys), np.int32)
    run_of_entry[1:] = np.diff(keys >> np.uint64(SLOT_BITS)) != 0
    np.cumsum(run_of_entry, out=run_of_entry)
    lengths = np.bincount(run_of_entry)
    useful = (lengths > 1) & (lengths <= COMMON_PATTERN)        # shared, and not by everyone (a scale run)
    entry_useful = useful[run_of_entry]
    renumber = (np.cumsum(useful) - 1).astype(np.int32)
    runs = renumber[run_of_entry[entry_useful]]                  # pattern order, useful runs only
    del run_of_entry
    slots = (keys[entry_useful] & slot_mask).astype(np.int32)
    del entry_useful
    lengths = lengths[useful].astype(np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    # each slot's useful runs, grouped by slot: one sorted uint64 (slot above, run below)
    by_slot = (slots.astype(np.uint64) << np.uint64(32)) | runs.astype(np.uint64)
    del runs
    by_slot.sort()
    slot_of = (by_slot >> np.uint64(32)).astype(np.int32)
    run_of = (by_slot & np.uint64(0xFFFFFFFF)).astype(np.int64)
    del by_slot
    bounds = np.searchsorted(slot_of, np.arange(len(sizes) + 1))
    for slot in np.unique(slot_of):
        mine = run_of[bounds[slot]:bounds[slot + 1]]
        take = lengths[mine]
        at = np.repeat(starts[mine] - np.cumsum(take) + take, take) + np.arange(int(take.sum()))
        others, counts = np.unique(slots[at], return_counts=True)
        later = others > slot
        others, counts = others[later], counts[later]
        joined = others[counts >= SAME_TUNE_SHARE * np.minimum(sizes[slot], sizes[others])]
        for other in joined:
            _union(parent, int(owners[slot]), int(owners[other]))
