"""The conformance suite: every in-repo model passes; deliberately wrong models fail the right checks."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kelcore.plugins import get_registry
from kel_plugin_rtneural.rules import check_rtneural_layers

from kelcore.testing import (ConformanceError, check_output_size, check_parameter_count, model_checks,
                             parametrize_with_checks, run_all)
from plugins.kel_test_plugin import DropoutDynamics
from plugins.kel_wrong_plugin import ExtraBiasHarmony, OffByOneDynamics, StackedGroove, WideGroove

pytestmark = pytest.mark.runs_long(21)  # see conftest.pytest_collection_modifyitems

IN_REPO = ["dynamics", "emotion", "groove", "harmony", "melody"]
MODELS = [get_registry().get("models", name).obj for name in IN_REPO]


@parametrize_with_checks(MODELS)
def test_in_repo_models_conform(model, check):
    check(model)


@parametrize_with_checks([DropoutDynamics])
def test_a_model_with_dropout_conforms(model, check):
    check(model)  # dropout is allowed in the chain; the export round trip compares the file with eval mode


def test_dropout_is_dropped_at_export_and_the_file_equals_the_model_in_eval_mode(tmp_path):
    import torch
    from kel_plugin_rtneural.engine import load_model
    from kel_plugin_rtneural.exporter import RTNeuralExporter

    from kelcore.api import ExportContext
    from kelcore.runs import build_model

    model = build_model(DropoutDynamics, None, seed=3).train()
    x = torch.randn(1, 40, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # dropout is active while training
        expected = model.eval()(x)[0].numpy()
    model.train()
    result = RTNeuralExporter().export(model, tmp_path / "d.json", ExportContext())
    assert result.max_abs_error <= 1e-5 and model.training  # the exporter restores the mode it was given
    document = json.loads((tmp_path / "d.json").read_text())
    assert [layer["type"] for layer in document["layers"]] == ["dense", "dense", "dense"]
    replay = load_model(document).run(x[0].numpy())
    assert abs(replay - expected).max() <= 1e-5


def test_parametrize_makes_one_readable_id_per_model_and_check():
    mark = parametrize_with_checks(MODELS[:1])
    ids = mark.kwargs["ids"]
    assert ids[0] == "kel-plugin-dynamics.DynamicsEngine-check_spec_exists"  # distribution and class
    assert "kel-plugin-dynamics.DynamicsEngine-check_parameter_count" in ids and len(ids) == len(model_checks())
    assert "kel-plugin-dynamics.DynamicsEngine-check_rtneural_layers" in ids  # the installed exporter's rules


@pytest.mark.parametrize("cls, check, message", [
    (ExtraBiasHarmony, check_parameter_count, "ExtraBiasHarmony (ModelSpec HarmonyPredictor): "
     "parameter count: 74,112 != C++ ModelSpec 74,048 (+64): an extra bias vector?"),
    (OffByOneDynamics, check_parameter_count, "OffByOneDynamics (ModelSpec DynamicsEngine): "
     "parameter count: 13,457 != C++ ModelSpec 13,456 (+1): one parameter off"),
    (WideGroove, check_output_size, "WideGroove (ModelSpec GroovePredictor): "
     "output size: 33 != C++ ModelSpec 32 (+1): the last layer has the wrong width?"),
    (StackedGroove, check_rtneural_layers, "StackedGroove (ModelSpec GroovePredictor): "
     "RTNeural-loadable layers: layers[0]: GRU has num_layers=2; RTNeural needs one module per layer"),
])
def test_wrong_models_fail_the_right_check_with_a_clear_message(cls, check, message):
    with pytest.raises(ConformanceError) as failure:
        check(cls)
    assert message in str(failure.value)


def test_only_the_right_checks_fail():
    failed = {r.check for r in run_all([WideGroove]) if r.status == "FAIL"}
    assert "check_output_size" in failed and "check_parameter_count" in failed  # 33 outputs: +33 parameters
    assert "check_streaming_matches_sequence" not in failed and "check_feature_contract" not in failed


def test_kelcore_check_passes_an_in_repo_plugin(kelcore):
    result = kelcore("check", "groove", "--json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["passed"] and {r["status"] for r in report["results"]} == {"PASS"}


def test_kelcore_check_fails_a_model_one_parameter_off(kelcore, plugin_env):
    env = plugin_env("kel-wrong-plugin", only=False)
    result = kelcore("check", "off-by-one", env=env)
    assert result.returncode == 1
    assert ("kel-wrong-plugin OffByOneDynamics (ModelSpec DynamicsEngine): parameter count: 13,457 != C++ ModelSpec "
            "13,456 (+1)" in result.stdout)
    assert "check_parameter_count" in result.stdout and "FAIL" in result.stdout
    unknown = kelcore("check", "grove", env=env)
    assert unknown.returncode == 2 and "did you mean 'groove'?" in unknown.stderr


def test_pytest_option_runs_the_suite_on_an_installed_plugin(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--kelcore-conformance=kel-plugin-groove"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(model_checks())} passed" in result.stdout
