"""Every script in benchmarks/ runs in its --quick mode and prints its comparison, so a refactoring that
breaks one fails the test suite."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

BENCHMARKS = sorted((REPO / "benchmarks").glob("*.py"))
EXPECTED = {
    "preprocess_midi.py": ["straightforward pretty_midi", "kelcore, warm cache", "ratio kelcore (cold) / straightforward"],
    "groove_real.py": ["real performances", "timing MAE ms", "velocity MAE", "baseline"],
    "train_throughput.py": ["plain steps/s", "kelcore steps/s", "overhead", "MelodyTransformer", "GroovePredictor"],
}


# benchmarks whose --quick mode a test of their own runs with its arguments (and checks its figures)
DEDICATED = {"lakh_scale.py": "test_lakh_scale.py", "harmony_agreement.py": "test_datasets_music21corpus.py"}


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
