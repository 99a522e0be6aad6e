"""Dataset helpers of the core (cache, splits, parallel map, normalisation, the packed feature store) and the
`kelcore data` commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from kelcore.api import Extracted, RunContext, Sequence, Track
from kelcore.data import store as store_module
from kelcore.data import (STORE_NAME, FeatureCache, PackedWriter, TornStore, apply_normalization, extract_tracks,
                          file_digest, fit_normalization, load_or_draw_split, open_store, parallel_map,
                          prepare_dataset, split_by_group, standardiser)


def square_or_reason(value: int):
    if value < 0:
        return ("error", f"negative input {value}")
    return ("ok", value * value)


def test_parallel_map_keeps_order_and_survives_bad_items():
    items = [3, -1, 4, 1, -5, 9]
    results = list(parallel_map(square_or_reason, items, workers=2, progress=False, chunksize=1))
    assert [item for item, _ in results] == items
    assert [r for _, r in results] == [square_or_reason(i) for i in items]


def test_feature_cache_round_trip_and_keying(tmp_path):
    source = tmp_path / "a.mid"
    source.write_bytes(b"MThd-fake")
    key = file_digest(source)
    cache = FeatureCache(tmp_path / "cache", {"hop": 512})
    assert cache.get(key) is None
    cache.put(key, {"x": np.arange(3)})
    assert np.array_equal(cache.get(key)["x"], np.arange(3))
    assert FeatureCache(tmp_path / "cache", {"hop": 256}).get(key) is None  # another feature config
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    cache._path(key).write_bytes(b"garbage")  # a torn entry is a miss, not a crash
    assert cache.get(key) is None


def test_split_by_group_never_puts_a_group_on_two_sides():
    groups = {f"track{i}": f"song{i // 3}" for i in range(60)}
    sides = split_by_group(groups, seed=5)
    by_group: dict[str, set[str]] = {}
    for track, side in sides.items():
        by_group.setdefault(groups[track], set()).add(side)
    assert all(len(s) == 1 for s in by_group.values())
    assert set(sides.values()) == {"train", "validation", "test"}
    assert split_by_group(groups, seed=5) == sides
    assert split_by_group(groups, seed=6) != sides


def test_normalisation_uses_the_given_statistics_only():
    train = [Sequence("a", np.array([[0.0, 10.0], [2.0, 10.0]], np.float32), np.zeros((2, 1), np.float32))]
    stats = fit_normalization(train)
    assert stats == {"mean": [1.0, 10.0], "std": [1.0, 1.0]}  # constant column: std 1, not 0
    test = [Sequence("b", np.array([[3.0, 12.0]], np.float32), np.zeros((1, 1), np.float32))]
    (normalised,) = apply_normalization(test, stats)
    assert normalised.inputs.tolist() == [[2.0, 2.0]] and normalised.inputs.dtype == np.float32


def test_data_commands_reach_the_dataset_plugin(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    demo = kelcore("data", "demo", "toy-notes", str(tmp_path / "demo"), "--seed", "4", env=env)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo" / "README").read_text() == "toy corpus, seed 4\n"
    report = kelcore("data", "validate", "toy-notes", "--root", str(tmp_path), "--json", "-o", "sequences=5", env=env)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert (data["listed"], data["usable"], data["missing"], data["problems"]) == (5, 5, 0, [])
    unknown = kelcore("data", "validate", "toy-note", "--root", str(tmp_path), env=env)
    assert unknown.returncode == 2 and "did you mean 'toy-notes'?" in unknown.stderr
    missing = kelcore("data", "validate", "toy-notes", "--root", str(tmp_path / "nope"), env=env)
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    bad_option = kelcore("data", "validate", "toy-notes", "--root", str(tmp_path), "-o", "sequences=x", env=env)
    assert bad_option.returncode == 2 and "sequences" in bad_option.stderr and "Traceback" not in bad_option.stderr
    # the synthetic-demo marker, and the mark that kelcore wrote the folder (it may write into it again)
    assert sorted(os.listdir(tmp_path / "demo")) == [".kelcore-demo", ".kelcore-output", "README"]


# --------------------------------------------------------------------------- packed feature store
def records(count: int = 12, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sequences of several lengths (an empty one too), float64 inputs (converted as the in-memory path did)."""
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        steps = (index * 7) % 11
        out.append((rng.normal(3.0, 2.0, (steps, 5)), rng.integers(0, 128, (steps, 1)).astype(np.float32)))
    out.append((np.full((2, 5), np.nan, np.float32), np.zeros(2, np.float32)))  # NaNs and a 1-D target
    return out


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("spill_bytes", [0, 500, None])  # a file from the start, a file from record 5, memory
def test_packed_store_round_trip_gives_read_only_float32_views(tmp_path, spill_bytes):
    path = tmp_path / "run" / STORE_NAME
    data = records()
    with PackedWriter(path, spill_bytes) as writer:
        slots = [writer.append(x, y) for x, y in data]
        store = writer.finish()
        assert not path.exists()  # nothing under the final name before commit
        writer.commit()
    assert writer.on_disk == (spill_bytes is not None) == path.exists()
    if writer.on_disk:
        store = open_store(path)
        assert [p.name for p in path.parent.iterdir()] == [STORE_NAME]  # no temp file left
    assert len(store) == len(data) and slots == list(range(len(data)))
    for slot, (x, y) in zip(slots, data):
        inputs, targets = store.pair(slot)
        assert same_bits(inputs, x.astype(np.float32)) and same_bits(targets, y.astype(np.float32))
        assert not inputs.flags.writeable and not targets.flags.writeable
        assert isinstance(inputs.base, np.memmap) == writer.on_disk


