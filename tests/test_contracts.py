"""The single definition of every feature contract: generated files are fresh, every consumer follows it,
produced widths are checked, and the C++ side's shared pieces (normalisation, version check) agree with Python."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import kel_contracts
import numpy as np
import pytest
from kel_contracts import CONTRACTS, native_dir
from kel_contracts.render import render_cpp, render_markdown

import kelcore
from kelcore.api import RunContext
from kelcore.data import Extracted, FeatureWidthError, IndexedDataset, Track, apply_normalization
from kelcore.plugins import get_registry
from kelcore.spec import load_specs

REPO = Path(__file__).resolve().parents[1]
GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed")


def test_generated_docs_and_cpp_constants_are_fresh():
    # regenerate with: .venv/bin/python -m kel_contracts.render
    assert (REPO / "docs" / "CONTRACTS.md").read_text() == render_markdown(), "docs/CONTRACTS.md is stale"
    assert (native_dir() / "KelContracts.h").read_text() == render_cpp(), "KelContracts.h is stale"


def test_render_check_exits_1_on_a_stale_page(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "CONTRACTS.md").write_text("# an old page\n")
    from kel_contracts.render import main

    assert main(["--check", "--repo", str(tmp_path)]) == 1
    assert (tmp_path / "docs" / "CONTRACTS.md").read_text() == "# an old page\n"   # --check writes nothing


@pytest.mark.parametrize("model", sorted(CONTRACTS))
def test_every_model_plugin_states_its_contract_from_the_single_definition(model):
    registry = get_registry()
    classes = [registry.get("models", name).obj for name in registry.names("models")]
    (cls,) = [c for c in classes if c.spec_name == model]
    contract = CONTRACTS[model]
    spec = kelcore.get_spec(model)
    assert cls.feature_contract() == contract.feature_contract()
    assert (contract.inputs.size, contract.outputs.size) == (spec.input_size, spec.output_size)
    assert cls.target_size == contract.target_size
    names = [e.name for e in contract.feature_contract().inputs]
    assert len(set(names)) == len(names), "element names must be unique"


def test_kick_drift_is_gone_everywhere():
    from kel_contracts.groove import DRUM_GROUPS, drum_group_of

    assert DRUM_GROUPS["kick"] == (35, 36) and drum_group_of(35) == drum_group_of(36) == 0
    assert "kick 35, 36" in render_markdown()
    assert "inline constexpr int kDrumGroupsKick[2] = {35, 36};" in render_cpp()
    assert int(CONTRACTS["GroovePredictor"].version.split(".")[0]) >= 2     # 2.0.0 made note 35 a kick


class WrongWidth(IndexedDataset):
    """A dataset whose feature code yields 63 inputs where GroovePredictor takes 64."""

    name = "wrong-width"
    tasks = {"": "GroovePredictor"}
    target_size = 49

    @staticmethod
    def extract(track, config):
        return Extracted(np.zeros((4, 63), np.float32), np.zeros((4, 49), np.float32))

    check = extract

    def read_index(self, root):
        return [Track(f"t{i}", root / f"t{i}", f"g{i}") for i in range(6)]

    @classmethod
    def write_demo(cls, path, seed=0):
        pass


def test_prepare_checks_the_width_the_feature_code_actually_produces(tmp_path):
    from kelcore.api import DatasetOptions

    for i in range(6):
        (tmp_path / f"t{i}").write_bytes(b"x")
    dataset = WrongWidth(DatasetOptions(root=tmp_path, workers=1, cache_dir=tmp_path / "cache"))
    assert dataset.input_size is None          # nothing declared: the produced features are checked
    context = RunContext(run_dir=tmp_path / "run", seed=0, progress=False)
    with pytest.raises(FeatureWidthError, match=r"t0: the feature code produced inputs of shape \[4, 63\], but "
                                                r"GroovePredictor takes 64 per step"):
        dataset.prepare(context)


def exported(tmp_path: Path, model: str, normalization: dict) -> Path:
    from kel_plugin_rtneural import RTNeuralExporter

    from kelcore.api import ExportContext
    from kelcore.runs import build_model

    registry = get_registry()
    (cls,) = [registry.get("models", n).obj for n in registry.names("models")
              if registry.get("models", n).obj.spec_name == model]
    path = tmp_path / f"{model}.json"
    RTNeuralExporter().export(build_model(cls, None, seed=0), path,
                              ExportContext(normalization=normalization, run_id="test", seed=0))
    return path


NORMALISER_DRIVER = r"""
#include "KelFeatures.h"
#include <cstdio>
#include <fstream>
#include <sstream>
int main(int, char** argv) {
    std::ifstream file(argv[1]);
    std::stringstream text;
    text << file.rdbuf();
    std::string error;
    if (!kel::checkContractVersion(text.str(), argv[2], &error)) { std::printf("version: %s\n", error.c_str()); return 3; }
    kel::Normaliser normaliser;
    const int size = std::atoi(argv[3]);
    if (!normaliser.loadFromJson(text.str(), size, &error)) { std::printf("load: %s\n", error.c_str()); return 4; }
    float x[256];
    for (int row = 0; std::scanf("%f", &x[0]) == 1; ++row) {
        for (int i = 1; i < size; ++i) if (std::scanf("%f", &x[i]) != 1) return 5;
        normaliser.apply(x);
        for (int i = 0; i < size; ++i) std::printf("%.9g ", static_cast<double>(x[i]));
        std::printf("\n");
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def normaliser_driver(tmp_path_factory) -> Path:
    if GXX is None:
        pytest.skip("g++ is not installed")
    folder = tmp_path_factory.mktemp("normaliser")
    (folder / "driver.cpp").write_text(NORMALISER_DRIVER)
    binary = folder / "driver"
    build = subprocess.run([GXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{native_dir()}",
                            str(folder / "driver.cpp"), "-o", str(binary)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return binary


@needs_gxx
def test_cpp_normaliser_applies_the_exported_statistics_as_training_does(normaliser_driver, tmp_path):
    rng = np.random.default_rng(3)
    size = 32
    stats = {"mean": rng.normal(0, 5, size).tolist(), "std": rng.uniform(0.1, 4, size).tolist()}
    path = exported(tmp_path, "DynamicsEngine", stats)
    raw = rng.normal(0, 10, (50, size)).astype(np.float32)
    run = subprocess.run([str(normaliser_driver), str(path), "DynamicsEngine", str(size)], capture_output=True,
                         text=True, input="\n".join(" ".join(repr(float(v)) for v in row) for row in raw))
    assert run.returncode == 0, run.stdout
    cpp = np.array([[float(v) for v in line.split()] for line in run.stdout.splitlines()], dtype=np.float32)
    from kelcore.api import Sequence

    (python,) = apply_normalization([Sequence("x", raw, np.zeros((50, 1), np.float32))], stats)
    assert np.array_equal(cpp, python.inputs)          # bit for bit: float32 (x - mean) / std on both sides


@needs_gxx
def test_cpp_refuses_a_model_trained_on_another_contract_version(normaliser_driver, tmp_path):
    path = exported(tmp_path, "GroovePredictor", {"mean": [0.0] * 64, "std": [1.0] * 64})
    document = json.loads(path.read_text())
    document["metadata"]["feature_contract"]["version"] = "1.0.0"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    run = subprocess.run([str(normaliser_driver), str(old), "GroovePredictor", "64"], capture_output=True, text=True,
                         input="")
    assert run.returncode == 3
    current = CONTRACTS["GroovePredictor"].version
    assert f"trained on feature contract 1.0.0, these headers compute {current}" in run.stdout
    wrong_size = subprocess.run([str(normaliser_driver), str(path), "GroovePredictor", "32"], capture_output=True,
                                text=True, input="")
    assert wrong_size.returncode == 4 and "64 means and 64 stds; the model takes 32 inputs" in wrong_size.stdout


@needs_gxx
def test_kelfeatures_header_compiles_warning_free_alone(tmp_path):
    source = tmp_path / "only_header.cpp"
    source.write_text('#include "KelFeatures.h"\nint main() { return kel::contractVersion("GroovePredictor") ? 0 : 1; }\n')
    for flags in (["-std=c++17", "-Wall", "-Wextra"], ["-std=c++17", "-Wall", "-Wextra", "-O3", "-march=native"]):
        build = subprocess.run([GXX, *flags, f"-I{native_dir()}", str(source), "-o", str(tmp_path / "a.out")],
                               capture_output=True, text=True)
        assert build.returncode == 0 and build.stderr == "", (flags, build.stderr)


def test_contracts_module_exposes_every_model():
    assert set(CONTRACTS) == set(load_specs())
    assert kel_contracts.contract("GroovePredictor") is CONTRACTS["GroovePredictor"]
    with pytest.raises(KeyError, match="known: EmotionRecognizer"):
        kel_contracts.contract("Nope")
