"""``kelcore native-check MODELS_DIR FILE...``: the plugin's C++ features against training's, on your own files.

For each exported model in MODELS_DIR whose contract applies to a file (audio -> EmotionRecognizer; MIDI ->
MelodyTransformer, HarmonyPredictor, DynamicsEngine, GroovePredictor), it builds the C++ drivers
(``kel_runtime/native/drivers/``, g++ or $CXX) around KelFeatures.h, computes the features both ways and prints the
worst element difference per model and file. Exit 0 when all are within the contract's tolerance, 1 when one is not
(or the C++ side allocated on the audio path, a model was trained on another contract version, or the drivers could
not be built), 2 for unreadable input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kelcore.api import Command

from kel_contracts import CONTRACTS
from kel_midi_features import MODELS

from .build import BuildError

AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".aif", ".aiff"}
MIDI_SUFFIXES = {".mid", ".midi"}
MIDI_MODELS = tuple(MODELS.values())


class InputError(Exception):
    """Unreadable input: a message for the user, exit 2."""


@dataclass
class Row:
    file: str
    model: str
    steps: int | None
    worst: float | None
    allocations: int | None
    verdict: str              # "ok", "FAIL", "skipped: reason"

    @property
    def failed(self) -> bool:
        return self.verdict.startswith("FAIL")


def read_models(models_dir: Path) -> dict[str, dict[str, Any]]:
    """ModelSpec name -> exported file's metadata, for every *.json in ``models_dir`` that is a kelcore export."""
    if not models_dir.is_dir():
        raise InputError(f"{models_dir}: not a folder (expected the folder `kelcore export` wrote)")
    found = {}
    for path in sorted(models_dir.glob("*.json")):
        try:
            metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise InputError(f"{path}: not readable as an exported model ({exc})") from None
        if metadata.get("model") in CONTRACTS:
            found[metadata["model"]] = {**metadata, "path": str(path)}
    if not found:
        raise InputError(f"{models_dir}: no exported kelcore model (*.json with metadata.model) in it")
    return found


def version_problem(model: str, metadata: dict[str, Any]) -> str | None:
    """A model trained on another contract version than the features the plugin computes is wrong input."""
    trained = metadata.get("feature_contract", {}).get("version")
    current = CONTRACTS[model].version
    if trained != current:
        return (f"FAIL: {Path(metadata['path']).name} was trained on {model} contract {trained}, but these "
                f"features are contract {current}: retrain and export it")
    return None


def _verdict(model: str, worst: float, allocations: int) -> str:
    tolerance = CONTRACTS[model].native_tolerance
    if allocations:
        return f"FAIL: {allocations} heap allocations on the audio path"
    return "ok" if worst <= tolerance else f"FAIL: above the tolerance {tolerance:g}"


def check_audio(path: Path, models: dict[str, Any], build: Path, host_rates: list[int]) -> list[Row]:
    import numpy as np
    import soundfile

    from . import audio_parity

    if "EmotionRecognizer" not in models:
        return [Row(str(path), "EmotionRecognizer", None, None, None, "skipped: no EmotionRecognizer export")]
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile's own error types
        raise InputError(f"{path}: unreadable audio ({exc})") from None
    stale = version_problem("EmotionRecognizer", models["EmotionRecognizer"])
    rows = []
    driver = audio_parity.build_audio_driver(build)
    for host_rate in host_rates or [rate]:
        data = samples if host_rate == rate else _resample_for_host(samples, rate, host_rate)
        result = audio_parity.compare_audio(driver, np.ascontiguousarray(data), host_rate)
        verdict = stale or _verdict("EmotionRecognizer", result["worst_db"], result["allocations"])
        rows.append(Row(f"{path} @ {host_rate} Hz", "EmotionRecognizer", result["vectors"], result["worst_db"],
                        result["allocations"], verdict))
    return rows


