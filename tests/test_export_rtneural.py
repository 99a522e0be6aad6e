"""RTNeural exporter: round trips, bit-exact floats, refusals, and every malformed file validate must catch."""
from __future__ import annotations

import json
import shutil
import subprocess
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import kelcore
from kel_plugin_rtneural import RTNeuralExporter, load_model, validate_file
from kel_plugin_rtneural.writer import format_float
from kelcore.api import ExportContext, ExportError, FeatureContract, FeatureElement
from kelcore.layers import ChainModel
from kelcore.plugins import get_registry
from kelcore.runs import build_model

pytestmark = pytest.mark.runs_long(18)  # see conftest.pytest_collection_modifyitems

MODEL_NAMES = ["dynamics", "emotion", "groove", "harmony", "melody"]
DYN = kelcore.get_spec("DynamicsEngine")


def toy(*layers: nn.Module, activation: str = "linear"):
    """A ChainModel over arbitrary layers, posing as DynamicsEngine-sized (32 in)."""

    class Toy(ChainModel):
        spec_name = "DynamicsEngine"
        target_size = 1
        output_activation = activation
        primary_metric = "x"

        def __init__(self, options=None):
            super().__init__(options)
            self.layers = nn.ModuleList(layers)

        @classmethod
        def feature_contract(cls):
            sized = [m for m in layers if isinstance(m, (nn.Linear, nn.LSTM, nn.GRU))]
            out = getattr(sized[-1], "out_features", None) or sized[-1].hidden_size
            return FeatureContract(model="DynamicsEngine", version="0", inputs=[
                FeatureElement(index=i, name=str(i), meaning="x") for i in range(DYN.input_size)], outputs=[
                FeatureElement(index=i, name=str(i), meaning="y") for i in range(out)])

        loss = metrics = lambda self, *a: None  # noqa: E731
        baseline_metrics = classmethod(lambda cls, *a: {})

    torch.manual_seed(3)
    return Toy().eval()


def export(model, tmp_path: Path, name: str = "m.json"):
    return RTNeuralExporter().export(model, tmp_path / name, ExportContext(seed=1, run_id="untrained"))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_round_trips_through_the_file(name, tmp_path):
    cls = get_registry().get("models", name).obj
    model = build_model(cls, None, seed=0)
    result = export(model, tmp_path)
    assert result.max_abs_error <= 1e-5
    document = json.loads(result.path.read_text())
    inputs = np.random.default_rng(9).standard_normal((20, model.feature_contract().inputs.__len__())).astype(np.float32)
    engine = load_model(result.path).run(inputs)
    with torch.no_grad():
        expected = model(torch.from_numpy(inputs)[None])[0].numpy()
    assert np.abs(engine - expected).max() <= 1e-5
    meta = document["metadata"]
    spec = kelcore.get_spec(cls.spec_name)
    assert meta["spec"] == {"input_size": spec.input_size, "output_size": spec.output_size,
                            "param_count": spec.param_count}
    assert len(meta["reference"]["inputs"]) >= 16
    assert meta["model_plugin"]["distribution"] == f"kel-plugin-{name}"
    assert set(meta["versions"]) >= {"kelcore", "kel-plugin-rtneural", "torch"}
    assert validate_file(result.path, check_specs=True).problems == []


