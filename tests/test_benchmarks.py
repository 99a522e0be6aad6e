"""Every script in benchmarks/ runs in its --quick mode and prints its comparison, so a refactoring that
breaks one fails the test suite."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.runs_long(21)  # see conftest.pytest_collection_modifyitems

BENCHMARKS = sorted((REPO / "benchmarks").glob("*.py"))
EXPECTED = {
    "preprocess_midi.py": ["straightforward pretty_midi", "kelcore, warm cache", "ratio kelcore (cold) / straightforward"],
    "groove_real.py": ["real performances", "timing MAE ms", "velocity MAE", "baseline"],
    "train_throughput.py": ["plain steps/s", "kelcore steps/s", "overhead", "MelodyTransformer", "GroovePredictor"],
    "melody_real.py": ["bits per note", "baseline bigram", "best epoch", "by position in the tune"],
    "tune_grouping.py": ["peak memory added", "planted twins found 19 of 19"],
}


# benchmarks whose --quick mode a test of their own runs with its arguments (and checks its figures)
DEDICATED = {"lakh_scale.py": "test_lakh_scale.py", "harmony_agreement.py": "test_datasets_music21corpus.py",
             "tempo_per_block.py": "test_native_midi.py"}


def test_every_benchmark_has_an_expectation():
    assert {path.name for path in BENCHMARKS} == set(EXPECTED) | set(DEDICATED)
    for script, test in DEDICATED.items():
        text = (REPO / "tests" / test).read_text()
        assert script in text and '"--quick"' in text, f"{test} does not run {script} --quick"


@pytest.mark.parametrize("script", [p for p in BENCHMARKS if p.name not in DEDICATED], ids=lambda p: p.name)
def test_benchmark_quick_mode_completes_and_prints_its_comparison(script):
    result = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    for text in EXPECTED[script.name]:
        assert text in result.stdout, (text, result.stdout)


GROOVE_MIDI_DIR = os.environ.get("GROOVE_MIDI_DIR")


@pytest.mark.skipif(not GROOVE_MIDI_DIR, reason="GROOVE_MIDI_DIR unset: no full copy of the Groove MIDI release "
                                                "(groove-v1.0.0-midionly.zip); the 9 real files hold 20 4/4 bars")
def test_groove_predictor_beats_its_baselines_on_the_real_release_official_test_split():
    """Trained on the real release's train split, judged on its unseen test performances: both outputs must beat
    the zero-offset / mean-velocity baselines (measured: 18.3 vs 21.0 ms, 21.7 vs 30.7 at 30 epochs)."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "groove_real.py"), "--official",
                             "--epochs", "10", "--root", GROOVE_MIDI_DIR], capture_output=True, text=True,
                            timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "timing MAE ms: model" in result.stdout and "velocity MAE: model" in result.stdout, result.stdout
    assert "does NOT beat" not in result.stdout, result.stdout
