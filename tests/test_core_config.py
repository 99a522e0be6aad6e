"""Pipeline validation: every error is FILE:LINE: dotted.key: message, exit 2, no traceback."""
from __future__ import annotations

import textwrap

import pytest

GOOD = """\
[run]
name = "cfg"
seed = 3

[jobs.dyn]
model = "toy-dynamics"
dataset = "toy-notes"
exporters = ["torchjson"]

[jobs.dyn.dataset_options]
root = "."
sequences = 6

[jobs.dyn.trainer_options]
epochs = 2
"""


def write(tmp_path, text):
    path = tmp_path / "pipeline.toml"
    path.write_text(textwrap.dedent(text))
    return path


def check_config(kelcore, plugin_env, path):
    return kelcore("check-config", str(path), env=plugin_env("kel-test-plugin"))


def test_valid_pipeline_passes(kelcore, plugin_env, tmp_path):
    result = check_config(kelcore, plugin_env, write(tmp_path, GOOD))
    assert result.returncode == 0, result.stderr
    assert "OK, 1 job(s): dyn (toy-dynamics <- toy-notes)" in result.stdout


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace('exporters = ["torchjson"]', 'exporters = ["torchjson"]\nepochs = 3'),
     "{path}:9: jobs.dyn.epochs: unknown key (not an option here)"),
    (lambda t: t.replace("epochs = 2", 'epochs = "ten"'),
     "{path}:15: jobs.dyn.trainer_options.epochs: Input should be a valid integer, unable to parse string "
     "as an integer (got 'ten')"),
    (lambda t: t.replace('model = "toy-dynamics"', 'model = "toy-dynamic"'),
     "{path}:6: jobs.dyn.model: unknown model 'toy-dynamic'; installed: toy-dynamics; did you mean 'toy-dynamics'?"),
    (lambda t: t.replace("sequences = 6", "sequences = 6\nfeature_size = 33"),
     "{path}:7: jobs.dyn.dataset: dataset 'toy-notes' yields 33 features per step but DynamicsEngine takes 32 "
     "(C++ ModelSpec)"),
    (lambda t: t.replace("sequences = 6", "sequencs = 6"),
     "{path}:12: jobs.dyn.dataset_options.sequencs: unknown key (not an option here); did you mean 'sequences'?"),
    (lambda t: t.replace('[run]\nname = "cfg"', '[run]\nname = "cfg"\nseeed = 1'),
     "{path}:3: run.seeed: unknown key (not an option here); did you mean 'seed'?"),
    (lambda t: t.replace('root = "."\n', ""),
     "{path}:10: jobs.dyn.dataset_options.root: Field required"),
    (lambda t: t.replace('exporters = ["torchjson"]', 'exporters = ["rtneurl"]'),
     "{path}:8: jobs.dyn.exporters: unknown exporter 'rtneurl'; installed: torchjson; no installed distribution "
     "provides it (README.md, section Installing, says which distribution provides which component)"),
    (lambda t: t.replace("seed = 3", "seed = 3 3"),
     "{path}:3:10: (syntax): invalid TOML: Expected newline or end of document after a statement"),
])
def test_errors_name_file_line_and_key(kelcore, plugin_env, tmp_path, edit, expected):
    path = write(tmp_path, edit(GOOD))
    result = check_config(kelcore, plugin_env, path)
    assert result.returncode == 2
    assert expected.format(path=path) in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


def test_every_problem_is_reported_at_once(kelcore, plugin_env, tmp_path):
    text = GOOD.replace("sequences = 6", "sequences = 1").replace("epochs = 2", "epochs = 0")
    result = check_config(kelcore, plugin_env, write(tmp_path, text))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any("jobs.dyn.dataset_options.sequences: Input should be greater than or equal to 3" in l for l in lines)
    assert any("jobs.dyn.trainer_options.epochs: Input should be greater than or equal to 1" in l for l in lines)


def test_run_refuses_an_invalid_pipeline_before_any_work(kelcore, plugin_env, tmp_path):
    path = write(tmp_path, GOOD.replace("epochs = 2", "epochs = -1"))
    result = kelcore("run", str(path), env=plugin_env("kel-test-plugin"))
    assert result.returncode == 2
    assert not (tmp_path / "runs").exists()