@pytest.mark.parametrize("layers, activation", [
    ((nn.LSTM(32, 12, batch_first=True), nn.Tanh(), nn.Linear(12, 5)), "linear"),
    ((nn.GRU(32, 10, batch_first=True), nn.Linear(10, 6), nn.Sigmoid()), "sigmoid"),
    ((nn.Linear(32, 16, bias=False), nn.ReLU(), nn.Linear(16, 7, bias=False), nn.Softmax(dim=-1)), "softmax"),
    ((nn.Linear(32, 9), nn.ELU(), nn.Linear(9, 4), nn.Tanh()), "tanh"),
    ((nn.Linear(32, 8), nn.BatchNorm1d(8), nn.PReLU(), nn.Linear(8, 3)), "linear"),
    ((nn.Linear(32, 8), nn.BatchNorm1d(8, affine=False), nn.PReLU(8), nn.Linear(8, 3), nn.ReLU()), "relu"),
])
def test_focused_layer_round_trips(layers, activation, tmp_path):
    model = toy(*layers, activation=activation)
    for module in model.modules():  # non-trivial batchnorm statistics and PReLU slopes
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
        if isinstance(module, nn.PReLU):
            module.weight.data.uniform_(0.1, 0.4)
    result = export(model, tmp_path)
    assert result.max_abs_error <= 1e-6
    document = json.loads(result.path.read_text())
    recurrent = [l for l in document["layers"] if l["type"] in ("lstm", "gru", "batchnorm", "prelu")]
    assert all(l["activation"] == "" for l in recurrent)
    problems = validate_file(result.path).problems  # the toy poses as DynamicsEngine, so its spec sizes differ
    assert [p for p in problems if "metadata.spec" not in p] == []


def test_layout_details_follow_rtneural(tmp_path):
    lstm, gru = nn.LSTM(32, 4, batch_first=True), nn.GRU(4, 3, batch_first=True)
    model = toy(nn.Linear(32, 5), nn.Tanh(), nn.Linear(5, 32, bias=False), lstm, gru, nn.Tanh())
    layers = json.loads(export(model, tmp_path).path.read_text())["layers"]
    assert [l["type"] for l in layers] == ["dense", "dense", "lstm", "gru", "activation"]
    assert layers[0]["activation"] == "tanh" and layers[1]["activation"] == ""
    assert np.array_equal(np.float32(layers[0]["weights"][0]), model.layers[0].weight.detach().numpy().T)
    assert len(layers[1]["weights"]) == 1  # bias-free dense: kernel only
    merged = (lstm.bias_ih_l0.double() + lstm.bias_hh_l0.double()).float().detach().numpy()
    assert np.array_equal(np.float32(layers[2]["weights"][2]), merged)
    z_block = gru.weight_ih_l0.detach().numpy()[3:6]  # PyTorch r,z,n -> RTNeural z,r,n
    assert np.array_equal(np.float32(layers[3]["weights"][0])[:, :3], z_block.T)
    assert np.array_equal(np.float32(layers[3]["weights"][2][1])[:3], gru.bias_hh_l0.detach().numpy()[3:6])


def test_floats_read_back_bit_exact():
    values = np.random.default_rng(0).standard_normal(20000).astype(np.float32) * np.float32(10) ** np.random.default_rng(
        1).integers(-30, 30, 20000).astype(np.float32)
    values = np.concatenate([values, np.float32([0.1, 1 / 3, 1e-38, 3.4e38, -0.0, 16777217])])
    for v in values:
        assert np.float32(float(format_float(v))).tobytes() == v.tobytes()


@pytest.mark.parametrize("module, message", [
    (nn.LSTM(32, 4, num_layers=2, batch_first=True), "layers[0] (LSTM): LSTM has num_layers=2"),
    (nn.GRU(32, 4, bidirectional=True, batch_first=True), "layers[0] (GRU): GRU is bidirectional"),
    (nn.Conv2d(1, 1, 1), "layers[0] (Conv2d): Conv2d is not a layer RTNeural can load"),
])
def test_exporter_refuses_what_rtneural_cannot_load(module, message, tmp_path):
    model = toy(module)
    with pytest.raises(ExportError, match=re.escape(message)):
        RTNeuralExporter().export(model, tmp_path / "x.json", ExportContext())
    assert not (tmp_path / "x.json").exists()


def test_exporter_refuses_nan_weights(tmp_path):
    model = toy(nn.Linear(32, 4))
    model.layers[0].weight.data[1, 2] = float("nan")
    with pytest.raises(ExportError, match=r"layers\[0\] \(Linear\)\.weight contains NaN or inf"):
        export(model, tmp_path)


