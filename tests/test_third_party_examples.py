"""The third-party plugin examples of docs/PLUGINS.md work as documented."""
from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from conftest import REPO
from kelcore.api import RunContext
from kelcore.testing import parametrize_with_checks

sys.path[:0] = [str(REPO / "examples" / "third_party_model"), str(REPO / "examples" / "third_party_dataset")]
from kel_plugin_drumloops import DrumLoops  # noqa: E402
from kel_plugin_tinygroove import TinyGroove  # noqa: E402


@parametrize_with_checks([TinyGroove])
def test_example_model_plugin_passes_the_conformance_suite(model, check):
    check(model)


def test_example_dataset_plugin_reads_its_layout(tmp_path):
    from kel_plugin_groove_midi import GrooveMidiDataset

    GrooveMidiDataset.write_demo(tmp_path / "src", seed=3)
    loops = tmp_path / "loops"
    loops.mkdir()
    beats = sorted(p for p in (tmp_path / "src").rglob("*_beat_4-4.mid"))[:6]
    rows = ["file,bpm,split"]
    for i, path in enumerate(beats):
        shutil.copy(path, loops / path.name)
        rows.append(f"{path.name},{'' if i == 0 else path.name.split('_')[2]},{['train', 'validation', 'test'][i % 3]}")
    (loops / "missing.mid").unlink(missing_ok=True)
    rows.append("missing.mid,100,train")
    (loops / "loops.csv").write_text("\n".join(rows) + "\n")
    dataset = DrumLoops(DrumLoops.Options(root=loops, cache_dir=tmp_path / "cache", workers=1))
    report = dataset.validate()
    assert (report.listed, report.usable, report.missing) == (7, 6, 1)
    data = dataset.prepare(RunContext(run_dir=tmp_path / "run"))
    assert (len(data.train), len(data.validation), len(data.test)) == (2, 2, 2)
    assert all(s.inputs.shape[1] == 64 and s.targets.shape[1] == 49 for s in data.train)
    assert data.train[0].targets[0, 48] == pytest.approx(60000 / 120 / 4)  # empty bpm cell -> default_bpm
    assert np.array_equal(data.normalization["std"], [1.0] * 64)
