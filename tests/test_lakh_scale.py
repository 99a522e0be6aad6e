"""benchmarks/lakh_scale.py in quick mode: a Lakh-layout tree of real-derived files, prepared cold and warm."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytest.importorskip("music21")


def test_lakh_scale_quick_mode_prepares_every_file_cold_and_warm(tmp_path):
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "lakh_scale.py"), "--quick", "--workers", "1",
                           "--source", str(tmp_path / "source"), "--workdir", str(tmp_path), "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["files"] == 200 and result["source_pieces"] == 20
    assert result["cold"]["usable"] == result["warm"]["usable"] == 200
    assert result["warm"]["files_per_s"] > result["cold"]["files_per_s"]
    assert "files/s" in done.stdout
