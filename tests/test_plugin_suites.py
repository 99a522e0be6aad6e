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
    runs = tmp_path / "runs"   # `run` refused it too in the report: it must stop before any work
    config.write_text(f'[run]\nruns_dir = "{runs}"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    ran = kelcore("run", str(config), env=env)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "does not standardise its inputs" in ran.stderr + ran.stdout
    assert not runs.exists() or not any(runs.iterdir())


# ------------------------------------------------------------------ item 4: collisions and duplicates refused
def test_duplicate_track_ids_are_counted_and_a_row_without_file_says_why(tmp_path):
    from kelcore.api import Extracted, Track
    from kelcore.data import prepare_dataset, validate_tracks
    from kelcore.api import RunContext

    import numpy as np

    def extract(track, config):
        return Extracted(inputs=np.ones((4, 2), np.float32), targets=np.ones((4, 1), np.float32))

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.txt").write_text(name)
    tracks = [Track(n, tmp_path / f"{n}.txt", n) for n in ("a", "b", "c")]
    tracks += [Track("a", tmp_path / "b.txt", "a2"), Track("d", None, "d", reason="no audio for song d in meta.csv")]
    report = validate_tracks("toy", tmp_path, tracks, extract, workers=1)
    assert (report.listed, report.usable, report.unsupported, report.missing) == (5, 3, 1, 1)
    reasons = {p.kind: p.reason for p in report.problems}
    assert "duplicate track id 'a': index row 3 repeats the id of" in reasons["unsupported"]
    assert reasons["missing"] == "no audio for song d in meta.csv"
    data = prepare_dataset("toy", tracks, extract, {}, RunContext(run_dir=tmp_path / "run"), None, 1, False)
    ids = [s.track_id for s in data.train + data.validation + data.test]
    assert sorted(ids) == ["a", "b", "c"] and data.report.unsupported == 1


def test_two_exports_to_one_path_are_refused_before_anything_is_written(kelcore, plugin_env, tmp_path):
    out = tmp_path / "out"
    result = kelcore("export", "--untrained", "--format", "npz", "--models", "toy-chain,toy-chain", "--out", str(out),
                     env=plugin_env(*AUTHOR))
    assert result.returncode == 2, result.stderr
    assert "two exports to one path in one command: toy-chain (npz) and toy-chain (npz) would both write" in \
        result.stderr
    assert not out.exists() or not list(out.iterdir())


def test_list_options_from_o_and_a_clear_error_instead_of_pydantic(kelcore, tmp_path):
    from kelcore.errors import UsageError
    from kelcore.config import options_from_cli
    from kelcore.plugins import get_registry

    import pytest

    music21 = get_registry().get("datasets", "music21corpus").obj
    assert options_from_cli(music21, ["collections=chorales,folk"], "x", {"root": tmp_path}).collections == [
        "chorales", "folk"]
    assert options_from_cli(music21, ['collections=["chorales"]'], "x", {"root": tmp_path}).collections == [
        "chorales"]
    with pytest.raises(UsageError) as error:
        options_from_cli(music21, ["collections=chorales,jazz"], "kelcore data validate music21corpus",
                         {"root": tmp_path})
    message = str(error.value)
    assert message.startswith("kelcore data validate music21corpus: -o collections=chorales,jazz: Input should be")
    assert "a list of" in message and "pydantic" not in message and "errors.pydantic.dev" not in message
    result = kelcore("data", "validate", "music21corpus", "--root", str(tmp_path), "-o", "collections=jazz")
    assert result.returncode == 2 and "-o collections=jazz" in result.stderr and "pydantic" not in result.stderr
    unknown = kelcore("data", "validate", "music21corpus", "--root", str(tmp_path), "-o", "colections=a")
    assert unknown.returncode == 2 and "has no option 'colections'" in unknown.stderr


def test_one_unknown_exporter_does_not_hide_the_jobs_other_errors(kelcore, tmp_path):
    config = tmp_path / "job.toml"
    config.write_text('[jobs.g]\nmodel = "groove"\ndataset = "groove-midi"\nexporters = ["rtneural", "nope"]\n'
                      f'dataset_options = {{ root = "{tmp_path}", workerz = 2 }}\n'
                      'model_options = { velocity_weight = -1 }\n', encoding="utf-8")
    result = kelcore("check-config", str(config))
    assert result.returncode == 2
    text = result.stdout + result.stderr
    assert "'nope'" in text and "workerz" in text and "velocity_weight" in text, text


def test_docs_examples_and_makefile_name_the_groove_dataset_groove_midi():
    """The dataset is `groove-midi` (the model is `groove`): no doc, example, benchmark or make target uses the old
    name (it is no alias any more: it would fail)."""
    import re

    from conftest import REPO

    files = [REPO / "README.md", REPO / "Makefile", *sorted((REPO / "docs").glob("*.md")),
             *sorted((REPO / "examples").glob("*.toml")), *sorted((REPO / "benchmarks").glob("*.py"))]
    old = re.compile(r'dataset\s*=\s*"groove"|data (demo|validate) groove(?!-)|register\("groove", ')
    assert [f"{p.name}: {m.group(0)}" for p in files for m in old.finditer(p.read_text(encoding="utf-8"))] == []


def test_contracts_name_each_producing_dataset_by_its_registered_name():
    """docs/CONTRACTS.md's "Datasets:" lines come from the contracts: every name there is a registered dataset, and
    every installed in-repo dataset producing a model is named on that model's contract (`groove-midi`,
    `music21corpus`: no old or partial names)."""
    from kel_contracts import CONTRACTS

    from kelcore.plugins import get_registry

    registry = get_registry()
    producing: dict[str, set[str]] = {}
    for name in registry.names("datasets"):
        component = registry.components["datasets"][name]
        if component.distribution.startswith("kel-plugin-"):
            tasks = getattr(component.obj, "tasks", None) or {"": component.obj.produces}
            for spec in tasks.values():
                producing.setdefault(spec, set()).add(name)
    for model, contract in CONTRACTS.items():
        named = {item.split()[0] for item in contract.datasets.split(",")}
        assert named == producing.get(model, set()), (model, contract.datasets)


def test_readmes_export_works_with_two_exporters_installed(kelcore, tmp_path):
    """README: `kelcore export --untrained --seed 0 --out models/ [--cpp]`, with rtneural and onnx both installed."""
    result = kelcore("export", "--untrained", "--seed", "0", "--models", "groove", "--out", str(tmp_path / "m"),
                     "--cpp")
    assert result.returncode == 0, result.stderr
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"GroovePredictor.json", "GroovePredictor.onnx", "ModelSpec.h"} <= names, names


