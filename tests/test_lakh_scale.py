"""benchmarks/lakh_scale.py in quick mode: a Lakh-layout tree of real-derived files, prepared cold and warm."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.runs_long(16)  # see conftest.pytest_collection_modifyitems

pytest.importorskip("music21")


def test_lakh_scale_quick_mode_prepares_every_file_cold_and_warm_and_trains(tmp_path):
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "lakh_scale.py"), "--quick", "--workers", "2",
                           "--spill-mb", "0", "--source", str(tmp_path / "source"), "--workdir", str(tmp_path),
                           "--train", "--batch-size", "32", "--train-sequences", "30", "--eval-sequences", "10",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["files"] == 200 and result["source_pieces"] == 20
    assert result["cold"]["usable"] == result["warm"]["usable"] == 200
    assert result["warm"]["files_per_s"] > result["cold"]["files_per_s"]
    assert "files/s" in done.stdout and "peak anon main" in done.stdout
    for phase in ("cold", "warm"):  # peak RSS, and peak anonymous memory (sampled from Linux's /proc), of each phase
        row = result[phase]
        assert row["peak_mb_main"] > 0 and row["store_mb"] > 0, row  # --spill-mb 0: on disk, as at full size
        assert row["peak_anon_mb_total"] >= row["peak_anon_mb_main"] >= 0 and row["peak_anon_mb_worker"] >= 0, row
    if sys.platform.startswith("linux"):
        assert result["cold"]["peak_anon_mb_main"] > 0 and result["warm"]["peak_anon_mb_main"] > 0
        assert result["cold"]["peak_anon_mb_worker"] > 0  # the cold phase's extraction workers were sampled too
    train = result["train"]  # --train: every batch of the epoch drawn from the store, a one-epoch fit on 30 sequences
    assert train["train_sequences"] > train["fitted_sequences"] == 30 and not train["epoch_measured"]
    assert train["windows"] > train["fitted_windows"] > 0 and train["sequences_per_s"] > 0 and train["epoch_s"] > 0
    assert 0 <= train["test_top1"] <= 1 and "train MelodyTransformer one epoch on cpu" in done.stdout
    if sys.platform.startswith("linux"):
        assert train["peak_anon_mb_fit"] > 0 and train["peak_anon_mb_draw"] > 0
