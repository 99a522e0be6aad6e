"""The feature-cache key holds the contract version, the providing distribution's name and version, the
extractor's code and the dataset's feature_config(): changed plugin code never serves stale features (issue 19)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

import kelcore.data.cache as cache_module
from kelcore.api import RunContext

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins"))
from kel_author_plugin import CsvNotesDemo, write_corpus  # noqa: E402

CsvNotesDemo.name = "csvnotes-demo"  # set by registration when installed; here the class is used directly


def digests(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir()}


def prepare(root: Path, cache: Path, run: Path) -> None:
    dataset = CsvNotesDemo(CsvNotesDemo.Options(root=root, cache_dir=cache, workers=1))
    dataset.prepare(RunContext(run_dir=run))


def test_a_new_distribution_version_or_feature_config_is_a_new_cache_key(tmp_path, monkeypatch):
    write_corpus(tmp_path / "data", files=5)
    cache = tmp_path / "cache"
    prepare(tmp_path / "data", cache, tmp_path / "r1")
    prepare(tmp_path / "data", cache, tmp_path / "r2")
    assert len(digests(cache)) == 1                       # the same code and config: the same entries
    key = cache_module.feature_cache_key(CsvNotesDemo(CsvNotesDemo.Options(root=tmp_path / "data")),
                                         CsvNotesDemo.extract)
    assert set(key) == {"contract", "distribution", "code", "feature_config"}
    assert key["contract"]["model"] == "DynamicsEngine" and key["contract"]["version"]
    monkeypatch.setattr(cache_module, "provider_of_class",
                        lambda cls: {"name": "kel-author-plugin", "version": "9.9.9"})
    prepare(tmp_path / "data", cache, tmp_path / "r3")
    assert len(digests(cache)) == 2                       # a reinstalled, newer plugin: every entry a miss
    monkeypatch.setattr(CsvNotesDemo, "feature_config", lambda self: {"window": 2})
    prepare(tmp_path / "data", cache, tmp_path / "r4")
    assert len(digests(cache)) == 3


def test_an_edited_extractor_module_changes_the_code_digest(tmp_path, monkeypatch):
    module = tmp_path / "my_extractor.py"
    module.write_text("def extract(track, config):\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_extractor

    before = cache_module.code_digest(my_extractor.extract)
    module.write_text("def extract(track, config):\n    return 2  # changed\n")
    importlib.reload(my_extractor)
    assert cache_module.code_digest(my_extractor.extract) != before


@pytest.mark.parametrize("word", ["feature_config()", "distribution", "contract"])
def test_plugins_md_documents_the_cache_key(word):
    text = (Path(__file__).resolve().parents[1] / "docs" / "PLUGINS.md").read_text(encoding="utf-8")
    section = text[text.index("### The feature cache key"):]
    assert word in section[:2000]
