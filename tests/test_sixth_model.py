"""Adding a sixth model spec takes its ModelSpec.h line and a plugin, nothing else in the core: the two blocks of
docs/PLUGINS.md ("Adding a sixth model spec, end to end"), run as written (issue 19, item 7)."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from conftest import REPO

SECTION = "## Adding a sixth model spec, end to end"


def doc_blocks() -> tuple[str, str]:
    text = (REPO / "docs" / "PLUGINS.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    cpp = re.search(r"```cpp\n(.*?)```", section, re.S).group(1)
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return textwrap.dedent(cpp).strip(), textwrap.dedent(python)


def install(tmp_path: Path, env_of) -> dict[str, str]:
    """The doc's spec line in a copy of the installed header, the doc's plugin as an installed distribution."""
    from kelcore.api import SPEC_HEADER

    spec_line, plugin = doc_blocks()
    header = SPEC_HEADER.read_text(encoding="utf-8")
    last = header.index("inline constexpr ModelSpec kAllModelSpecs")
    (tmp_path / "ModelSpec.h").write_text(header[:last] + spec_line + "\n\n" + header[last:], encoding="utf-8")
    site = tmp_path / "sixth"
    (site / "kel_plugin_tempo").mkdir(parents=True)
    (site / "kel_plugin_tempo" / "__init__.py").write_text(plugin, encoding="utf-8")
    info = site / "kel_plugin_tempo-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kel-plugin-tempo\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[kelcore]\ntempo = kel_plugin_tempo\n")
    env = env_of(only=False)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    env["KELCORE_MODEL_SPEC"] = str(tmp_path / "ModelSpec.h")
    return env


PIPELINE = """\
[run]
name = "tempo"
seed = 0
runs_dir = "runs"

[jobs.tempo]
model = "tempo"
dataset = "tempo-beats"
exporters = ["rtneural", "onnx"]

[jobs.tempo.dataset_options]
root = "demo"
workers = 1

[jobs.tempo.trainer_options]
epochs = 2
batch_size = 4
window = 8
"""


def test_a_sixth_model_follows_plugins_md_with_no_core_edit(kelcore, plugin_env, tmp_path):
    env = install(tmp_path, plugin_env)
    spec = kelcore("spec", "TempoTracker", env=env)
    assert spec.returncode == 0 and "parameters       302" in spec.stdout, spec.stdout + spec.stderr
    check = kelcore("check", "kel-plugin-tempo", "--json", env=env)
    results = json.loads(check.stdout)["results"]
    assert check.returncode == 0, [r for r in results if r["status"] != "PASS"]
    assert {r["status"] for r in results} == {"PASS"} and len(results) > 15
    assert kelcore("data", "demo", "tempo-beats", str(tmp_path / "demo"), env=env).returncode == 0
    (tmp_path / "p.toml").write_text(PIPELINE, encoding="utf-8")
    run = kelcore("run", "p.toml", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    exports = sorted((run_dir / "tempo" / "exports").iterdir())
    assert [p.name for p in exports] == ["TempoTracker.json", "TempoTracker.onnx"]
    valid = kelcore("validate", "--check-specs", "--json", *map(str, exports), env=env)
    assert valid.returncode == 0, valid.stdout
    records = json.loads(valid.stdout)
    assert {r["format"] for r in records} == {"rtneural", "onnx"} and {r["status"] for r in records} == {0}
    meta = json.loads(exports[0].read_text())["metadata"]
    mean = meta["feature_contract"]["normalization"]["mean"]
    assert meta["feature_contract"]["standardised"] is True and any(m != 0 for m in mean)  # standardised, fitted
