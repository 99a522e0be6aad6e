"""Trainer, training utilities and runs: determinism, kill-and-resume, Ctrl-C, NaN, atomic checkpoints."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import KELCORE_BIN, plugin_environment, run_kelcore
from kelcore.training import CheckpointManager, EarlyStopping, TrainingMetrics

pytestmark = pytest.mark.runs_long(37)  # see conftest.pytest_collection_modifyitems

PIPELINE = """\
[run]
name = "toy"
seed = 7
runs_dir = "runs"

[jobs.dyn]
model = "toy-dynamics"
dataset = "toy-notes"
exporters = ["torchjson"]

[jobs.dyn.model_options]
slow_ms = {slow_ms}

[jobs.dyn.dataset_options]
root = "."
sequences = 30
steps = 24
poison = "{poison}"

[jobs.dyn.trainer_options]
epochs = {epochs}
batch_size = 4
window = 12
patience = 50
learning_rate = 0.01
"""


def pipeline(tmp_path: Path, name: str = "p.toml", slow_ms: float = 0, epochs: int = 4, poison: str = "none") -> Path:
    path = tmp_path / name
    path.write_text(PIPELINE.format(slow_ms=slow_ms, epochs=epochs, poison=poison))
    return path


def only_run(tmp_path: Path) -> Path:
    (run,) = (tmp_path / "runs").iterdir()
    return run


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "dyn" / "model.pt", weights_only=True)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One uninterrupted 4-epoch run of the toy pipeline (its run directory and the command's result): the run
    directory test reads it, and every interrupted-and-resumed run must end with its weights."""
    root = tmp_path_factory.mktemp("straight")
    result = run_kelcore("run", str(pipeline(root, epochs=4)), env=plugin_environment(root, "kel-test-plugin"))
    assert result.returncode == 0, result.stderr
    return only_run(root), result


def test_run_writes_a_complete_run_directory(straight):
    run, result = straight
    assert run.name.startswith("toy-")
    for name in ["pipeline.toml", "run.json", "environment.json", "report.json", "dyn/split.json",
                 "dyn/metrics.csv", "dyn/checkpoints/last.pt", "dyn/model.pt", "dyn/job.json", "dyn/result.json",
                 "dyn/exports/DynamicsEngine.torch.json"]:
        assert (run / name).exists(), name
    env = json.loads((run / "environment.json").read_text())
    assert env["seeds"] == {"dyn": 7} and env["packages"]["torch"].startswith("2.13.0")
    rows = TrainingMetrics.read(run / "dyn" / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]  # epochs count from 1 everywhere
    assert {"train_loss", "val_loss", "lr", "val_velocity_mae"} <= rows[0].keys()
    report = json.loads((run / "report.json").read_text())["jobs"][0]
    assert report["exports"]["torchjson"]["max_abs_error"] == 0.0
    assert report["beats_baseline"] is True, report  # velocity follows input 0: learnable
    assert "beats baseline" in result.stdout
    assert "dyn epoch 4/4" in result.stderr  # plain progress lines when not on a terminal


