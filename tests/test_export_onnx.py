"""kel-plugin-onnx: one-step ONNX graphs with explicit recurrent state, proven with ONNX Runtime against PyTorch
(issue 19, item 5). Every in-repo model goes through onnxruntime here, in export and in validate."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from kelcore.api import EXPORT_TOLERANCE, ExportContext, build_model
from kelcore.io import OUTPUT_MARKER
from kelcore.plugins import get_registry
from kelcore.testing import check_exporter_files_match_pytorch, run_check
from kel_plugin_onnx import OnnxExporter, OnnxModel, read_metadata

MODELS = ["dynamics", "emotion", "groove", "harmony", "melody"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """All five models, untrained, through `kelcore export --format onnx` (export proves each with onnxruntime)."""
    from conftest import run_kelcore

    out = tmp_path_factory.mktemp("onnx")
    result = run_kelcore("export", "--untrained", "--format", "onnx", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_export_writes_all_five_models_within_tolerance(exported):
    out, stdout = exported
    assert sorted(p.name for p in out.glob("*.onnx")) == [
        "DynamicsEngine.onnx", "EmotionRecognizer.onnx", "GroovePredictor.onnx", "HarmonyPredictor.onnx",
        "MelodyTransformer.onnx"]
    errors = [float(line.rsplit("= ", 1)[1].rstrip(")")) for line in stdout.splitlines() if "max |file" in line]
    assert len(errors) == 5 and max(errors) <= EXPORT_TOLERANCE, stdout


def test_validate_replays_every_file_in_onnxruntime(exported, kelcore):
    out, _ = exported
    result = kelcore("validate", "--check-specs", "--json", *map(str, sorted(out.glob("*.onnx"))))
    assert result.returncode == 0, result.stdout + result.stderr
    records = json.loads(result.stdout)
    assert [r["status"] for r in records] == [0] * 5 and {r["format"] for r in records} == {"onnx"}
    assert all(Path(r["path"]).is_file() and r["max_replay_error"] <= EXPORT_TOLERANCE for r in records)


def test_the_file_holds_state_in_and_out_and_its_metadata(exported):
    out, _ = exported
    proto = onnx.load(str(out / "DynamicsEngine.onnx"))
    meta = read_metadata(proto)
    assert [i.name for i in proto.graph.input] == ["input", "state0_h", "state0_c"]       # LSTM: h and c
    assert [o.name for o in proto.graph.output] == ["output", "state0_h_out", "state0_c_out"]
    assert meta["model"] == "DynamicsEngine" and meta["feature_contract"]["standardised"] is True
    from kel_plugin_dynamics.model import HIDDEN

    assert meta["state"][0] == {"name": "state0_h", "output": "state0_h_out", "size": HIDDEN}
    groove = read_metadata(onnx.load(str(out / "GroovePredictor.onnx")))
    assert [s["name"] for s in groove["state"]] == ["state0_h"] and groove["output_activation"] == "tanh"


@pytest.mark.parametrize("name", MODELS)
def test_onnxruntime_streams_like_pytorch_over_a_long_sequence(name, tmp_path):
    """Independently of the exporter's own check: 64 steps of known weights, state carried by the caller."""
    cls = get_registry().get("models", name).obj
    model = build_model(cls, None, seed=5)
    path = OnnxExporter().export(model, tmp_path / "m.onnx", ExportContext()).path
    spec_in = len(model.feature_contract().inputs)
    x = 2 * np.random.default_rng(1).standard_normal((64, spec_in)).astype(np.float32)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)[None])[0].numpy()
    assert np.abs(OnnxModel(path).run(x) - expected).max() <= EXPORT_TOLERANCE


def test_the_onnx_exporter_passes_the_independent_exporter_suite():
    result = run_check(check_exporter_files_match_pytorch, OnnxExporter, "exporters")
    assert result.status == "PASS", result.message


