"""`kelcore native-check` through the real CLI: the plugin's C++ features against training's on files, with the
exit codes a plugin developer relies on (0 within tolerance, 1 a failure, 2 unreadable input)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SHARED, run_kelcore

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
REAL = SHARED / "data" / "real"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Five untrained exports, a demo corpus of each kind, and one build folder for the drivers."""
    root = tmp_path_factory.mktemp("native_check")
    assert run_kelcore("export", "--untrained", "--seed", "0", "--out", str(root / "models")).returncode == 0
    for name, folder in (("lakh", "lakh"), ("groove-midi", "groove")):
        result = run_kelcore("data", "demo", name, str(root / folder), "--seed", "1")
        assert result.returncode == 0, result.stderr
    from kel_plugin_deam.demo import write_demo

    write_demo(root / "deam", seed=1, songs=1, seconds=12.0)     # one short song: the CLI writes 30 of 45 s
    return root


def check(setup: Path, *files: Path, extra: tuple[str, ...] = ()):
    result = run_kelcore("native-check", str(setup / "models"), *map(str, files), "--build-dir", str(setup / "build"),
                         "--json", *extra)
    rows = json.loads(result.stdout) if result.returncode in (0, 1) else []
    return result, rows


def test_demo_midi_and_audio_at_four_host_rates_are_within_tolerance(setup):
    midi = sorted((setup / "lakh").rglob("*.mid"))[0]
    drums = sorted((setup / "groove").rglob("*.mid"))[0]
    audio = sorted(p for p in (setup / "deam").rglob("*") if p.suffix in (".mp3", ".wav"))[0]
    result, rows = check(setup, midi, drums, audio, extra=("--host-rates", "44100,48000,88200,96000"))
    assert result.returncode == 0, result.stdout + result.stderr
    measured = [r for r in rows if r["verdict"] == "ok"]
    assert {r["model"] for r in measured} == {"MelodyTransformer", "HarmonyPredictor", "DynamicsEngine",
                                              "GroovePredictor", "EmotionRecognizer"}
    assert all(r["steps"] > 0 and r["allocations"] == 0 for r in measured)
    assert sorted(r["file"].rsplit(" @ ", 1)[1] for r in rows if r["model"] == "EmotionRecognizer") == \
        ["44100 Hz", "48000 Hz", "88200 Hz", "96000 Hz"]
    assert [r["verdict"] for r in rows if r["file"] == str(drums) and r["model"] == "MelodyTransformer"] == \
        ["skipped: no pitched notes (drums only)"]


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real is absent (the real Groove and Lakh files)")
def test_real_files_in_the_table_format(setup):
    files = [sorted((REAL / "lakh").rglob("*.mid"))[0], sorted((REAL / "groove").rglob("*.mid"))[0]]
    result = run_kelcore("native-check", str(setup / "models"), *map(str, files), "--build-dir",
                         str(setup / "build"))
    assert result.returncode == 0, result.stdout + result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:6] == ["file", "model", "steps", "worst", "diff", "allocs"]
    assert sum(line.endswith("  ok") for line in lines) >= 5


def test_a_model_trained_on_another_contract_version_fails(setup, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(setup / "models", models)
    document = json.loads((models / "GroovePredictor.json").read_text())
    document["metadata"]["feature_contract"]["version"] = "1.0.0"
    (models / "GroovePredictor.json").write_text(json.dumps(document))
    drums = sorted((setup / "groove").rglob("*.mid"))[0]
    result = run_kelcore("native-check", str(models), str(drums), "--build-dir", str(setup / "build"))
    assert result.returncode == 1
    from kel_contracts import CONTRACTS

    assert "GroovePredictor.json was trained on GroovePredictor contract 1.0.0, but these features are contract " \
           f"{CONTRACTS['GroovePredictor'].version}: retrain and export it" in result.stdout


def test_unreadable_input_exits_2_with_the_reason(setup, tmp_path):
    missing = run_kelcore("native-check", str(setup / "models"), str(tmp_path / "nope.mid"))
    assert missing.returncode == 2 and f"{tmp_path / 'nope.mid'}: no such file" in missing.stderr
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    corrupt = run_kelcore("native-check", str(setup / "models"), str(garbage))
    assert corrupt.returncode == 2 and f"{garbage}: unreadable MIDI" in corrupt.stderr
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    unknown = run_kelcore("native-check", str(setup / "models"), str(text))
    assert unknown.returncode == 2 and "unknown kind of file" in unknown.stderr
    empty = run_kelcore("native-check", str(tmp_path), str(garbage))
    assert empty.returncode == 2 and "no exported kelcore model" in empty.stderr
    rates = run_kelcore("native-check", str(setup / "models"), str(garbage), "--host-rates", "fast")
    assert rates.returncode == 2 and "expected integers" in rates.stderr
