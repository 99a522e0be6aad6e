"""Issue 11: the third-party author's path -- every plugin contract stated, checked and enforced; exporters as
equals; one set of counts; consistent exits; one public API. Through the real CLI, with test plugins installed as
distributions (tests/plugins/kel_author_plugin is written as a third-party author would, from docs/PLUGINS.md)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from kelcore.io import OUTPUT_MARKER
from plugins.kel_author_plugin import write_corpus

REPO = Path(__file__).resolve().parent.parent
AUTHOR = ("kel-author-plugin", "kel-test-plugin")


def bad_corpus(root: Path) -> Path:
    """12 rows: one missing file, one corrupt, one of the wrong width, one with split 'val'."""
    write_corpus(root, files=12)
    (root / "t01.csv").unlink()
    (root / "t02.csv").write_text("not,a,number\n")
    (root / "t03.csv").write_text("1,2,3\n")
    index = (root / "index.csv").read_text()
    assert "t05.csv,g5,train" in index
    (root / "index.csv").write_text(index.replace("t05.csv,g5,train", "t05.csv,g5,val"))
    return root


def pipeline(tmp_path: Path, root: str, dataset: str = "csvnotes") -> Path:
    path = tmp_path / "p.toml"
    path.write_text(f'[run]\nname = "a"\n[jobs.dyn]\nmodel = "toy-chain"\ndataset = "{dataset}"\ntrainer = "sgd"\n'
                    f'[jobs.dyn.dataset_options]\nroot = "{root}"\nworkers = 1\ncache_dir = "cache"\n')
    return path


# ------------------------------------------------------------------ item 6: consistent exits
def test_missing_root_is_a_config_error_before_any_run_directory(kelcore, plugin_env, tmp_path):
    env = plugin_env(*AUTHOR)
    path = pipeline(tmp_path, "nope")
    checked = kelcore("check-config", str(path), env=env)
    assert checked.returncode == 2 and "jobs.dyn.dataset_options.root: no such folder" in checked.stderr
    ran = kelcore("run", str(path), env=env)
    assert ran.returncode == 2 and not (tmp_path / "runs").exists()


def test_bad_resume_path_is_bad_input_without_class_names(kelcore, plugin_env, tmp_path):
    write_corpus(tmp_path / "data")
    result = kelcore("run", str(pipeline(tmp_path, "data")), "--resume", str(tmp_path / "runs" / "nope"),
                     env=plugin_env(*AUTHOR))
    assert result.returncode == 2 and "no such run directory" in result.stderr
    assert "Error:" not in result.stderr and "Traceback" not in result.stderr


def test_data_validate_exits_0_clean_1_problems_2_unreadable(kelcore, plugin_env, tmp_path):
    env = plugin_env(*AUTHOR)
    write_corpus(tmp_path / "clean")
    assert kelcore("data", "validate", "csvnotes", "--root", str(tmp_path / "clean"), env=env).returncode == 0
    bad = kelcore("data", "validate", "csvnotes", "--root", str(bad_corpus(tmp_path / "bad")), env=env)
    assert bad.returncode == 1, bad.stderr
    (tmp_path / "empty").mkdir()
    unreadable = kelcore("data", "validate", "csvnotes", "--root", str(tmp_path / "empty"), env=env)
    assert unreadable.returncode == 2 and "index.csv" in unreadable.stderr
    assert "FileNotFoundError" not in unreadable.stderr


def test_a_name_not_loaded_is_answered_from_the_installed_distributions(kelcore, plugin_env, tmp_path):
    env = plugin_env()  # no plugin loaded (KELCORE_LOAD_PLUGINS empty), the in-repo ones installed
    result = kelcore("data", "validate", "deam", "--root", str(tmp_path), env=env)
    assert result.returncode == 2 and "installed: none" in result.stderr
    assert "the installed distribution kel-plugin-deam has a plugin 'deam' that is not loaded" in result.stderr
    assert "pip install" not in result.stderr     # never a package name as if an index had it
    nowhere = kelcore("data", "validate", "no-such-set", "--root", str(tmp_path), env=env)
    assert nowhere.returncode == 2 and "no installed distribution provides it" in nowhere.stderr
    assert "README.md, section Installing" in nowhere.stderr
    export = kelcore("export", "--untrained", "--out", str(tmp_path / "x"), env=env)
    assert export.returncode == 2 and "no exporter plugin is loaded" in export.stderr
    assert "pip install" not in export.stderr
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_check_of_a_broken_plugin_shows_its_load_error(kelcore, plugin_env):
    result = kelcore("check", "broken", env=plugin_env("kel-broken-plugin"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "failed to load" in result.stderr and "nonexistent_dep" in result.stderr


def test_spec_path_prints_the_installed_header(kelcore):
    result = kelcore("spec", "--path")
    assert result.returncode == 0 and Path(result.stdout.strip()).name == "ModelSpec.h"
    assert "struct" in Path(result.stdout.strip()).read_text() or "ModelSpec" in Path(result.stdout.strip()).read_text()


def test_the_dataset_has_one_name_and_the_old_one_is_answered_with_it(kelcore, tmp_path):
    """`groove-midi` is the dataset, `groove` the model; the dataset's old name is no alias: bad input (exit 2) with
    the registered name suggested, in every command that takes a dataset name."""
    for command in (("data", "validate", "groove", "--root", str(tmp_path)),
                    ("data", "demo", "groove", str(tmp_path / "d"))):
        result = kelcore(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "unknown dataset 'groove'" in result.stderr and "did you mean 'groove-midi'?" in result.stderr, \
            result.stderr
    assert not (tmp_path / "d").exists()


def test_normalization_has_one_spelling():
    from pydantic import ValidationError

    from kelcore.api import FeatureElement

    assert FeatureElement(index=0, name="x", meaning="m", normalization="z").normalization == "z"
    with pytest.raises(ValidationError, match="normalisation"):
        FeatureElement(index=0, name="x", meaning="m", normalisation="standardised")


# ------------------------------------------------------------------ item 2: one set of counts
def test_validate_log_and_report_json_give_the_same_counts_that_add_up(kelcore, plugin_env, tmp_path):
    env = plugin_env(*AUTHOR)
    root = bad_corpus(tmp_path / "data")
    validated = kelcore("data", "validate", "csvnotes", "--root", str(root), "--json", env=env)
    counts = json.loads(validated.stdout)
    assert [counts[k] for k in ("listed", "usable", "missing", "corrupt", "unlabelled", "unsupported")] == \
        [12, 8, 1, 1, 0, 2]
    assert any("split 'val'" in p["reason"] and "did you mean 'validation'" in p["reason"] for p in counts["problems"])
    ran = kelcore("run", str(pipeline(tmp_path, "data")), env=env)
    assert ran.returncode == 0, ran.stderr
    assert "12 listed, 8 usable, 1 missing, 1 corrupt, 0 unlabelled, 2 unsupported" in ran.stderr
    report = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    data = report["jobs"][0]["data"]
    assert {k: data[k] for k in ("listed", "usable", "missing", "corrupt", "unlabelled", "unsupported")} == \
        {k: counts[k] for k in ("listed", "usable", "missing", "corrupt", "unlabelled", "unsupported")}
    assert sum(data["splits"].values()) == data["usable"]


# ------------------------------------------------------------------ item 1: requirements checked at load time
def test_requirements_are_checked_at_load_time_and_defaults_exist(kelcore, plugin_env, tmp_path):
    env = plugin_env(*AUTHOR)
    plugins = kelcore("plugins", env=env)
    assert ("LOAD ERROR: kel-author-plugin: dataset 'old-standardised' (kel_author_plugin.OldStandardised): "
            "standardised_tasks is gone" in plugins.stdout)
    listed = kelcore("list", "datasets", env=env)  # csvnotes has no Options of its own: the default
    assert listed.returncode == 0 and "csvnotes  (kel-author-plugin" in listed.stdout and "root: Path" in listed.stdout
    demo = kelcore("data", "demo", "csvnotes", str(tmp_path / "d"), env=env)  # no write_demo: the default
    assert demo.returncode == 2 and "has no demo corpus" in demo.stderr


# ------------------------------------------------------------------ item 4: exporters as equals
def test_a_second_exporter_is_reached_by_export_and_validate(kelcore, plugin_env, tmp_path):
    env = plugin_env(*AUTHOR)
    out = tmp_path / "out"
    several = kelcore("export", "--untrained", "--models", "toy-chain,tanh-linear", "--out", str(tmp_path / "all"),
                      env=env)  # several exporters installed and no --format: every one of them (all equals)
    assert several.returncode == 0, several.stderr
    assert sorted(p.name for p in (tmp_path / "all").iterdir() if p.name != OUTPUT_MARKER) == sorted(  # two models of one spec: named after each
        f"DynamicsEngine-{model}{suffix}" for model in ("tanh-linear", "toy-chain")
        for suffix in (".kelnpz", ".lying.kelnpz", ".torch.json"))
    result = kelcore("export", "--untrained", "--format", "npz", "--models", "toy-chain", "--out", str(out),
                     "--npz-manifest", "-o", "steps=4", env=env)
    assert result.returncode == 0, result.stderr
    assert (out / "DynamicsEngine.kelnpz").is_file() and (out / "MANIFEST.txt").read_text() == "DynamicsEngine.kelnpz\n"
    valid = kelcore("validate", str(out / "DynamicsEngine.kelnpz"), env=env)
    assert valid.returncode == 0 and "OK (" in valid.stdout
    (tmp_path / "junk.kelnpz").write_text("junk")
    assert kelcore("validate", str(tmp_path / "junk.kelnpz"), env=env).returncode == 2


# ------------------------------------------------------------------ item 3: the conformance suites
def test_check_catches_activation_nondeterminism_and_duplicates(kelcore, plugin_env):
    env = plugin_env(*AUTHOR)
    tanh = kelcore("check", "tanh-linear", env=env)
    assert tanh.returncode == 1
    assert ("kel-author-plugin TanhButLinear (ModelSpec DynamicsEngine): output activation: output_activation = "
            "'tanh' but the last module is Linear") in tanh.stdout
    noisy = kelcore("check", "noisy", env=env)
    assert noisy.returncode == 1 and "forward() draws random numbers" in noisy.stdout
    assert "state handling?" not in noisy.stdout
    dupe = kelcore("check", "kel-dupe-plugin", env=plugin_env("kel-test-plugin", "kel-dupe-plugin"))
    assert dupe.returncode == 1 and "registered twice" in dupe.stdout


def test_dataset_and_exporter_suites(kelcore, plugin_env):
    env = plugin_env(*AUTHOR)
    dataset = kelcore("check", "csvnotes-demo", "--json", env=env)
    assert dataset.returncode == 0, dataset.stdout
    assert {r["check"] for r in json.loads(dataset.stdout)["results"]} == {
        "check_dataset_declares_contract", "check_dataset_demo_prepares", "check_dataset_counts_a_corrupt_file"}
    exporter = kelcore("check", "npz", env=env)
    assert exporter.returncode == 0 and "check_exporter_round_trip" in exporter.stdout, exporter.stdout


# ------------------------------------------------------------------ item 5: one public API
# every in-repo plugin and example: each imports kelcore, kelcore.api (or kelcore.testing in tests) and nothing else
PLUGIN_FOLDERS = ["plugins/kel-plugin-rtneural", "plugins/kel-plugin-onnx", "plugins/kel-contracts", "examples/third_party_model", "examples/third_party_dataset",
            "tests/plugins", "plugins/kel-plugin-deam", "plugins/kel-plugin-groove-midi", "plugins/kel-plugin-pmemo",
            "plugins/kel-audio-features", "plugins/kel-plugin-dynamics", "plugins/kel-plugin-emotion", "plugins/kel-plugin-groove",
            "plugins/kel-plugin-lakh", "plugins/kel-plugin-maestro", "plugins/kel-plugin-music21-corpus",
            "plugins/kel-midi-features", "plugins/kel-plugin-harmony", "plugins/kel-plugin-melody", "plugins/kel-runtime"]


def kelcore_imports(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        if ".egg-info" in str(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{path.relative_to(REPO)}: {n}" for n in names
                      if n.startswith("kelcore") and n not in ("kelcore", "kelcore.api", "kelcore.testing")]
    return found


def test_every_plugin_folder_is_covered():
    assert sorted(str(p.parent.relative_to(REPO)) for p in REPO.glob("plugins/*/pyproject.toml")) == \
        sorted(f for f in PLUGIN_FOLDERS if f.startswith("plugins/"))


@pytest.mark.parametrize("folder", PLUGIN_FOLDERS)
def test_plugins_import_only_the_public_api(folder):
    assert kelcore_imports(REPO / folder) == []


def test_kelcore_reexports_the_api_and_plugins_md_documents_it():
    import kelcore
    import kelcore.api

    assert set(kelcore.__all__) == set(kelcore.api.__all__)
    doc = (REPO / "docs" / "PLUGINS.md").read_text(encoding="utf-8")
    assert [name for name in kelcore.api.__all__ if f"`{name}`" not in doc] == []
