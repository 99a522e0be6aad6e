"""kel::Runtime (plugins/kel-runtime/kel_runtime/native/KelRuntime.h) played as a host plays it: real and generated
MIDI files as events at sample offsets, in blocks of 1, 37, 480 and 4,096 frames at 44.1, 48 and 96 kHz, with the
tempo, time signature and bar a host reports per block. Every model input the runtime computed is held against
training's features for the file (kel_midi_features), every output against PyTorch on those inputs; the same under
ThreadSanitizer with the inference thread running and under AddressSanitizer + UBSan; heap allocations on the audio
thread after prepare (malloc family and operator new) must be 0.

A tempo change inside a block is found from the next block's play head (docs/CONTRACTS.md "Timing",
kel::timing::tempoChangeOffset; one block of latency for the MIDI steps), which equals training's tempo map: the test
requires 0 difference on every input, also on the Lakh file with 65 tempo changes in 4,096-frame blocks."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import NO_RTNEURAL, RTNEURAL_DIR, SHARED, run_kelcore

REAL = SHARED / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real is not present in this checkout")
pytestmark = [pytest.mark.runs_long(35), pytest.mark.skipif(RTNEURAL_DIR is None, reason=NO_RTNEURAL)]

MIDI_MODELS = ("MelodyTransformer", "HarmonyPredictor", "DynamicsEngine", "GroovePredictor")


@pytest.fixture(scope="session")
def runtime_models(tmp_path_factory) -> list[Path]:
    """The five models exported untrained (seed 0): the runtime loads, checks and runs all five."""
    out = tmp_path_factory.mktemp("runtime-models")
    done = run_kelcore("export", "--untrained", "--seed", "0", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return sorted(out.glob("*.json"))


@pytest.fixture(scope="session")
def player_builds(tmp_path_factory):
    """One build of the stream player per kind (release, thread, address), cached by the hash of its sources."""
    from kel_runtime.stream import build_player, cache_root

    folder = cache_root()
    cache: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = build_player(folder, RTNEURAL_DIR, kind)
        return cache[kind]

    return get


def play_and_compare(player: Path, models: list[Path], midi: Path, rate: float, block: int, mode: str,
                     tmp_path: Path) -> dict:
    """Play `midi` into the runtime; assert inputs equal training's (but the documented tempo-per-block rows),
    outputs within 1e-5 of PyTorch, no allocation, nothing dropped. Returns the comparison."""
    from kel_midi_features.song import load_song
    from kel_runtime import stream

    song = load_song(midi)
    played = stream.write_stream(song, tmp_path / f"{midi.stem}-{block}.txt", models, rate, block, mode)
    counters = stream.run_player(player, played.path, tmp_path / f"{midi.stem}-{block}.rec")
    assert counters["audio_thread_allocations"] == 0, counters
    for key in ("queue_drops", "recording_drops", "notes_dropped", "notes_forced", "note_off_without_note_on",
                "relocations", "invalid_tempo", "events_out_of_order", "events_outside_block"):
        assert counters[key] == 0, (key, counters)
    recording = stream.read_recording(tmp_path / f"{midi.stem}-{block}.rec")
    report = stream.compare_recording(recording, played.expected, stream.load_documents(models))
    for model, entry in report.items():
        if "skipped" in entry:
            continue
        assert "error" not in entry, (midi.name, model, entry)
        rows = entry["training_rows"]
        runtime_rows = entry["runtime_rows"]
        if model == "DynamicsEngine":
            assert runtime_rows >= rows, (midi.name, model, entry)   # training stops at MAX_NOTES
        elif model == "GroovePredictor":
            assert runtime_rows >= rows and entry["extra_rows_nonzero"] == 0, (midi.name, model, entry)
        else:
            assert runtime_rows == rows, (midi.name, model, entry)
        assert entry["worst_output"] <= stream.OUTPUT_TOLERANCE, (midi.name, model, entry)
        got = recording[model]["inputs"][:rows].astype(np.float64)
        want = played.expected[{v: k for k, v in stream.MODEL_KEYS.items()}[model]].astype(np.float64)
        differ = np.abs(got - want) > 0
        rows_differing = np.nonzero(differ.any(axis=1))[0]
        if len(rows_differing):
            row = int(rows_differing[0])
            raise AssertionError(
                f"{midi.name} {model} at {rate:g} Hz / {block} frames: {len(rows_differing)} rows differ from training; "
                f"row {row} at ppq {float(recording[model]['ppq'][row])}: columns {np.nonzero(differ[row])[0].tolist()} "
                f"(runtime {got[row][differ[row]]}, training {want[row][differ[row]]})")
    return report


@needs_real
@pytest.mark.parametrize("rate,block", [(48000.0, 480), (44100.0, 4096)])
def test_real_lakh_songs_as_a_host_plays_them(player_builds, runtime_models, tmp_path, rate, block):
    paths = sorted((REAL / "lakh").rglob("*.mid"))
    assert len(paths) == 2
    reports = [play_and_compare(player_builds("release"), runtime_models, p, rate, block, "sync", tmp_path)
               for p in paths]
    for report in reports:
        assert all(report[m]["training_rows"] > 0 for m in MIDI_MODELS)


@needs_real
def test_real_groove_performances_in_small_blocks_with_the_inference_thread(player_builds, runtime_models, tmp_path):
    paths = sorted((REAL / "groove").rglob("*.mid"))
    assert len(paths) == 9
    for path in paths[:4]:
        report = play_and_compare(player_builds("release"), runtime_models, path, 44100.0, 37, "threaded", tmp_path)
        assert report["GroovePredictor"]["training_rows"] > 0


def short_changing_song(path: Path) -> Path:
    """A pickup bar (1/4), then 4/4, 3/4 and 5/8; four tempo changes off the beat; a melody with chords under it
    and drums: 14 beats, short enough for 1-frame blocks."""
    from test_native_midi import simple_song

    rng = np.random.default_rng(3)
    notes, t = [], 0.0
    while t < 14.0:
        step = float(rng.choice([0.25, 0.5, 0.75, 1.0]))
        notes.append((t, step * 0.9, int(rng.integers(60, 80)), int(rng.integers(40, 110))))
        if rng.random() < 0.4:
            notes.append((t, step * 1.5, int(rng.integers(45, 58)), 60))
        t += step
    drums = [(b / 2 + 0.03, 0.1, (36, 42, 38, 42)[b % 4], 90) for b in range(28)]
    return simple_song(path, tempos=[(0.0, 132), (2.3, 100), (5.55, 150), (7.2, 90), (11.01, 170)],
                       signatures=[(0.0, 1, 4), (1.0, 4, 4), (5.0, 3, 4), (8.0, 5, 8)], notes=notes, drums=drums)


def test_tempo_and_metre_changes_in_one_frame_blocks_are_training_exactly(player_builds, runtime_models, tmp_path):
    path = short_changing_song(tmp_path / "short.mid")
    report = play_and_compare(player_builds("release"), runtime_models, path, 96000.0, 1, "sync", tmp_path)
    assert all(report[m]["training_rows"] > 0 for m in MIDI_MODELS), report


def test_tempo_and_metre_changes_in_host_blocks(player_builds, runtime_models, tmp_path):
    from test_native_midi import changing_song

    path = changing_song(tmp_path / "changes.mid")
    report = play_and_compare(player_builds("release"), runtime_models, path, 48000.0, 480, "threaded", tmp_path)
    assert all(report[m]["training_rows"] > 0 for m in MIDI_MODELS), report


def test_audio_and_midi_together_emotion_inputs_equal_training(player_builds, runtime_models, tmp_path):
    """Real-rate audio with the song: EmotionRecognizer's inputs equal training's features of the same audio at the
    host's rate (within the contract's 1e-3 dB), its outputs PyTorch's; the MIDI models as before."""
    from kel_audio_features.dsp import features_at_host_rate
    from kel_contracts import CONTRACTS
    from kel_midi_features.song import load_song
    from kel_runtime import stream

    rate = 44100.0
    path = short_changing_song(tmp_path / "short.mid")
    song = load_song(path)
    seconds = float(stream.seconds_of(np.array([song.end]), stream.tempo_segments(song))[0])
    rng = np.random.default_rng(5)
    t = np.arange(int((seconds + 0.2) * rate)) / rate   # the audio lasts as long as the song
    left = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) + 0.02 * rng.standard_normal(len(t))
    audio = np.stack([left, 0.2 * np.sin(2 * np.pi * 330 * t)], axis=1).astype(np.float32)
    played = stream.write_stream(song, tmp_path / "a.txt", runtime_models, rate, 480, "threaded", audio=audio)
    counters = stream.run_player(player_builds("release"), played.path, tmp_path / "a.rec")
    assert counters["audio_thread_allocations"] == 0 and counters["queue_drops"] == 0, counters
    recording = stream.read_recording(tmp_path / "a.rec")
    emotion = recording["EmotionRecognizer"]
    _, expected = features_at_host_rate(audio, int(rate))
    n = len(emotion["inputs"])
    assert n >= int(seconds / 0.5) - 2 and n <= len(expected), (n, len(expected))   # the last ones need finish()
    worst = float(np.abs(emotion["inputs"].astype(np.float64) - expected[:n].astype(np.float64)).max())
    assert worst <= CONTRACTS["EmotionRecognizer"].native_tolerance, worst
    document = stream.load_documents(runtime_models)["EmotionRecognizer"]
    reference = stream.torch_outputs(document, emotion["inputs"], emotion["step"])
    assert float(np.abs(reference - emotion["outputs"]).max()) <= stream.OUTPUT_TOLERANCE


