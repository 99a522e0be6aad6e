"""RTNeural itself reproduces every export's reference snapshot (dynamic API and compile-time ModelT).

Needs RTNeural ($RTNEURAL_DIR, else ../shared/vendor/RTNeural: conftest.rtneural_dir) and g++; skipped with the
reason otherwise.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import RTNEURAL_DIR, needs_rtneural, run_kelcore

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    needs_rtneural,
    pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed"),
]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """Five untrained exports plus focused toy exports, and host.cpp built against them: hostbench's own cached
    builds (the same five exports, so test_hostbench's native runs and this file share one build of each)."""
    from kel_hostbench.native import build_all

    out = tmp_path_factory.mktemp("native")
    run_kelcore("export", "--untrained", "--seed", "0", "--out", str(out / "models"), "--cpp")
    assert (out / "models" / "KelModels.h").exists() and len(list((out / "models").glob("*.json"))) == 5
    return build_all(RTNEURAL_DIR, out / "models")["default"], out


def verify(binary: Path, *files: Path) -> dict[str, list[str]]:
    result = subprocess.run([str(binary), "verify", *map(str, files)], capture_output=True, text=True)
    return {Path(line.split()[0]).name: line.split()[1:] for line in result.stdout.splitlines()}


def test_rtneural_reproduces_all_five_exports_with_both_apis(host):
    binary, out = host
    files = sorted((out / "models").glob("*.json"))
    rows = verify(binary, *files)
    assert len(rows) == 5
    for name, (_, dynamic, _, modelt, verdict) in rows.items():
        assert verdict == "OK", (name, rows[name])
        assert float(dynamic) <= 1e-5 and float(modelt) <= 1e-5


def toy_file(layers: list[nn.Module], out: Path, name: str) -> Path:
    from kel_plugin_rtneural import RTNeuralExporter
    from kelcore.api import ExportContext
    from test_export_rtneural import toy

    model = toy(*layers)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    path = RTNeuralExporter().export(model, out / f"{name}.json", ExportContext(seed=2)).path
    document = json.loads(path.read_text())
    document["metadata"]["model"] = name  # not in KelModels.h: dynamic API only
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("name, layers", [
    ("lstm", [nn.LSTM(32, 12, batch_first=True), nn.Linear(12, 5)]),
    ("gru", [nn.GRU(32, 10, batch_first=True), nn.Tanh(), nn.Linear(10, 6)]),
    ("batchnorm", [nn.Linear(32, 8), nn.BatchNorm1d(8), nn.Sigmoid()]),
    ("biasfree", [nn.Linear(32, 16, bias=False), nn.ReLU(), nn.Linear(16, 7, bias=False), nn.Softmax(dim=-1)]),
    ("elu_prelu", [nn.Linear(32, 9), nn.ELU(), nn.Linear(9, 4), nn.PReLU(4)]),
])
def test_rtneural_reproduces_focused_layers(host, tmp_path, name, layers):
    torch.manual_seed(5)
    binary, _ = host
    path = toy_file(layers, tmp_path, name)
    (_, dynamic, _, _, verdict) = verify(binary, path)[path.name]
    assert verdict == "OK" and float(dynamic) <= 1e-5


def test_the_harness_detects_a_wrong_weight(host, tmp_path):
    binary, out = host
    document = json.loads((out / "models" / "GroovePredictor.json").read_text())
    document["layers"][1]["weights"][1][0] += 0.25
    path = tmp_path / "GroovePredictor.json"
    path.write_text(json.dumps(document))
    assert verify(binary, path)[path.name][-1] == "FAIL"
