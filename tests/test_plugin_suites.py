"""Every conformance suite checks independently of what the plugin reports (issue 19, item 3)."""
from __future__ import annotations

import json

AUTHOR = ("kel-author-plugin",)


def test_a_lying_exporter_fails_the_exporter_suite_with_a_message_that_says_so(kelcore, plugin_env):
    env = plugin_env(*AUTHOR)
    lying = kelcore("check", "lying-npz", "--json", env=env)
    assert lying.returncode == 1, lying.stdout + lying.stderr
    results = {r["check"]: r for r in json.loads(lying.stdout)["results"]}
    failed = results["check_exporter_files_match_pytorch"]
    assert failed["status"] == "FAIL"
    assert "the file read back through LyingNpzExporter.load differs from PyTorch" in failed["message"]
    assert "but export() reported max_abs_error = 0" in failed["message"]
    honest = kelcore("check", "npz", "--json", env=env)
    assert honest.returncode == 0, honest.stdout
    assert {r["check"]: r["status"] for r in json.loads(honest.stdout)["results"]} == {
        "check_exporter_round_trip": "PASS", "check_exporter_files_match_pytorch": "PASS"}


def test_the_dataset_suite_checks_the_contract_without_a_demo_corpus(kelcore, plugin_env):
    env = plugin_env(*AUTHOR)
    result = kelcore("check", "csvnotes", "--json", env=env)  # no write_demo
    statuses = {r["check"]: r["status"] for r in json.loads(result.stdout)["results"]}
    assert statuses == {"check_dataset_declares_contract": "PASS", "check_dataset_demo_prepares": "SKIP",
                        "check_dataset_counts_a_corrupt_file": "SKIP"}
    assert result.returncode == 0, result.stdout


def test_a_suite_that_checked_nothing_exits_1_with_the_reason(kelcore, plugin_env):
    result = kelcore("check", "csvgroove", env=plugin_env(*AUTHOR))  # no demo, no GroovePredictor model installed
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 passed, 0 failed, 3 skipped" in result.stdout
    assert "nothing was checked: every check skipped" in result.stderr
    assert "no installed model plugin provides the feature contract of ModelSpec 'GroovePredictor'" in result.stderr


def test_a_dataset_that_does_not_standardise_a_standardised_contract_is_refused(kelcore, plugin_env, tmp_path):
    env = plugin_env(*AUTHOR, only=False)  # with the in-repo DynamicsEngine, whose contract standardises
    result = kelcore("check", "unstandardised", "--json", env=env)
    assert result.returncode == 1
    failures = {r["check"]: r["message"] for r in json.loads(result.stdout)["results"] if r["status"] == "FAIL"}
    assert "standardised = False, but DynamicsEngine's feature contract standardises its inputs" in \
        failures["check_dataset_declares_contract"]
    assert "the normalisation is the identity (mean 0, std 1): the dataset did not standardise" in \
        failures["check_dataset_demo_prepares"]
    demo = tmp_path / "demo"
    assert kelcore("data", "demo", "csvnotes-demo", str(demo), env=env).returncode == 0
    config = tmp_path / "job.toml"
    config.write_text(f'[jobs.d]\nmodel = "dynamics"\ndataset = "unstandardised"\n'
                      f'dataset_options = {{ root = "{demo}" }}\n', encoding="utf-8")
    refused = kelcore("check-config", str(config), env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "does not standardise its inputs, but DynamicsEngine's feature contract says they are standardised" \
        in refused.stderr + refused.stdout
