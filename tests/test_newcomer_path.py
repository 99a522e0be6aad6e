"""The newcomer's path (issue 17): nothing of the user's is overwritten, a resume continues the run it names, one
job's bad data fails that job only, the counts agree, the checks before a run catch what the run would hit."""
from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import KELCORE_BIN

pytestmark = pytest.mark.runs_long(25)  # see conftest.pytest_collection_modifyitems

TOY_JOB = """
[jobs.{name}]
model = "toy-dynamics"
dataset = "toy-notes"
exporters = ["torchjson"]
[jobs.{name}.model_options]
slow_ms = {slow_ms}
[jobs.{name}.dataset_options]
root = "."
sequences = 12
steps = 16
[jobs.{name}.trainer_options]
epochs = {epochs}
batch_size = 4
window = 8
patience = 50
"""


def toy_pipeline(folder: Path, names: tuple[str, ...] = ("a", "b", "c"), slow_ms: float = 0, epochs: int = 2,
                 extra: str = "", before: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = '[run]\nname = "toy"\nruns_dir = "runs"\n' + before + "".join(
        TOY_JOB.format(name=n, slow_ms=slow_ms, epochs=epochs) for n in names) + extra
    path = folder / "p.toml"
    path.write_text(text)
    return path


def the_run(folder: Path) -> Path:
    (run,) = (folder / "runs").iterdir()
    return run


def report_jobs(run: Path) -> dict[str, dict]:
    return {rec["job"]: rec for rec in json.loads((run / "report.json").read_text())["jobs"]}


# ----------------------------------------------------------------------------- (1) nothing of the user's lost
def test_data_demo_refuses_a_folder_of_the_users_files(kelcore, tmp_path):
    users = tmp_path / "userdata"
    users.mkdir()
    (users / "info.csv").write_text("my own index\n")
    refused = kelcore("data", "demo", "groove-midi", str(users), "--seed", "0")
    assert refused.returncode == 2, refused.stderr
    assert str(users / "info.csv") in refused.stderr and "--force" in refused.stderr
    assert (users / "info.csv").read_text() == "my own index\n"
    assert sorted(p.name for p in users.iterdir()) == ["info.csv"]   # nothing written beside it

    fresh = tmp_path / "demo"
    assert kelcore("data", "demo", "groove-midi", str(fresh), "--seed", "0").returncode == 0
    again = kelcore("data", "demo", "groove-midi", str(fresh), "--seed", "0")  # its own folder: written again
    assert again.returncode == 0, again.stderr
    forced = kelcore("data", "demo", "groove-midi", str(users), "--seed", "0", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (users / "info.csv").read_text() != "my own index\n"


def test_export_out_refuses_a_folder_of_the_users_files(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "DynamicsEngine.torch.json").write_text("the user's own file")
    refused = kelcore("export", "--untrained", "--models", "toy-dynamics", "--out", str(out), env=env)
    assert refused.returncode == 2, refused.stderr
    assert "DynamicsEngine.torch.json" in refused.stderr
    assert (out / "DynamicsEngine.torch.json").read_text() == "the user's own file"
    fresh = tmp_path / "fresh"
    assert kelcore("export", "--untrained", "--models", "toy-dynamics", "--out", str(fresh), env=env).returncode == 0
    assert kelcore("export", "--untrained", "--models", "toy-dynamics", "--out", str(fresh), env=env).returncode == 0


# ----------------------------------------------------------------------------- (2) resume is the run
def test_ctrl_c_resume_line_is_complete_and_reports_merge(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    path = toy_pipeline(tmp_path, slow_ms=20, epochs=3)
    process = subprocess.Popen([str(KELCORE_BIN), "run", str(path), "--only", "a", "--only", "b",
                                "--set", "jobs.b.trainer_options.epochs=2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob("*/a/metrics.csv")):
        assert time.monotonic() < deadline and process.poll() is None, "job a never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    line = next(l for l in stderr.splitlines() if l.startswith("resume with: ")).removeprefix("resume with: ")
    words = shlex.split(line)
    assert words[:2] == ["kelcore", "run"] and "--resume" in words
    assert words.count("--only") == 2 and "--set" in words and "jobs.b.trainer_options.epochs=2" in words
    run = the_run(tmp_path)
    assert json.loads((run / "run.json").read_text())["only"] == ["a", "b"]

    # a later invocation that trains only b: the report still holds every job of the run
    only_b = kelcore("run", str(path), "--resume", str(run), "--only", "b", env=env)
    assert only_b.returncode == 1, only_b.stderr          # a is not finished yet: said, exit 1
    jobs = report_jobs(run)
    assert list(jobs) == ["a", "b"] and jobs["b"].get("status", "ok") == "ok" and jobs["a"]["status"] == "not run"
    assert "not run" in (run / "report.md").read_text()

    # the printed line, run as printed (without --only, it still continues exactly the run's jobs)
    plain = kelcore("run", str(path), "--resume", str(run), env=env)
    assert plain.returncode == 0, plain.stderr
    assert "resuming" in plain.stderr and "a, b" in plain.stderr
    assert not (run / "c").exists(), "job c is not part of the run"
    jobs = report_jobs(run)
    assert list(jobs) == ["a", "b"] and all(rec.get("status", "ok") == "ok" for rec in jobs.values())
    assert json.loads((run / "b" / "result.json").read_text())["epochs"] == 2   # the run's --set kept
    report = (run / "report.md").read_text()
    assert "[a](a/report.md)" in report and "[b](b/report.md)" in report

    other = kelcore("run", str(path), "--resume", str(run), "--only", "c", env=env)
    assert other.returncode == 2 and "not a job of this run" in other.stderr
    changed = kelcore("run", str(path), "--resume", str(run), "--set", "jobs.a.trainer_options.epochs=9", env=env)
    assert changed.returncode == 2 and "--set" in changed.stderr


def unusable_groove(root: Path, kelcore) -> Path:
    """A Groove MIDI demo whose every row is a fill: the index reads fine, nothing can train GroovePredictor."""
    assert kelcore("data", "demo", "groove-midi", str(root), "--seed", "0").returncode == 0
    info = root / "info.csv"
    rows = list(csv.DictReader(info.open(newline="")))
    with info.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "beat_type": "fill"} for row in rows)
    return root


GROOVE_JOB = """
[jobs.groove]
model = "groove"
dataset = "groove-midi"
[jobs.groove.dataset_options]
root = "{root}"
cache_dir = "{cache}"
[jobs.groove.trainer_options]
epochs = 1
"""


def test_a_job_whose_data_is_unusable_fails_alone(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin", only=False)
    root = unusable_groove(tmp_path / "groove", kelcore)
    path = toy_pipeline(tmp_path, names=("toy",), before=GROOVE_JOB.format(root=root, cache=tmp_path / "cache"))
    result = kelcore("run", str(path), env=env)
    assert result.returncode == 1, result.stderr
    assert "groove: FAILED" in result.stderr and "no usable training sequences" in result.stderr
    assert "commonest reasons: 56 x unsupported: fill in 4-4" in result.stderr   # said here, not only in a log
    run = the_run(tmp_path)
    jobs = report_jobs(run)
    assert list(jobs) == ["groove", "toy"]
    assert jobs["groove"]["status"] == "failed" and "no usable training sequences" in jobs["groove"]["error"]
    assert jobs["toy"].get("status", "ok") == "ok" and (run / "toy" / "model.pt").exists()
    report = (run / "report.md").read_text()
    assert "**failed**" in report and "[toy](toy/report.md)" in report
    assert "FAILED" in result.stdout  # the summary table says it too


# ----------------------------------------------------------------------------- (3) one set of counts
def test_validate_counts_what_training_uses(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin", only=False,
                     KELCORE_CACHE_DIR=str(tmp_path / "cache"))
    root = tmp_path / "groove"
    assert kelcore("data", "demo", "groove-midi", str(root), "--seed", "0", env=env).returncode == 0
    validated = kelcore("data", "validate", "groove-midi", "--root", str(root), "--json", env=env)
    counts = json.loads(validated.stdout)
    assert (counts["listed"], counts["usable"], counts["unsupported"]) == (60, 52, 8), counts
    path = toy_pipeline(tmp_path, names=(), extra=GROOVE_JOB.format(root=root, cache=tmp_path / "cache"))
    trained = kelcore("run", str(path), env=env)
    assert trained.returncode == 0, trained.stderr
    data = report_jobs(the_run(tmp_path))["groove"]["data"]
    assert {k: data[k] for k in ("listed", "usable", "unsupported")} == \
        {k: counts[k] for k in ("listed", "usable", "unsupported")}


def test_validate_counts_each_task_of_a_dataset_serving_several(kelcore, tmp_path):
    root = tmp_path / "maestro"
    env = {**os.environ, "KELCORE_CACHE_DIR": str(tmp_path / "cache")}
    assert kelcore("data", "demo", "maestro", str(root), "--seed", "0", env=env).returncode == 0
    result = kelcore("data", "validate", "maestro", "--root", str(root), "--json", env=env)
    tasks = json.loads(result.stdout)["tasks"]
    assert len(tasks) >= 2 and all(report["listed"] == report["usable"] + report["missing"] + report["corrupt"]
                                   + report["unlabelled"] + report["unsupported"] for report in tasks.values())
    text = kelcore("data", "validate", "maestro", "--root", str(root), env=env).stdout
    assert all(f"(task {task})" in text for task in tasks)


def test_check_config_and_run_say_a_missing_index_before_anything_runs(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin", only=False)
    root = tmp_path / "groove"
    assert kelcore("data", "demo", "groove-midi", str(root), "--seed", "0").returncode == 0
    (root / "info.csv").unlink()
    path = toy_pipeline(tmp_path, names=("toy",), extra=GROOVE_JOB.format(root=root, cache=tmp_path / "cache"))
    checked = kelcore("check-config", str(path), env=env)
    assert checked.returncode == 2, checked.stdout
    assert "no info.csv" in checked.stderr and "jobs.groove.dataset_options.root" in checked.stderr
    ran = kelcore("run", str(path), env=env)
    assert ran.returncode == 2 and "no info.csv" in ran.stderr
    assert not (tmp_path / "runs").exists()        # nothing ran, no run folder left behind
    validated = kelcore("data", "validate", "groove-midi", "--root", str(root), env=env)
    assert validated.returncode == 2


# ----------------------------------------------------------------------------- (6) the smaller items
TOY_BASELINE = "Every step predicted as the training split's mean velocity (and, a baseline-only figure, its median)."


def test_a_toy_run_names_its_baseline_whole_explains_the_star_writes_0644_and_takes_device(
        kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    path = toy_pipeline(tmp_path, names=("a",))
    old = os.umask(0o022)
    try:
        result = kelcore("run", str(path), "--device", "cpu", env=env)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    run = the_run(tmp_path)
    record = json.loads((run / "a" / "result.json").read_text())
    assert record["report"]["baseline"] == TOY_BASELINE            # the wrapped sentence, whole
    assert TOY_BASELINE in result.stdout and TOY_BASELINE in (run / "report.md").read_text()
    assert "* best validation loss so far (these weights are kept)" in result.stderr
    assert record["report"]["device"] == "cpu"
    assert "jobs.a.trainer_options.device=cpu" in json.loads((run / "run.json").read_text())["overrides"]
    for name in ("a/model.pt", "a/result.json", "run.json", "report.json", "a/exports/DynamicsEngine.torch.json"):
        assert (run / name).stat().st_mode & 0o777 == 0o644, name   # what open() gives under umask 0022


def test_export_modes_follow_the_umask_and_an_unwritable_out_is_bad_input(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    old = os.umask(0o027)
    try:
        done = kelcore("export", "--untrained", "--models", "toy-dynamics", "--out", str(tmp_path / "out"), env=env)
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "DynamicsEngine.torch.json").stat().st_mode & 0o777 == 0o640
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = kelcore("export", "--untrained", "--models", "toy-dynamics", "--out", str(blocker / "out"), env=env)
    assert unwritable.returncode == 2, unwritable.stderr
    assert "cannot write there" in unwritable.stderr and "Traceback" not in unwritable.stderr


def test_typod_keys_get_a_did_you_mean(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    path = toy_pipeline(tmp_path, names=("a",))
    path.write_text(path.read_text().replace("sequences = 12", "sequence = 12").replace(
        "[jobs.a.trainer_options]", "[jobs.a.trainer_option]"))
    checked = kelcore("check-config", str(path), env=env)
    assert checked.returncode == 2
    assert "did you mean 'trainer_options'?" in checked.stderr
    path.write_text(path.read_text().replace("[jobs.a.trainer_option]", "[jobs.a.trainer_options]"))
    checked = kelcore("check-config", str(path), env=env)
    assert checked.returncode == 2 and "did you mean 'sequences'?" in checked.stderr


def test_plugins_json_into_a_closed_pipe_says_nothing(tmp_path):
    result = subprocess.run(f"'{KELCORE_BIN}' plugins --json | head -c 1", shell=True, capture_output=True,
                            text=True, timeout=300)
    assert result.stdout == "[" and result.stderr == "", result.stderr


def test_dynamics_baseline_on_read_only_targets_warns_nothing():
    import warnings

    import numpy as np

    from kelcore.api import Sequence
    from kel_plugin_dynamics.model import DynamicsEngine

    def sequence(seed: int) -> Sequence:
        velocity = np.random.default_rng(seed).uniform(20, 110, (50, 1)).astype(np.float32)
        velocity.flags.writeable = False                  # prepared data are read-only views
        return Sequence(f"s{seed}", np.zeros((50, 32), np.float32), velocity)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figures = DynamicsEngine.baseline_metrics([sequence(0)], [sequence(1), sequence(2)])
    assert 0 < figures["velocity_mae"] < 40 and 0 <= figures["bin_accuracy"] <= 1


def test_an_empty_mp3_is_called_empty_not_a_pipe(tmp_path):
    from kel_audio_features import AudioError, load_audio

    (tmp_path / "song.mp3").write_bytes(b"")
    with pytest.raises(AudioError) as empty:
        load_audio(tmp_path / "song.mp3")
    assert "empty file (0 bytes)" in str(empty.value) and "pipe" not in str(empty.value)


def _nothing_usable(track, config):
    from kelcore.api import Extracted

    return Extracted(kind="unsupported", reason="nothing here is usable")


def test_a_failing_check_points_at_no_removed_temporary_log():
    from kelcore.testing.checks import ConformanceError
    from kelcore.testing.suites import check_dataset_demo_prepares
    from kel_plugin_groove_midi.dataset import GrooveMidiDataset

    class NothingUsable(GrooveMidiDataset):
        extract = staticmethod(_nothing_usable)

    with pytest.raises(ConformanceError) as failed:
        check_dataset_demo_prepares(NothingUsable)
    message = str(failed.value)
    assert "no usable training sequences" in message and "60 x unsupported: nothing here is usable" in message
    assert "<the check's temporary folder, removed>" in message and "/tmp" not in message
