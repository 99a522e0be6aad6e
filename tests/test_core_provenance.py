"""Every run says, per job, whether its data was real or synthetic (issue 10, item 4), through the real CLI:
``report.json``, the console's results table and the run's ``report.md``; the baselines' own figures show too."""
from __future__ import annotations

import json
from pathlib import Path

from kelcore.api import Dataset
from kelcore.demo import DEMO_MARKER, SYNTHETIC_DEMO, provenance_of

TWO_JOBS = """\
[run]
name = "prov"
seed = 3
runs_dir = "runs"
{jobs}
"""
JOB = """
[jobs.{name}]
model = "toy-dynamics"
dataset = "toy-notes"
exporters = []
[jobs.{name}.dataset_options]
root = "{root}"
sequences = 12
steps = 16
[jobs.{name}.trainer_options]
epochs = 1
batch_size = 4
window = 8
"""


def test_run_reports_synthetic_demo_and_real_data_per_job(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin")
    demo = kelcore("data", "demo", "toy-notes", str(tmp_path / "demo"), env=env)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo" / DEMO_MARKER).is_file() and "synthetic" in demo.stdout
    (tmp_path / "mine").mkdir()  # the user's own folder: no marker
    jobs = JOB.format(name="demo", root=tmp_path / "demo") + JOB.format(name="mine", root=tmp_path / "mine")
    (tmp_path / "p.toml").write_text(TWO_JOBS.format(jobs=jobs))
    result = kelcore("run", str(tmp_path / "p.toml"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    jobs = {job["job"]: job for job in json.loads((run / "report.json").read_text())["jobs"]}
    assert jobs["demo"]["provenance"] == SYNTHETIC_DEMO and jobs["mine"]["provenance"] == "real"
    table = result.stdout.split("Results on the test split")[1]
    rows = {line.split()[0]: line for line in table.splitlines() if line.startswith(("demo ", "mine "))}
    assert rows["demo"].endswith(SYNTHETIC_DEMO) and rows["mine"].endswith("real")
    assert "median_velocity_mae" in table and "(baseline only)" in table  # a baseline-only key is shown
    run_md = (run / "report.md").read_text()
    assert "| data |" in run_md and f"| {SYNTHETIC_DEMO} |" in run_md and "| real |" in run_md
    assert "median_velocity_mae" in run_md
    job_md = (run / "demo" / "report.md").read_text()
    assert f"Data: **{SYNTHETIC_DEMO}**" in job_md and "| median_velocity_mae | |" in job_md


def test_write_demo_marks_its_folder_and_a_dataset_may_say_more(tmp_path):
    class Fake(Dataset):
        produces, input_size, target_size = "DynamicsEngine", 1, 1
        prepare = validate = None

        @classmethod
        def write_demo(cls, path, seed=0):
            Path(path).mkdir(parents=True, exist_ok=True)

    class Real(Fake):
        real = True

        def provenance(self):
            return "real: somewhere"

    Fake.write_demo(tmp_path / "a")  # called directly, not through `kelcore data demo`
    Real.write_demo(tmp_path / "b")
    assert (tmp_path / "a" / DEMO_MARKER).is_file() and not (tmp_path / "b" / DEMO_MARKER).exists()
    assert provenance_of(Fake(Fake.Options(root=tmp_path / "a"))) == SYNTHETIC_DEMO
    assert provenance_of(Fake(Fake.Options(root=tmp_path / "b"))) == "real"
    assert provenance_of(Real(Real.Options(root=tmp_path / "a"))) == "real: somewhere"
