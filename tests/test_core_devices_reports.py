"""Item by item of issue 12 through the real CLI: devices, safe checkpoints and cache, --set/--only,
TensorBoard events, report.md with PNGs, a console that explains itself."""
from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from kelcore import devices
from kelcore.data import Extracted, FeatureCache, UnsafeCacheEntry
from kelcore.training.checkpoints import CheckpointManager, UnsafeCheckpointError
from test_core_training import only_run, pipeline


class Planted:
    """A pickle payload that would create ``marker`` (a folder) if anything unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One short run of the toy pipeline through the real CLI (shared by the tests below)."""
    from conftest import TEST_PLUGINS, install_fake_distributions, run_kelcore

    tmp = tmp_path_factory.mktemp("finished")
    install_fake_distributions(tmp / "site", ["kel-test-plugin"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp / "site"), str(TEST_PLUGINS)]),
               KELCORE_LOAD_PLUGINS="kel-test-plugin")
    text = pipeline(tmp, epochs=12).read_text().replace("patience = 50", "patience = 2")
    (tmp / "p.toml").write_text(text)
    result = run_kelcore("run", str(tmp / "p.toml"), "--set", "jobs.dyn.trainer_options.learning_rate=0.05",
                         env=env)
    assert result.returncode == 0, result.stderr
    return result, only_run(tmp), env, tmp


def test_run_reports_device_epochs_early_stop_and_a_table_that_names_split_and_baseline(finished):
    result, run, _, _ = finished
    assert "dyn: training on cpu (auto: no CUDA or MPS device)" in result.stderr
    assert "steps/s" in result.stderr
    report = json.loads((run / "report.json").read_text())["jobs"][0]
    assert report["report"]["device"] == "cpu" and report["report"]["train_steps_per_s"] > 0
    rows = (run / "dyn" / "metrics.csv").read_text().splitlines()[1:]
    epochs = [int(float(row.split(",")[0])) for row in rows]
    assert epochs[0] == 1 and epochs == list(range(1, len(epochs) + 1))
    if report["stopped_reason"].startswith("early stopping"):  # patience 2 at lr 0.05 stops early on the toy
        assert f"early stopping after epoch {report['epochs']}" in result.stderr
        assert report["epochs"] - report["best_epoch"] == 2  # patience 2: exactly two epochs past the best
        assert f"keeping epoch {report['best_epoch']}" in result.stderr
    names = {p.name for p in (run / "dyn" / "checkpoints").iterdir()}
    assert f"best-epoch{report['best_epoch']:04d}.pt" in names  # checkpoint names count from 1 too
    assert "Results on the test split" in result.stdout
    assert "baselines:" in result.stdout and "mean" in result.stdout.split("baselines:")[1]
    assert "report.md" in result.stdout