# ------------------------------------------------------------------ smaller items of the issue
def _rtneural_file(tmp_path):
    from kelcore.api import ExportContext, build_model
    from kelcore.plugins import get_registry
    from kel_plugin_rtneural import RTNeuralExporter

    model = build_model(get_registry().get("models", "groove").obj, None, seed=0)
    return RTNeuralExporter().export(model, tmp_path / "g.json", ExportContext(run_id="untrained")).path


def test_validate_names_the_largest_and_the_first_failing_step(tmp_path):
    from kel_plugin_rtneural import validate_file

    path = _rtneural_file(tmp_path)
    document = json.loads(path.read_text())
    outputs = document["metadata"]["reference"]["outputs"]
    outputs[3][0] += 0.01
    outputs[9][0] += 0.5
    path.write_text(json.dumps(document))
    (problem,) = validate_file(path).problems
    assert "(largest at step 9, first over the tolerance at step 3)" in problem


def test_a_deleted_weights_hash_is_reported_missing_not_mismatched(tmp_path):
    from kel_plugin_rtneural import validate_file

    path = _rtneural_file(tmp_path)
    document = json.loads(path.read_text())
    del document["metadata"]["weights_sha256"]
    path.write_text(json.dumps(document))
    assert [p.split(": ", 1)[1] for p in validate_file(path).problems] == [
        "metadata.weights_sha256: missing: nothing proves the weights are the ones exported"]


def test_the_width_hint_points_at_something_that_exists():
    from torch import nn

    from kelcore.testing.checks import likely_cause

    hint = likely_cause(nn.Sequential(nn.Linear(3, 5)), 7)
    assert "comment in ModelSpec.h" not in hint and "ModelSpec.h holds only the total" in hint


