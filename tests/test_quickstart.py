"""The demo path end to end: demo corpora in the real layouts -> the quickstart pipeline -> five trained models
that beat their baselines -> exports that `kelcore validate --check-specs` accepts."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import REPO

pytestmark = pytest.mark.runs_long(78)  # see conftest.pytest_collection_modifyitems


def test_quickstart_trains_all_five_beats_every_baseline_and_exports(kelcore, tmp_path):
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "quickstart.toml", tmp_path / "examples" / "quickstart.toml")
    for dataset, folder in (("groove-midi", "groove"), ("deam", "deam"), ("lakh", "lakh"), ("maestro", "maestro"),
                            ("music21corpus", "music21corpus")):
        demo = kelcore("data", "demo", dataset, str(tmp_path / "demo-data" / folder), "--seed", "0")
        assert demo.returncode == 0, demo.stderr
    result = kelcore("run", str(tmp_path / "examples" / "quickstart.toml"), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    report = json.loads((run / "report.json").read_text())
    verdicts = {job["spec"]: (job["beats_baseline"], job["test_metrics"], job["baseline_metrics"])
                for job in report["jobs"]}
    assert set(verdicts) == {"GroovePredictor", "DynamicsEngine", "HarmonyPredictor", "MelodyTransformer",
                             "EmotionRecognizer"}
    assert all(beats for beats, _, _ in verdicts.values()), verdicts
    exports = sorted(run.glob("*/exports/*.json"))
    assert len(exports) == 5
    check = kelcore("validate", *map(str, exports), "--check-specs")
    assert check.returncode == 0, check.stdout
    again = kelcore("export", str(run), "--out", str(tmp_path / "again"))  # a run directory re-exports
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "again").glob("*.json"))) == 5