def test_validate_catches_edited_weights_and_a_deleted_hash(exported, tmp_path, kelcore):
    out, _ = exported
    proto = onnx.load(str(out / "GroovePredictor.onnx"))
    weights = onnx.numpy_helper.to_array(proto.graph.initializer[0]).copy()
    proto.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(weights + 0.5, proto.graph.initializer[0].name))
    onnx.save(proto, str(tmp_path / "edited.onnx"))
    edited = kelcore("validate", str(tmp_path / "edited.onnx"))
    assert edited.returncode == 1 and "metadata.weights_sha256: does not match the weights" in edited.stdout
    meta = read_metadata(proto)
    del meta["weights_sha256"]
    proto.metadata_props[0].value = json.dumps(meta)
    onnx.save(proto, str(tmp_path / "nohash.onnx"))
    missing = kelcore("validate", str(tmp_path / "nohash.onnx"))
    assert missing.returncode == 1 and "metadata.weights_sha256: missing" in missing.stdout
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    assert kelcore("validate", str(tmp_path / "junk.onnx")).returncode == 2


@pytest.mark.parametrize("exporter", ["onnx", "rtneural"])
def test_validate_refuses_a_trained_file_without_the_standardisation_its_contract_asks_for(exporter, tmp_path,
                                                                                          kelcore):
    cls = get_registry().get("exporters", exporter).obj
    model = build_model(get_registry().get("models", "dynamics").obj, None, seed=0)
    identity = {"mean": [0.0] * 32, "std": [1.0] * 32}
    path = cls().export(model, tmp_path / f"d{cls.suffix}", ExportContext(normalization=identity, run_id="run-1")).path
    result = kelcore("validate", str(path))
    assert result.returncode == 1
    assert "DynamicsEngine's contract standardises its inputs, but the normalisation is the identity" in result.stdout
    fitted = {"mean": [0.5] * 32, "std": [2.0] * 32}
    good = cls().export(model, tmp_path / f"g{cls.suffix}", ExportContext(normalization=fitted, run_id="run-1")).path
    assert kelcore("validate", str(good)).returncode == 0


PIPELINE = """\
[run]
name = "both"
seed = 1
runs_dir = "runs"

[jobs.dyn]
model = "toy-dynamics"
dataset = "toy-notes"
exporters = ["rtneural", "onnx"]

[jobs.dyn.dataset_options]
root = "."
sequences = 12
steps = 16

[jobs.dyn.trainer_options]
epochs = 1
batch_size = 4
window = 8
"""


def test_a_job_exports_with_rtneural_and_onnx_and_export_reuses_the_runs_exporters(kelcore, plugin_env, tmp_path):
    env = plugin_env("kel-test-plugin", only=False)
    (tmp_path / "p.toml").write_text(PIPELINE)
    run = kelcore("run", "p.toml", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    files = sorted(p.name for p in (run_dir / "dyn" / "exports").iterdir())
    assert files == ["DynamicsEngine.json", "DynamicsEngine.onnx"], files
    again = kelcore("export", str(run_dir), "--out", str(tmp_path / "again"), env=env)  # no --format
    assert again.returncode == 0, again.stderr
    again = sorted(p for p in (tmp_path / "again").iterdir() if p.name != OUTPUT_MARKER)  # the folder is kelcore's
    assert [p.name for p in again] == files
    valid = kelcore("validate", *map(str, again), env=env)
    assert valid.returncode == 0, valid.stdout


def test_validate_names_the_first_step_over_the_tolerance_not_the_largest(exported, tmp_path, kelcore):
    """Issue 19: `validate` said "first at step 22" for the step with the largest error; ONNX as RTNeural."""
    out, _ = exported
    proto = onnx.load(str(out / "GroovePredictor.onnx"))
    meta = read_metadata(proto)
    outputs = meta["reference"]["outputs"]
    outputs[3][0] += 0.01
    outputs[9][0] += 0.5
    proto.metadata_props[0].value = json.dumps(meta)
    onnx.save(proto, str(tmp_path / "shifted.onnx"))
    result = kelcore("validate", str(tmp_path / "shifted.onnx"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "(largest at step 9, first over the tolerance at step 3)" in result.stdout, result.stdout