def test_a_model_restating_a_shape_fact_against_its_contract_fails_the_suite():
    from kelcore.testing import check_feature_contract, run_check
    from kel_plugin_groove import GroovePredictor

    class Restating(GroovePredictor):
        output_activation = "linear"      # the contract says tanh

    assert GroovePredictor.output_activation == "tanh" and GroovePredictor.target_size == 49  # read from the contract
    result = run_check(check_feature_contract, Restating)
    assert result.status == "FAIL"
    assert "the class sets output_activation = 'linear' but its feature contract says 'tanh'" in result.message


def test_validate_json_records_carry_path_status_and_format_added_by_the_core(kelcore, plugin_env, tmp_path):
    env = plugin_env(*AUTHOR)
    out = tmp_path / "out"
    assert kelcore("export", "--untrained", "--format", "npz", "--models", "toy-chain", "--out", str(out),
                   env=env).returncode == 0
    result = kelcore("validate", "--json", str(out / "DynamicsEngine.kelnpz"), env=env)  # npz's FileCheck has no data
    (record,) = json.loads(result.stdout)
    assert record == {"path": str(out / "DynamicsEngine.kelnpz"), "status": 0, "problems": [], "format": "npz"}


def test_the_model_suite_reads_each_export_back_through_the_exporters_load(kelcore, plugin_env):
    result = kelcore("check", "toy-chain", "--json", env=plugin_env(*AUTHOR))  # lying-npz is installed beside npz
    failed = [r for r in json.loads(result.stdout)["results"] if r["status"] == "FAIL"]
    assert result.returncode == 1 and len(failed) == 1, failed
    assert "export round trip (lying-npz, kel-author-plugin)" in failed[0]["message"]
    assert "the file read back through LyingNpzExporter.load differs from PyTorch" in failed[0]["message"]


def test_every_in_repo_dataset_takes_its_shape_facts_from_the_contract():
    from kelcore.bases import contract_of
    from kelcore.plugins import get_registry
    from kelcore.testing import check_dataset_declares_contract, run_check

    registry = get_registry()
    names = [n for n in registry.names("datasets") if registry.components["datasets"][n].distribution != "kelcore"]
    assert len(names) >= 6
    for name in names:
        result = run_check(check_dataset_declares_contract, registry.get("datasets", name).obj, "datasets")
        assert result.status == "PASS", (name, result.message)
    assert contract_of("DynamicsEngine").standardised and not contract_of("GroovePredictor").standardised


def test_plugins_md_documents_the_exporter_authors_api_as_the_code_has_it():
    """Issue 19: the API an exporter author needs was only in the source. Every field of ExportContext,
    ExportResult and FileCheck, every Exporter hook with its parameters, the `--json` record's core-added keys, the
    suite's test argument names and `write_demo`'s signature are in PLUGINS.md, as the code has them."""
    import dataclasses
    import inspect

    from conftest import REPO
    from kelcore.api import Dataset, ExportContext, Exporter, ExportResult, FileCheck

    text = " ".join((REPO / "docs" / "PLUGINS.md").read_text(encoding="utf-8").split())   # wrapped lines joined
    section = text[text.index("## Writing an exporter"):text.index("## Adding a sixth model spec")]
    fields = {cls: [f.name for f in dataclasses.fields(cls)] for cls in (ExportContext, ExportResult, FileCheck)}
    assert [f for f in fields[ExportContext] if f"`{f}`" not in section] == []
    for cls in (ExportResult, FileCheck):
        assert f"{cls.__name__}({', '.join(fields[cls])})" in section, f"{cls.__name__}'s fields as the code has them"

    def call(function) -> str:
        names = [n for n in inspect.signature(function).parameters if n not in ("self", "cls")]
        return f"{function.__name__}({', '.join(names)})"

    for hook in (Exporter.export, Exporter.load, Exporter.check_file, Exporter.add_arguments, Exporter.finish):
        assert call(hook) in section, f"{call(hook)} is not in PLUGINS.md's exporter section"
    assert "`model_checks`" in section and "check(model_cls, options=None)" in section
    assert "with `path`, `status`, `problems` and `format` added by the core" in section
    assert "the test's arguments are named `model, check` for every kind" in text
    write_demo = inspect.signature(Dataset.write_demo)
    assert f"write_demo(path, seed={write_demo.parameters['seed'].default})" in text