def _resample_for_host(samples, rate: int, host_rate: int):
    """The file as a host at another rate would deliver it (any good resampler; the contract starts after it)."""
    from math import gcd

    from scipy.signal import resample_poly

    common = gcd(rate, host_rate)
    return resample_poly(samples, host_rate // common, rate // common, axis=0).astype("float32")


def check_midi(path: Path, models: dict[str, Any], build: Path) -> list[Row]:
    from kel_midi_features import MidiError, load_song

    from . import midi_parity

    try:
        load_song(path)
    except MidiError as exc:
        raise InputError(f"{path}: {exc}") from None
    results = midi_parity.compare_midi(midi_parity.build_midi_driver(build), path)
    rows = []
    for model in MIDI_MODELS:
        if model not in models:
            rows.append(Row(str(path), model, None, None, None, f"skipped: no {model} export"))
            continue
        result = results.get(model, {"skipped": "not computed"})
        if "skipped" in result:
            rows.append(Row(str(path), model, None, None, None, f"skipped: {result['skipped']}"))
            continue
        verdict = version_problem(model, models[model]) or _verdict(model, result["worst"], result["allocations"])
        rows.append(Row(str(path), model, result["steps"], result["worst"], result["allocations"], verdict))
    return rows


def check_recording(path: Path, recording: Path, models: dict[str, Any]) -> list[Row]:
    """A kel::Runtime recording (``Runtime::writeRecording`` in the plugin's own host, the song played from its
    start) against training's features of the MIDI file ``path``: one row per MIDI model, the worst input difference
    over the steps both have."""
    from kel_midi_features import MidiError, load_song, training_features

    from .stream import compare_recording, read_recording

    try:
        song = load_song(path)
        recorded = read_recording(recording)
    except (MidiError, OSError, ValueError) as exc:
        raise InputError(f"{exc}") from None
    report = compare_recording(recorded, training_features(song), {})
    rows = []
    for model in MIDI_MODELS:
        entry = report.get(model, {"skipped": "not recorded"})
        if "skipped" in entry:
            rows.append(Row(f"{path} (recording)", model, None, None, None, f"skipped: {entry['skipped']}"))
            continue
        if "error" in entry:
            rows.append(Row(f"{path} (recording)", model, entry["training_rows"], None, None,
                            f"FAIL: {entry['error']}"))
            continue
        verdict = version_problem(model, models[model]) if model in models else None
        worst = entry["worst_input"]
        if verdict is None:
            verdict = _verdict(model, worst, 0)
            if verdict == "ok" and entry["runtime_rows"] < entry["training_rows"]:
                verdict = f"FAIL: the recording has {entry['runtime_rows']} steps, training {entry['training_rows']}"
            elif verdict != "ok":
                verdict += f" ({entry['rows_differing']} steps differ, the first is step {entry['first_differing']})"
        rows.append(Row(f"{path} (recording)", model, entry["training_rows"], worst, None, verdict))
    return rows


def native_check(models_dir: Path, files: list[Path], build: Path, host_rates: list[int],
                 recording: Path | None = None) -> list[Row]:
    """Every (file, applicable model) row; raises :class:`InputError` for unreadable input. With ``recording`` (one
    MIDI file): the runtime's recording of that file against training instead of the drivers."""
    models = read_models(models_dir)
    if recording is not None:
        if len(files) != 1 or files[0].suffix.lower() not in MIDI_SUFFIXES:
            raise InputError("--recording compares one MIDI file: give exactly the file the recording played")
        return check_recording(files[0], recording, models)
    rows = []
    for path in files:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix in MIDI_SUFFIXES:
            rows += check_midi(path, models, build)
        elif suffix in AUDIO_SUFFIXES:
            rows += check_audio(path, models, build, host_rates)
        else:
            raise InputError(f"{path}: unknown kind of file (audio: {', '.join(sorted(AUDIO_SUFFIXES))}; "
                             f"MIDI: {', '.join(sorted(MIDI_SUFFIXES))})")
    return rows


def print_rows(rows: list[Row]) -> None:
    width = max([len(r.file) for r in rows] + [4])
    print(f"{'file':<{width}}  {'model':<17}  {'steps':>6}  {'worst diff':>10}  {'allocs':>6}  verdict")
    for r in rows:
        steps = "" if r.steps is None else str(r.steps)
        worst = "" if r.worst is None else f"{r.worst:.2e}"
        allocations = "" if r.allocations is None else str(r.allocations)
        print(f"{r.file:<{width}}  {r.model:<17}  {steps:>6}  {worst:>10}  {allocations:>6}  {r.verdict}")


class NativeCheckCommand(Command):
    help = "compute each model's features in C++ (KelFeatures.h) and in Python on your files and compare them"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("models_dir", type=Path, metavar="MODELS_DIR", help="folder of exported models")
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio or MIDI files")
        parser.add_argument("--host-rates", default="", help="comma-separated host sample rates to simulate for "
                                                              "audio files (default: each file's own rate)")
        parser.add_argument("--build-dir", type=Path, help="where the drivers are built (default: a cache folder)")
        parser.add_argument("--recording", type=Path, help="a kel::Runtime recording (writeRecording) of the one "
                                                             "MIDI file given: compare what the plugin fed its models")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: argparse.Namespace) -> int:
        try:
            rates = [int(r) for r in args.host_rates.split(",") if r.strip()]
        except ValueError:
            print(f"kelcore native-check: --host-rates {args.host_rates!r}: expected integers such as 44100,48000",
                  file=sys.stderr)
            return 2
        build = args.build_dir or Path(os.environ.get("KELCORE_CACHE_DIR") or Path.home() / ".cache" / "kelcore") \
            / "native"
        try:
            rows = native_check(args.models_dir, args.files, build, rates, args.recording)
        except InputError as exc:
            print(f"kelcore native-check: {exc}", file=sys.stderr)
            return 2
        except BuildError as exc:
            print(f"kelcore native-check: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps([r.__dict__ for r in rows], indent=2))
        else:
            print_rows(rows)
        return 1 if any(r.failed for r in rows) else 0


__all__ = ["NativeCheckCommand", "native_check", "read_models", "InputError", "Row"]