def test_every_job_leaves_tensorboard_events_report_md_and_pngs(finished):
    _, run, _, _ = finished
    assert list((run / "dyn" / "tensorboard").glob("events.out.tfevents.*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "dyn" / "tensorboard"))
    events.Reload()
    assert {"loss/train", "loss/validation", "validation/velocity_mae"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss/train")][0] == 1
    for name in ("curves.png", "test.png"):
        data = (run / "dyn" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    job_md = (run / "dyn" / "report.md").read_text()
    assert "![loss and metric per epoch](curves.png)" in job_md and "![test split](test.png)" in job_md
    assert "test split" in job_md and "Baseline:" in job_md
    run_md = (run / "report.md").read_text()
    assert "[dyn](dyn/report.md)" in run_md and "dyn/curves.png" in run_md and "test split" in run_md


def test_a_planted_pickle_in_a_checkpoint_is_refused_and_nothing_runs(finished, kelcore, tmp_path):
    _, run, env, tmp = finished
    marker = tmp_path / "pwned"
    evil = Planted(marker)
    pickle.loads(pickle.dumps(evil))  # the payload is real: unpickling it does create the marker ...
    assert marker.exists()
    marker.rmdir()
    last = run / "dyn" / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=True)
    state["position"]["epoch"] = 0
    state["evil"] = evil
    torch.save(state, last)
    (run / "dyn" / "result.json").unlink()  # make the job unfinished so --resume loads last.pt
    result = kelcore("run", str(tmp / "p.toml"), "--set", "jobs.dyn.trainer_options.learning_rate=0.05",
                     "--resume", str(run), env=env)
    assert result.returncode == 1
    assert "refused to load" in result.stderr and "nothing from it was run" in result.stderr
    assert not marker.exists()  # ... but resuming from the checkpoint did not
    with pytest.raises(UnsafeCheckpointError):
        CheckpointManager(last.parent).load_last()
    assert not marker.exists()


def test_a_planted_pickle_in_the_feature_cache_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    cache = FeatureCache(tmp_path / "cache", {"hop": 512})
    cache.put("ab" * 32, Extracted(np.ones((3, 2), np.float32), np.zeros((3, 1), np.float32)))
    again = cache.get("ab" * 32)
    assert again.inputs.dtype == np.float32 and again.inputs.shape == (3, 2) and again.kind == ""
    cache.put("cd" * 32, Extracted(kind="corrupt", reason="bad header"))
    assert (cache.get("cd" * 32).kind, cache.get("cd" * 32).inputs) == ("corrupt", None)
    for key, planted in (("ef" * 32, pickle.dumps(Extracted(kind=Planted(marker)))),  # a raw pickle
                         ("01" * 32, None)):                                            # an object array in an npz
        path = cache._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if planted is not None:
            path.write_bytes(planted)
        else:
            with open(path, "wb") as handle:
                np.savez(handle, inputs=np.array([Planted(marker)], dtype=object), __meta__=np.array("{}"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert cache.get(key) is None
        assert any(issubclass(w.category, UnsafeCacheEntry) and "refused" in str(w.message) for w in caught)
        assert not marker.exists()
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "cache").rglob("*"))


def test_asking_for_an_absent_device_is_a_config_error_exit_2(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    path = pipeline(tmp_path)
    for command in ("check-config", "run"):
        result = kelcore(command, str(path), "--set", "jobs.dyn.trainer_options.device=cuda", env=env)
        assert result.returncode == 2, result.stderr
        assert "--set jobs.dyn.trainer_options.device=cuda: jobs.dyn.trainer_options.device:" in result.stderr
        assert "CUDA is not available" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing ran
    text = path.read_text().replace("learning_rate = 0.01", 'learning_rate = 0.01\ndevice = "mps"')
    path.write_text(text)
    result = kelcore("check-config", str(path), env=env)
    assert result.returncode == 2 and f"{path}:" in result.stderr and "MPS backend is not available" in result.stderr


def test_set_and_only_are_validated_like_the_file(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    path = pipeline(tmp_path)
    ok = kelcore("check-config", str(path), "--set", "jobs.dyn.trainer_options.epochs=5", "--only", "dyn", env=env)
    assert ok.returncode == 0, ok.stderr
    cases = {
        ("--set", "jobs.dyn.trainer_options.epochs=0"):
            "--set jobs.dyn.trainer_options.epochs=0: jobs.dyn.trainer_options.epochs: Input should be greater",
        ("--set", "jobs.dyn.trainer_options.epoch=5"):
            "--set jobs.dyn.trainer_options.epoch=5: jobs.dyn.trainer_options.epoch: unknown key",
        ("--set", "jobs.melody.trainer_options.epochs=5"): "no job 'melody' in the file (jobs: dyn)",
        ("--set", "jobs.dyn.trainer_options.epochs"): "expected KEY=VALUE",
        ("--only", "dny"): "--only dny: no job 'dny'",
    }
    for args, message in cases.items():
        result = kelcore("check-config", str(path), *args, env=env)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)


def test_device_selection_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("mps")
    assert devices.resolve_device("mps") == torch.device("mps")
    with pytest.raises(devices.DeviceError, match="CUDA is not available"):
        devices.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert devices.resolve_device("auto") == torch.device("cuda")
    assert devices.resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(devices.DeviceError, match="has 2 CUDA device"):
        devices.resolve_device("cuda:2")
    with pytest.raises(devices.DeviceError, match="unknown device"):
        devices.resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(devices.DeviceError, match="MPS backend is not available"):
        devices.check_device("mps")


def test_checkpoints_hold_only_safe_types_and_load_on_the_cpu(tmp_path):
    import random

    manager = CheckpointManager(tmp_path)
    np.random.seed(3)
    random.seed(3)
    manager.save_last({"model": {"w": torch.ones(2)}})
    expected = (np.random.rand(), random.random())
    state = torch.load(manager.last_path, weights_only=True, map_location="cpu")  # the safe loader accepts it
    from kelcore.training.checkpoints import set_rng_state

    set_rng_state(state["rng"])
    assert (np.random.rand(), random.random()) == expected
    assert manager.load_last()["model"]["w"].device.type == "cpu"