# --------------------------------------------------------------------------- #
# validate: each failure RTNeural would swallow, with its own message
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def groove_file(tmp_path_factory) -> Path:
    model = build_model(get_registry().get("models", "groove").obj, None, seed=0)
    return export(model, tmp_path_factory.mktemp("groove")).path


def mutate(source: Path, tmp_path: Path, change) -> Path:
    document = json.loads(source.read_text())
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    return path


def truncate(d):
    d["layers"][1]["weights"][0] = d["layers"][1]["weights"][0][:-3]


def untranspose(d):
    d["layers"][1]["weights"][0] = np.asarray(d["layers"][1]["weights"][0]).T.tolist()


def nan_weight(d):
    d["layers"][2]["weights"][1][0] = float("nan")


def tamper_reference(d):
    d["metadata"]["reference"]["outputs"][3][0] += 0.01


def tamper_weight(d):
    d["layers"][2]["weights"][1][0] += 0.5


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["layers"][1].update(type="dense2"),
     "layers[1].type: unknown layer type 'dense2': RTNeural silently skips it"),
    (lambda d: d["layers"][1].update(activation="linear"),
     "layers[1].activation: 'linear' is not an RTNeural activation (it builds a null layer and the host crashes)"),
    (untranspose, "layers[1].weights[0]: kernel is [32][48] ([out][in], PyTorch's layout) but RTNeural reads "
                  "[in][out] = [48][32]: transpose it"),
    (truncate, "layers[1].weights[0]: expected [48][32], found 45 rows of length 32: truncated or wrong size"),
    (lambda d: d.pop("in_shape"), "in_shape: missing: RTNeural throws out_of_range.403"),
    (lambda d: d["layers"][0].pop("shape"), "layers[0].shape: missing"),
    (lambda d: d["layers"][0].update(activation="tanh"),
     "layers[0].activation: 'tanh' on a gru layer is ignored by RTNeural"),
    (nan_weight, "layers[2].weights[1]: contains NaN or inf"),
    (lambda d: d.pop("metadata"), "metadata: missing"),
    (tamper_weight, "metadata.weights_sha256: does not match the weights"),
    (tamper_reference, "metadata.reference.outputs: replay differs by"),
])
def test_validate_catches_what_rtneural_would_swallow(groove_file, tmp_path, change, expected):
    report = validate_file(mutate(groove_file, tmp_path, change), check_specs=True)
    assert report.status == 1
    assert any(expected in problem for problem in report.problems), report.problems
    assert all(problem.startswith(str(tmp_path / "bad.json")) for problem in report.problems)


def test_validate_checks_the_parameter_count_against_the_spec(tmp_path):
    model = toy(nn.GRU(32, 48, batch_first=True), nn.Linear(48, 32), nn.Tanh(), nn.Linear(32, 33), nn.Tanh())
    path = tmp_path / "g.json"
    document = json.loads(export(model, tmp_path).path.read_text())
    document["metadata"]["model"] = "GroovePredictor"
    path.write_text(json.dumps(document))
    report = validate_file(path, check_specs=True)
    assert any("in_shape: GroovePredictor is 32 -> 33 here but the C++ ModelSpec says 64 -> 32" in p
               for p in report.problems), report.problems
    assert any("trainable parameters (PyTorch's count, recovered from the file) but the C++ ModelSpec says 19,040"
               in p for p in report.problems)


def test_validate_cli_exit_codes(kelcore, groove_file, tmp_path):
    ok = kelcore("validate", str(groove_file), "--check-specs")
    assert ok.returncode == 0 and "OK (GroovePredictor" in ok.stdout
    bad = mutate(groove_file, tmp_path, lambda d: d["layers"][1].update(activation="linear"))
    invalid = kelcore("validate", str(groove_file), str(bad), "--json")
    assert invalid.returncode == 1
    assert [r["status"] for r in json.loads(invalid.stdout)] == [0, 1]
    broken = tmp_path / "broken.json"
    broken.write_text('{"in_shape": [null, 3],\n "layers": [}')
    unreadable = kelcore("validate", str(broken))
    assert unreadable.returncode == 2
    assert f"{broken}:2:13: invalid JSON" in unreadable.stdout


