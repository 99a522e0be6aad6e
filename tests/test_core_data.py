"""Dataset helpers of the core (cache, splits, parallel map, normalisation) and the `kelcore data` commands."""
from __future__ import annotations

import json
import os

import numpy as np

from kelcore.api import Sequence
from kelcore.data import (FeatureCache, apply_normalization, file_digest, fit_normalization, parallel_map,
                          split_by_group)


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
    assert sorted(os.listdir(tmp_path / "demo")) == [".kelcore-demo", "README"]  # the synthetic-demo marker