def test_packed_store_refuses_torn_or_foreign_files(tmp_path):
    path = tmp_path / STORE_NAME
    with PackedWriter(path, spill_bytes=0) as writer:
        for x, y in records():
            writer.append(x, y)
        writer.finish()
        writer.commit()
    whole = path.read_bytes()
    torn = {"cut in half": whole[:len(whole) // 2], "one byte short": whole[:-1], "one byte more": whole + b"\0",
            "header only": whole[:16], "empty": b"", "another file": b"MThd" + bytes(100)}
    flipped = bytearray(whole)
    flipped[-40] ^= 0xFF  # inside the index: the checksum no longer matches
    torn["index changed"] = bytes(flipped)
    for why, content in torn.items():
        bad = tmp_path / f"bad-{why.replace(' ', '-')}"
        bad.write_bytes(content)
        with pytest.raises(TornStore):
            open_store(bad)
    assert len(open_store(path)) == len(records())


def test_a_killed_writer_leaves_no_store_and_its_temp_file_is_removed_later(tmp_path):
    path = tmp_path / STORE_NAME
    with pytest.raises(RuntimeError), PackedWriter(path, spill_bytes=0) as writer:
        writer.append(np.zeros((3, 2)), np.zeros((3, 1)))
        assert len(list(tmp_path.iterdir())) == 1  # the temp file
        raise RuntimeError("killed")
    assert not list(tmp_path.iterdir())  # an exception removes the temp file
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".{STORE_NAME}.{int(dead.stdout)}.abc123.tmp"  # what a SIGKILLed writer leaves
    stale.write_bytes(b"KELPACK\0" + bytes(50))
    live = tmp_path / f".{STORE_NAME}.{os.getpid()}.def456.tmp"  # a writer still running: left alone
    live.write_bytes(b"")
    writer = PackedWriter(path, spill_bytes=0)
    writer.append(np.zeros((3, 2)), np.zeros((3, 1)))
    writer.discard()
    assert not stale.exists() and live.exists() and not path.exists()


@pytest.mark.parametrize("spill_bytes", [0, None])
def test_chunked_in_place_normalisation_equals_apply_normalization_bit_for_bit(tmp_path, spill_bytes):
    data = records(40, seed=3)[:-1]
    stats = {"mean": [0.5, -1.0, 3.0, 2.5, 0.1], "std": [2.0, 0.3, 1.7, 1.0, 9.0]}
    chosen = set(range(0, 40, 3)) | {1, 39}
    for chunk_bytes in (1, 300, 1 << 20):  # one record a chunk, a few, all at once
        with PackedWriter(tmp_path / f"{chunk_bytes}.kelpack", spill_bytes) as writer:
            slots = [writer.append(x, y) for x, y in data]
            store = writer.finish()
            writer.update_inputs((s for s in slots if s in chosen), standardiser(stats), chunk_bytes=chunk_bytes)
            writer.commit()
        if writer.on_disk:  # what the file holds, read back, not only what the views show
            store = open_store(tmp_path / f"{chunk_bytes}.kelpack")
        for slot, (x, y) in zip(slots, data):
            (expected,) = apply_normalization([Sequence("t", x.astype(np.float32), y)], stats)
            inputs, targets = store.pair(slot)
            assert same_bits(inputs, expected.inputs if slot in chosen else x.astype(np.float32))
            assert same_bits(targets, y.astype(np.float32))


# --------------------------------------------------------------------------- prepare_dataset on the store
def toy_extract(track: Track, config) -> Extracted:
    """Top-level (picklable): features drawn from the number in the file; "bad" files are corrupt."""
    text = track.path.read_text()
    if text == "bad":
        return Extracted(kind="corrupt", reason="not a number")
    rng = np.random.default_rng(int(text))
    steps = 3 + int(text) % 9
    return Extracted(rng.normal(config["mean"], 2.0, (steps, 4)), rng.integers(0, 12, (steps, 1)).astype(np.float32))


def toy_tracks(root) -> list[Track]:
    root.mkdir(parents=True, exist_ok=True)
    tracks = []
    for index in range(60):
        path = root / f"t{index:02d}.txt"
        path.write_text("bad" if index % 17 == 5 else str(index))
        tracks.append(Track(f"t{index:02d}", path, f"song{index // 2}", "val" if index == 7 else None))
    tracks.append(Track("gone", root / "missing.txt", "songX"))
    return tracks


def by_first_target(usable: list[tuple[Track, Sequence]]) -> dict[str, str]:
    """Content regrouping: sequences whose first target is the same join one group (reads the store's views)."""
    return {t.track_id: f"first{int(s.targets[0, 0])}" for t, s in usable}


def in_memory_reference(tracks, config, context, standardise):
    """What prepare_dataset did before the packed store: every array in memory, same steps, same order."""
    kept = [t for t in tracks if t.split in (None, "train", "validation", "test")]
    results = extract_tracks(kept, toy_extract, config, None, 1, False, "reference")
    usable = [(t, Sequence(t.track_id, r.inputs.astype(np.float32), r.targets.astype(np.float32), t.group))
              for t, r in results if not r.kind]
    groups = by_first_target(usable)
    usable = [(replace(t, group=groups[t.track_id]), replace(s, group=groups[t.track_id])) for t, s in usable]
    sides = load_or_draw_split([t for t, _ in usable], context)
    splits = {side: [s for t, s in usable if sides.get(t.track_id) == side] for side in ("train", "validation", "test")}
    stats = fit_normalization(splits["train"]) if standardise else {"mean": [0.0] * 4, "std": [1.0] * 4}
    if standardise:
        splits = {side: apply_normalization(sequences, stats) for side, sequences in splits.items()}
    return splits, stats


@pytest.mark.parametrize("standardise", [True, False])
@pytest.mark.parametrize("on_disk", [True, False])
def test_prepared_data_is_bit_identical_to_the_in_memory_path(tmp_path, monkeypatch, standardise, on_disk):
    if on_disk:
        monkeypatch.setattr(store_module, "SPILL_BYTES", 0)  # this small dataset's store goes to its file
    tracks, config = toy_tracks(tmp_path / "data"), {"mean": 5.0}
    expected, stats = in_memory_reference(tracks, config, RunContext(run_dir=tmp_path / "reference", seed=3),
                                          standardise)
    run = RunContext(run_dir=tmp_path / "run", seed=3)
    for attempt, workers in (("cold", 2), ("warm", 2), ("resumed, no cache", 1)):
        cache = None if attempt.startswith("resumed") else tmp_path / "cache"
        data = prepare_dataset("toy", tracks, toy_extract, config, run, cache, workers, standardise,
                               widths=("Toy", 4, 1), regroup=by_first_target)
        assert (data.report.listed, data.report.usable, data.report.corrupt, data.report.missing,
                data.report.unsupported) == (61, 55, 4, 1, 1), attempt
        assert data.normalization == stats
        for side in ("train", "validation", "test"):
            got, want = getattr(data, side), expected[side]
            assert [(s.track_id, s.group) for s in got] == [(s.track_id, s.group) for s in want], (attempt, side)
            for g, w in zip(got, want):
                assert same_bits(g.inputs, w.inputs) and same_bits(g.targets, w.targets), (attempt, side)
                assert not g.inputs.flags.writeable and isinstance(g.inputs.base, np.memmap) == on_disk
        groups = json.loads((run.run_dir / "groups.json").read_text())   # the regrouped groups, beside the split
        sides = json.loads((run.run_dir / "split.json").read_text())
        assert sorted(i for ids in groups.values() for i in ids) == sorted(sides)
        assert set(groups) == {s.group for side in ("train", "validation", "test") for s in getattr(data, side)}
        assert all(len({sides[i] for i in ids}) == 1 for ids in groups.values())
        files = ["dataset_problems.log", "split.json", "groups.json"]
        assert sorted(p.name for p in run.run_dir.iterdir()) == sorted(files + [STORE_NAME] * on_disk)
        if on_disk:
            assert len(open_store(run.run_dir / STORE_NAME)) == 55