def test_export_untrained_cli_writes_five_valid_files_and_a_header(kelcore, tmp_path):
    out = tmp_path / "models"
    result = kelcore("export", "--untrained", "--seed", "0", "--out", str(out), "--cpp")
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.json"))
    assert [f.stem for f in files] == ["DynamicsEngine", "EmotionRecognizer", "GroovePredictor",
                                       "HarmonyPredictor", "MelodyTransformer"]
    check = kelcore("validate", *map(str, files), "--check-specs")
    assert check.returncode == 0, check.stdout
    header = (out / "KelModels.h").read_text()
    assert "using GroovePredictorModelT = RTNeural::ModelT<T, 64, 32,\n    RTNeural::GRULayerT<T, 64, 48>," in header
    assert "#define KEL_MODELS(X) X(DynamicsEngine)" in header
    for name in ("ModelSpec.h", "KelFeatures.h", "KelContracts.h", "KelNormalisation.h", "KelAudioFeatures.h",
                 "KelMidiFeatures.h", "example_plugin_side.cpp"):
        assert (out / name).is_file(), name


def build_example(folder: Path, *extra: str) -> Path:
    """The folder's example_plugin_side.cpp compiled with only the folder on the include path (and ``extra``),
    warnings as errors; cached by content (conftest.build_cxx)."""
    from conftest import build_cxx

    return build_cxx(folder / "example_plugin_side.cpp",
                     ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", f"-I{folder}", *extra],
                     sorted(folder.glob("*.h")), name="example_plugin_side")


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_the_plugin_folder_example_builds_and_runs_from_the_exported_folder_alone(kelcore, tmp_path):
    out = tmp_path / "plugin"
    assert kelcore("export", "--untrained", "--seed", "0", "--out", str(out), "--cpp").returncode == 0
    example = build_example(out)                                            # warning-free with only the folder
    run = subprocess.run([str(example), str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "loaded 5 models (RTNeural: no, features only)" in run.stdout
    assert run.stdout.count("emotion (normalised) features:") == 4        # 2.2 s of audio: a vector per 0.5 s
    from conftest import NO_RTNEURAL, RTNEURAL_DIR

    if RTNEURAL_DIR is None:
        pytest.skip(f"{NO_RTNEURAL}: the example ran without RTNeural (features only)")
    root = RTNEURAL_DIR
    example = build_example(out, f"-I{root}", f"-I{root / 'modules' / 'Eigen'}", "-DRTNEURAL_USE_EIGEN=1",
                            "-DRTNEURAL_DEFAULT_ALIGNMENT=16", "-DEIGEN_STACK_ALLOCATION_LIMIT=0", "-w")
    run = subprocess.run([str(example), str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "loaded 5 models (RTNeural: yes)" in run.stdout
    # what the plugin saw without waiting depends on how late the inference thread ran; after finish() the last
    # output of every model is there, and no step was dropped
    last = {kind: [line for line in run.stdout.splitlines() if line.startswith(kind)][-1]
            for kind in ("emotion at", "melody step", "harmony beat", "dynamics note", "groove step")}
    # (the song's end completes its last bar: harmony to beat 11, the groove's bar 1, the last notes' dynamics)
    assert last["emotion at"].startswith("emotion at 2.0 s") and last["harmony beat"].startswith("harmony beat 11:")
    assert last["melody step"].startswith("melody step 5:") and last["dynamics note"].startswith("dynamics note 7:")
    assert last["groove step"].endswith("(bar 1)") and run.stdout.splitlines()[-1].endswith("dropped: 0")
    stale = json.loads((out / "GroovePredictor.json").read_text())
    stale["metadata"]["feature_contract"]["version"] = "1.0.0"
    (out / "GroovePredictor.json").write_text(json.dumps(stale))
    refused = subprocess.run([str(example), str(out)], capture_output=True, text=True)
    assert refused.returncode == 2 and "trained on feature contract 1.0.0" in refused.stderr