def test_demo_corpora_as_a_host_plays_them(player_builds, runtime_models, tmp_path):
    from kel_plugin_lakh import LakhDataset
    from kel_plugin_maestro import MaestroDataset

    LakhDataset.write_demo(tmp_path / "lakh", seed=0, songs=2)
    MaestroDataset.write_demo(tmp_path / "maestro", seed=0, pieces=1)
    for path in [*sorted((tmp_path / "lakh").rglob("*.mid")), *sorted((tmp_path / "maestro").rglob("*.midi"))]:
        play_and_compare(player_builds("release"), runtime_models, path, 44100.0, 480, "sync", tmp_path)


def test_under_thread_sanitizer_with_the_inference_thread(player_builds, runtime_models, tmp_path):
    path = short_changing_song(tmp_path / "short.mid")
    report = play_and_compare(player_builds("thread"), runtime_models, path, 48000.0, 64, "threaded", tmp_path)
    assert all("worst_output" in report[m] for m in MIDI_MODELS)


def test_under_address_and_undefined_behaviour_sanitizers(player_builds, runtime_models, tmp_path):
    path = short_changing_song(tmp_path / "short.mid")
    play_and_compare(player_builds("address"), runtime_models, path, 44100.0, 37, "sync", tmp_path)


# ----------------------------------------------------------------------------- a host that misbehaves
def _bad_files(models: list[Path], folder: Path) -> Path:
    """Exports each wrong in one field the runtime checks."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    by_name = {p.stem: json.loads(p.read_text()) for p in models}
    by_name["HarmonyPredictor"]["metadata"]["feature_contract"]["version"] = "0.9.0"
    by_name["DynamicsEngine"]["metadata"]["feature_contract"]["normalization"]["std"][3] = 0.0
    by_name["MelodyTransformer"]["metadata"]["model"] = "HarmonyPredictor"
    by_name["EmotionRecognizer"]["layers"][0]["weights"][0][0][0] += 0.5
    for name in ("HarmonyPredictor", "DynamicsEngine", "MelodyTransformer", "EmotionRecognizer"):
        (folder / f"{name}.json").write_text(json.dumps(by_name[name]))
    return folder


@pytest.mark.parametrize("build,mode", [("release", "threaded"), ("address", "sync")])
def test_bad_host_input_is_counted_never_a_crash(player_builds, runtime_models, tmp_path, build, mode):
    bad = _bad_files(runtime_models, tmp_path / "bad")
    done = subprocess.run([str(player_builds(build)), "--bad-host", str(runtime_models[0].parent), str(bad), mode],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    counters = {w[1]: int(w[2]) for w in (line.split() for line in lines) if w[0] == "counter"}
    for name in ("eventsOutsideBlock", "eventsOutOfOrder", "eventsInvalid", "invalidTempo", "invalidTimeSignature",
                 "sampleRateChanges", "relocations", "noteOffWithoutNoteOn", "notesDropped", "recordingDrops"):
        assert counters[name] > 0, (name, counters)
    assert counters["invalidTempo"] == 5 and counters["relocations"] == 1 and counters["noteOffWithoutNoteOn"] == 1
    if mode == "threaded":
        assert counters["queueDrops"] > 0, counters
    assert "outputs finite 1" in lines
    if build == "release":
        assert "allocations 0" in lines
    refused = {Path(w[1]).name: w[2] for w in (line.split() for line in lines) if w[0] == "refused"}
    assert refused == {"HarmonyPredictor.json": "metadata.feature_contract.version",
                       "DynamicsEngine.json": "metadata.feature_contract.normalization",
                       "MelodyTransformer.json": "metadata.model", "EmotionRecognizer.json": "metadata.reference",
                       "missing.json": "-"}, lines
    assert "loaded 0" in lines


@needs_real
def test_native_check_compares_a_runtime_recording_with_training(player_builds, runtime_models, tmp_path):
    """What a plugin developer does with a recording from their own host: `kelcore native-check --recording`."""
    from kel_midi_features.song import load_song
    from kel_runtime import stream

    midi = REAL / "lakh" / "lmd_full" / "d" / "d8faddb8596fff7abb24d78666f73e4e.mid"
    played = stream.write_stream(load_song(midi), tmp_path / "s.txt", runtime_models, 48000.0, 480, "threaded")
    stream.run_player(player_builds("release"), played.path, tmp_path / "rec.txt")
    folder = str(runtime_models[0].parent)
    done = run_kelcore("native-check", folder, str(midi), "--recording", str(tmp_path / "rec.txt"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" ok") == 4, done.stdout
    lines = (tmp_path / "rec.txt").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("DynamicsEngine 40 "))
    words = lines[at].split()
    words[4] = str(float(words[4]) + 1.0)   # the first input (the pitch) of one step: as if the plugin fed another
    lines[at] = " ".join(words)
    (tmp_path / "bad.txt").write_text("\n".join(lines) + "\n")
    done = run_kelcore("native-check", folder, str(midi), "--recording", str(tmp_path / "bad.txt"))
    assert done.returncode == 1 and "the first is step 40" in done.stdout, done.stdout + done.stderr