def test_same_seed_same_weights_bit_for_bit(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        assert kelcore("run", str(pipeline(tmp_path / sub, epochs=2)), env=env).returncode == 0
    assert_same_weights(weights(only_run(tmp_path / "a")), weights(only_run(tmp_path / "b")))


def start_run(env, path: Path) -> subprocess.Popen:
    return subprocess.Popen([str(KELCORE_BIN), "run", str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_interrupted_run_resumes_to_the_same_weights(kelcore, plugin_env, tmp_path, how, straight):
    env = plugin_env("kel-test-plugin")
    (tmp_path / "broken").mkdir()

    path = pipeline(tmp_path / "broken", slow_ms=25, epochs=4)
    process = start_run(env, path)
    metrics = lambda: next((tmp_path / "broken" / "runs").glob("*/dyn/metrics.csv"), None)  # noqa: E731
    wait_for(lambda: (tmp_path / "broken" / "runs").exists() and metrics() is not None)
    time.sleep(0.3)  # mid-epoch
    process.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    run = only_run(tmp_path / "broken")
    assert not (run / "dyn" / "model.pt").exists(), "the run finished before it was interrupted"
    if how == "ctrl-c":
        assert process.returncode == 130
        assert "checkpoint saved to" in stderr and f"--resume {run}" in stderr

    resumed = kelcore("run", str(path), "--resume", str(run), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at epoch" in resumed.stderr
    assert_same_weights(weights(straight[0]), weights(run))
    rows = TrainingMetrics.read(run / "dyn" / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def saved_as_on_cuda(path: Path, monkeypatch) -> None:
    """Rewrite a checkpoint as a CUDA machine writes it: every storage tagged ``cuda:0``, CUDA RNG states inside."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    state["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8)]
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(state, path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="proves a CUDA checkpoint resumes on a machine without CUDA")
def test_a_run_interrupted_on_cuda_resumes_on_a_cpu_only_machine(kelcore, plugin_env, tmp_path, monkeypatch,
                                                                   straight):
    env = plugin_env("kel-test-plugin")
    (tmp_path / "broken").mkdir()
    path = pipeline(tmp_path / "broken", slow_ms=25, epochs=4)
    process = start_run(env, path)
    last = lambda: next((tmp_path / "broken" / "runs").glob("*/dyn/checkpoints/last.pt"), None)  # noqa: E731
    wait_for(lambda: (tmp_path / "broken" / "runs").exists() and last() is not None)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)
    run = only_run(tmp_path / "broken")
    assert not (run / "dyn" / "model.pt").exists(), "the run finished before it was interrupted"
    saved_as_on_cuda(last(), monkeypatch)
    with pytest.raises(RuntimeError, match="CUDA"):  # the file really claims CUDA storages
        torch.load(last(), weights_only=True)

    resumed = kelcore("run", str(path), "--resume", str(run), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at epoch" in resumed.stderr
    assert_same_weights(weights(straight[0]), weights(run))


def test_resume_refuses_a_changed_pipeline(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    assert kelcore("run", str(pipeline(tmp_path, epochs=1)), env=env).returncode == 0
    changed = pipeline(tmp_path, name="other.toml", epochs=2)
    result = kelcore("run", str(changed), "--resume", str(only_run(tmp_path)), env=env)
    assert result.returncode == 2  # bad input, like any bad --resume
    assert "the pipeline differs from the one" in result.stderr and "RunError" not in result.stderr


def test_nan_loss_stops_with_a_clear_message(kelcore, plugin_env, tmp_path):
    result = kelcore("run", str(pipeline(tmp_path, poison="nan")), env=plugin_env("kel-test-plugin"))
    assert result.returncode == 1
    assert "dyn: training loss became nan at epoch 1, batch 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_early_stopping_restores_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert not stopper.step(1.0, 1, model)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not stopper.step(0.95, 2, model)  # not better by min_delta
    assert stopper.step(0.99, 3, model)  # the patience-th epoch without improvement is the last (not one more)
    stopper.restore_best(model)
    assert_same_weights(best, model.state_dict())
    assert stopper.best_epoch == 1
    assert stopper.explain(3) == ("early stopping after epoch 3: the validation loss did not improve by more than "
                                  "0.1 for 2 epochs (patience 2); keeping epoch 1 (validation loss 1.0000)")


def test_checkpoints_are_atomic_and_keep_the_best_k(tmp_path):
    manager = CheckpointManager(tmp_path, keep_best=2)
    for epoch, loss in enumerate([3.0, 1.0, 2.0, 0.5]):
        manager.save_best({"epoch": epoch}, loss, epoch)
        manager.save_last({"epoch": epoch})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-epoch0001.pt", "best-epoch0003.pt", "last.pt"]
    assert manager.load_last()["epoch"] == 3
    assert "rng" in manager.load_last()


def test_metrics_jsonl_round_trip(tmp_path):
    log = TrainingMetrics(tmp_path / "m.jsonl", "jsonl")
    log.log({"epoch": 0, "train_loss": 1.5})
    log.log({"epoch": 1, "train_loss": 1.25, "val_acc": 0.5})
    assert TrainingMetrics.read(tmp_path / "m.jsonl") == log.rows
    log.truncate(1)
    assert TrainingMetrics.read(tmp_path / "m.jsonl") == [{"epoch": 0, "train_loss": 1.5}]
