"""kel-hostbench: `hostbench run` on the five untrained exports with the Python engines (CI), its failures (a
tampered file, a budget exceeded), `hostbench summary` on a run, and the native host against RTNeural
($RTNEURAL_DIR, else ../shared/vendor/RTNeural: conftest.rtneural_dir)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import RTNEURAL_DIR, needs_rtneural, run_hostbench, run_kelcore

pytestmark = pytest.mark.runs_long(34)  # see conftest.pytest_collection_modifyitems

MODELS = ["EmotionRecognizer", "MelodyTransformer", "HarmonyPredictor", "DynamicsEngine", "GroovePredictor"]
FAST = ["--quick", "--iterations", "60"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """The five models exported untrained (seed 0) with the C++ folder (KelModels.h)."""
    out = tmp_path_factory.mktemp("hostbench") / "models"
    run_kelcore("export", "--untrained", "--seed", "0", "--out", str(out), "--cpp")
    assert sorted(p.stem for p in out.glob("*.json")) == sorted(MODELS)
    return out


def hostbench(*args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "RTNEURAL_DIR"}
    environment.update(env or {})
    return run_hostbench(*map(str, args), env=environment, timeout=timeout)


def consistent(stats: dict) -> None:
    assert stats["count"] > 0
    assert 0 < stats["p50"] <= stats["p99"] <= stats["max"]


def test_python_engines_on_the_five_exports_write_every_figure(models, tmp_path):
    out = tmp_path / "report"
    result = hostbench("run", models, "--out", out, *FAST, "--budget-ms", "1000")
    # without RTNEURAL_DIR nothing the plugin runs is measured: FAIL, with the reason, whatever the references say
    assert result.returncode == 1, result.stdout + result.stderr
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "latency.png"}
    assert (out / "latency.png").stat().st_size > 10_000
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "FAIL" and len(report["failures"]) == 1
    assert report["failures"][0].startswith("nothing the plugin runs was measured") and "RTNEURAL_DIR" in \
        report["failures"][0]
    assert report["budgets"] == {"pipeline_ms": 1000.0, "weights_mb_per_model": 4.0}
    rows = {row["engine"]: row for row in report["engines"]}
    for engine in ("numpy", "torch"):
        row = rows[engine]
        assert row["status"] == "ok" and list(row["models"]) == MODELS
        consistent(row["pipeline_us"])
        for name, entry in row["models"].items():
            consistent(entry["step_us"])
            assert entry["replay_error"] <= 1e-5 and entry["reference"] == "PASS"
            assert entry["verdict"] == "PASS (reference; latency not judged)"
            assert entry["memory_bytes"] >= report["models"][name]["weight_bytes"] > 0
    for name, facts in report["models"].items():
        assert facts["parameters"] == facts["spec_parameters"]
        assert facts["weight_bytes"] <= facts["parameters"] * 4   # the file holds LSTM biases summed
    # without RTNEURAL_DIR nothing native pretends
    native = [row for row in report["engines"] if row["kind"] == "native"]
    assert len(native) == 4 and all(row["status"] == "not built: set RTNEURAL_DIR" for row in native)
    assert all(row["models"][m]["verdict"] == "not built: set RTNEURAL_DIR" for row in native for m in MODELS)
    assert report["native_pipeline"]["status"] == "not built: set RTNEURAL_DIR"
    markdown = (out / "report.md").read_text()
    assert "not built: set RTNEURAL_DIR" in markdown and "| GroovePredictor |" in markdown
    assert "PASS" not in [line.split()[-1] for line in result.stdout.splitlines() if "rtneural-" in line]


def test_a_tampered_weight_fails_every_engine_and_exits_1(models, tmp_path):
    tampered = tmp_path / "models"
    shutil.copytree(models, tampered)
    path = tampered / "GroovePredictor.json"
    document = json.loads(path.read_text())
    document["layers"][1]["weights"][1][0] += 0.25
    path.write_text(json.dumps(document))
    out = tmp_path / "report"
    result = hostbench("run", tampered, "--out", out, *FAST, "--budget-ms", "1000", "--engines", "numpy,torch")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "FAIL"
    for row in report["engines"]:
        assert row["models"]["GroovePredictor"]["reference"] == "FAIL"
        assert row["models"]["GroovePredictor"]["verdict"].startswith("FAIL")
        assert "step_us" not in row["models"]["GroovePredictor"]     # failed before any timing
        assert row["models"]["HarmonyPredictor"]["reference"] == "PASS"
    assert any("GroovePredictor" in failure and "weights_sha256" in failure for failure in report["failures"])
    assert "FAIL" in (out / "report.md").read_text()


def test_a_weight_budget_exceeded_fails_and_reference_latency_never_does(models, tmp_path):
    out = tmp_path / "report"
    result = hostbench("run", models, "--out", out, *FAST, "--engines", "numpy", "--budget-weights-mb", "0.1")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "FAIL" and any("MB of weights > budget" in failure for failure in report["failures"])
    slow = hostbench("run", models, "--out", tmp_path / "slow", *FAST, "--engines", "numpy", "--budget-ms", "0.001")
    report = json.loads((tmp_path / "slow" / "report.json").read_text())
    assert not any("budget" in failure for failure in report["failures"]), report["failures"]
    assert all(entry["verdict"] == "PASS (reference; latency not judged)"
               for entry in report["engines"][0]["models"].values())


def test_nothing_measured_is_a_fail_and_errors_are_messages(models, tmp_path):
    native_only = hostbench("run", models, "--out", tmp_path / "native", *FAST, "--engines", "native")
    assert native_only.returncode == 1, native_only.stdout + native_only.stderr
    assert "FAIL: nothing the plugin runs was measured" in native_only.stdout
    assert "PASS" not in native_only.stdout
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = hostbench("run", models, "--out", blocker / "report", *FAST, "--engines", "numpy")
    assert unwritable.returncode == 2 and "Traceback" not in unwritable.stderr and str(blocker) in unwritable.stderr
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    refused = hostbench("run", models, "--out", mine, *FAST, "--engines", "numpy")
    assert refused.returncode == 2 and "notes.txt" in refused.stderr
    assert (mine / "notes.txt").read_text() == "the user's"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    none = hostbench("run", empty, "--out", tmp_path / "none", *FAST)
    assert none.returncode == 2 and "no exported model" in none.stderr and "Traceback" not in none.stderr
    helped = hostbench("--help")
    assert helped.returncode == 0 and "``" not in helped.stdout and "native RTNeural rows" in helped.stdout


def test_one_model_is_benchmarked_not_failed(models, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(models / "GroovePredictor.json", one)
    result = hostbench("run", one, "--out", tmp_path / "report", *FAST, "--engines", "numpy")
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(report["engines"][0]["models"]) == ["GroovePredictor"]
    assert report["engines"][0]["models"]["GroovePredictor"]["step_us"]["count"] > 0
    assert not any("has no file for" in failure for failure in report["failures"]), report["failures"]


def test_summary_of_a_run_prints_one_row_per_model(models, tmp_path):
    run = tmp_path / "runs" / "quickstart-20250101-000000"
    jobs = []
    for name in MODELS:
        (run / name / "exports").mkdir(parents=True)
        shutil.copy(models / f"{name}.json", run / name / "exports" / f"{name}.json")
        jobs.append({"job": name, "spec": name, "model": name.lower(), "dataset": "demo", "beats_baseline": True,
                     "report": {"primary_metric": "loss"}, "test_metrics": {"loss": 0.5},
                     "baseline_metrics": {"loss": 0.7},
                     "exports": {"rtneural": {"path": str(run / name / "exports" / f"{name}.json"),
                                              "max_abs_error": 1e-8}}})
    (run / "report.json").write_text(json.dumps({"run_id": run.name, "jobs": jobs}))
    jobs[-1]["beats_baseline"] = False  # GroovePredictor: a row that does not beat its baseline is a failure
    (run / "report.json").write_text(json.dumps({"run_id": run.name, "jobs": jobs}))
    result = hostbench("summary", tmp_path / "runs", "--engines", "numpy,torch", "--iterations", "60",
                       "--budget-ms", "1000")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.split() and line.split()[0] in MODELS]
    assert len(rows) == 5 and not any(line.rstrip().endswith("PASS") for line in rows)
    assert all("not measured natively" in line for line in rows)   # numpy/PyTorch are references only
    assert "does not beat its baseline" in rows[-1] and "does not beat" not in rows[0]
    assert "FAIL: GroovePredictor: does not beat its baseline" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("FAIL")
    assert "0.5000" in rows[0] and "0.7000" in rows[0] and "1.0e-08" in rows[0]
    assert (run / "hostbench" / "report.json").exists()


# ------------------------------------------------------------------------------------------------------ native
native = needs_rtneural


@native
def test_native_host_built_verified_and_run_in_real_time(models, tmp_path):
    out = tmp_path / "report"
    result = hostbench("run", models, "--out", out, *FAST, "--engines", "native", "--budget-ms", "1000",
                       env={"RTNEURAL_DIR": str(RTNEURAL_DIR)})
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    rows = [row for row in report["engines"] if row["kind"] == "native"]
    assert [row["engine"] for row in rows] == ["rtneural-dynamic-default", "rtneural-modelt-default",
                                               "rtneural-dynamic-native", "rtneural-modelt-native"]
    for row in rows:
        assert row["status"] == "ok" and "-O" in row["flags"]
        consistent(row["pipeline_us"])
        for name, entry in row["models"].items():
            assert entry["replay_error"] <= 1e-5 and entry["verdict"] == "PASS"
            consistent(entry["step_us"])
            assert entry["memory_bytes"] >= report["models"][name]["weight_bytes"]
    sweep = report["native_pipeline"]
    assert sweep["status"] == "ok" and sweep["api"] == "modelt" and len(sweep["runs"]) == 2
    for run in sweep["runs"]:
        assert run["audio_thread_allocations"] == 0 and run["blocks"] > 0
        consistent(run["callback_us"])
        assert run["deadline_us"] == pytest.approx(run["block"] / run["rate"] * 1e6, rel=1e-4)
        assert run["models"]["EmotionRecognizer"]["results"] >= 1
        assert run["models"]["DynamicsEngine"]["results"] >= 1
        for figures in run["models"].values():
            if figures["infer_us"]["count"]:
                consistent(figures["infer_us"])


@native
def test_native_counts_an_allocation_in_the_callback_and_fails(models, tmp_path):
    out = tmp_path / "report"
    result = hostbench("run", models, "--out", out, *FAST, "--engines", "native", "--budget-ms", "1000",
                       env={"RTNEURAL_DIR": str(RTNEURAL_DIR), "KEL_HOSTBENCH_ALLOCATE_IN_CALLBACK": "1"})
    assert result.returncode == 1
    report = json.loads((out / "report.json").read_text())
    assert all(run["audio_thread_allocations"] >= run["blocks"] for run in report["native_pipeline"]["runs"])
    assert any("allocations on the audio thread" in failure for failure in report["failures"])


@native
def test_native_without_kelmodels_h_says_so_and_a_tampered_file_fails(models, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in MODELS:
        shutil.copy(models / f"{name}.json", folder)
    path = folder / "GroovePredictor.json"
    document = json.loads(path.read_text())
    document["layers"][1]["weights"][1][0] += 0.25
    path.write_text(json.dumps(document))
    out = tmp_path / "report"
    result = hostbench("run", folder, "--out", out, *FAST, "--engines", "native", "--budget-ms", "1000",
                       env={"RTNEURAL_DIR": str(RTNEURAL_DIR)})
    assert result.returncode == 1
    report = json.loads((out / "report.json").read_text())
    rows = {row["engine"]: row for row in report["engines"]}
    for flags in ("default", "native"):
        assert "has no KelModels.h" in rows[f"rtneural-modelt-{flags}"]["status"]
        dynamic = rows[f"rtneural-dynamic-{flags}"]
        assert dynamic["models"]["GroovePredictor"]["verdict"].startswith("FAIL")
        assert dynamic["models"]["HarmonyPredictor"]["verdict"] == "PASS"
    assert report["native_pipeline"]["api"] == "dynamic"
