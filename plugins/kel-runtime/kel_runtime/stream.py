"""Playing a song into kel::Runtime as a host would, and comparing what the runtime fed its models with what training
computed for the same file.

``write_stream`` turns a parsed song into the host's view (events at absolute sample positions, the tempo and bar
maps the host reports per block); ``native/drivers/stream_player.cpp`` plays it in blocks into the runtime and writes
the runtime's recording; ``compare_recording`` holds every recorded model input against training's features
(kel_midi_features) and every recorded output against PyTorch on the recorded inputs.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import kel_contracts
from kel_contracts import timing
from kel_midi_features import MODELS as MODEL_KEYS

from . import build as builder
from . import native_dir

PLAYER = "drivers/stream_player.cpp"
FLAGS = ("-std=c++17", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-pthread", "-DRTNEURAL_USE_EIGEN=1",
         "-DRTNEURAL_DEFAULT_ALIGNMENT=16", "-DEIGEN_STACK_ALLOCATION_LIMIT=0")
BUILDS = {   # sanitizer builds cannot wrap malloc (the sanitizers own it): they leave the allocation count out
    "release": ("-O2",),
    "thread": ("-O1", "-g", "-fsanitize=thread", "-DKEL_NO_MALLOC_HOOKS"),
    "address": ("-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                "-fno-omit-frame-pointer", "-DKEL_NO_MALLOC_HOOKS"),
}
MELODY_CHANNEL = 0
DRUM_CHANNEL = 9
PEDAL_CHANNEL = 1
OUTPUT_TOLERANCE = 1e-5


class PlayerError(RuntimeError):
    """The stream player failed (building it raises :class:`kel_runtime.build.BuildError`)."""


def cache_root() -> Path:
    """Where builds are cached by their hash: ``$KEL_RUNTIME_CACHE`` or ``~/.cache/kel-runtime``."""
    return Path(os.environ.get("KEL_RUNTIME_CACHE") or Path.home() / ".cache" / "kel-runtime")


def build_player(build_dir: Path, rtneural: Path, build: str = "release", cxx: str | None = None,
                 driver: str = PLAYER) -> Path:
    """Compile the stream player (also the misbehaving host: ``--bad-host``, drivers/bad_host.h) against the runtime,
    ``build`` release, thread or address, with g++ or ``cxx`` / $CXX; cached in ``build_dir`` by a hash of the
    sources, compiler and flags. Raises :class:`kel_runtime.build.BuildError`."""
    contracts = kel_contracts.native_dir()
    flags = [*FLAGS, *BUILDS[build], f"-I{native_dir()}", f"-I{contracts}", "-isystem", str(rtneural),
             "-isystem", str(Path(rtneural) / "modules" / "Eigen")]
    headers = [*native_dir().glob("*.h"), *native_dir().glob("drivers/*.h"), *contracts.glob("*.h")]
    return builder.build(native_dir() / driver, flags, build_dir, inputs=headers, name=f"{Path(driver).stem}-{build}",
                         cxx=cxx)


def _hex(value: float) -> str:
    return float(value).hex()


def tempo_segments(song) -> list[tuple[float, float, float]]:
    """(start beat, start seconds, qpm) of every tempo in force, from beat 0 (kel_contracts.timing: the last of
    several events at one time counts, DEFAULT_QPM before the first)."""
    times, qpms = list(map(float, song.tempo_times)), list(map(float, song.tempo_qpm))
    beats, tempos = [0.0], [timing.DEFAULT_QPM]
    for t, q in zip(times, qpms):
        if t <= beats[-1]:
            tempos[-1] = q
        else:
            beats.append(t)
            tempos.append(q)
    seconds = [0.0]
    for k in range(1, len(beats)):
        seconds.append(seconds[-1] + (beats[k] - beats[k - 1]) * 60.0 / tempos[k - 1])
    return list(zip(beats, seconds, tempos))


def seconds_of(beats: np.ndarray, segments: list[tuple[float, float, float]]) -> np.ndarray:
    starts = np.array([s[0] for s in segments])
    k = np.maximum(np.searchsorted(starts, beats, side="right") - 1, 0)
    base = np.array([s[1] for s in segments])[k]
    qpm = np.array([s[2] for s in segments])[k]
    return base + (np.asarray(beats, np.float64) - starts[k]) * 60.0 / qpm


def _signature(length: float) -> tuple[int, int]:
    for denominator in (4, 8, 16, 32, 2, 1):
        numerator = length * denominator / 4.0
        if numerator == int(numerator) and numerator >= 1:
            return int(numerator), denominator
    raise ValueError(f"bar length {length} beats is no time signature")


def _source_part(song, line):
    """The track the melody line was taken from (the runtime takes the top line itself)."""
    wanted = set(zip(line.onset.tolist(), line.pitch.tolist()))
    for part in song.pitched():
        if part.name == line.name and wanted <= set(zip(part.onset.tolist(), part.pitch.tolist())):
            return part
    raise ValueError("the melody line's track is not among the song's parts")


def _channels(song, melody) -> list[int]:
    """A MIDI channel per part: drums on 10, the melody track alone on its channel, the others spread over the
    remaining ones (a host's tracks each have their own)."""
    free = [c for c in range(16) if c not in (MELODY_CHANNEL, DRUM_CHANNEL)]
    out, spare = [], 0
    for part in song.parts:
        if part.is_drum:
            out.append(DRUM_CHANNEL)
        elif part is melody:
            out.append(MELODY_CHANNEL)
        else:
            out.append(free[spare % len(free)])
            spare += 1
    return out


@dataclass
class Stream:
    path: Path
    conditioning: dict[str, Any]
    expected: dict[str, np.ndarray | str]


def write_stream(song, path: Path, models: list[Path], rate: float, block: int, mode: str = "sync",
                 record: int | None = None, audio: np.ndarray | None = None) -> Stream:
    """The song as a host plays it (notes on the contracts' grid, at the sample their time falls on), the
    conditioning training derived (key, mood proxy, melody track), and training's features for comparison.
    ``audio``: [frames, channels] float32 at ``rate`` delivered with the blocks (silence after its end)."""
    from kel_midi_features import TooShort, emotion_proxy, estimate_key, melody_part, training_features

    try:
        melody = _source_part(song, melody_part(song))
    except TooShort:
        melody = None
    tonic, major = estimate_key(song)
    valence, arousal = emotion_proxy(song, major)
    segments = tempo_segments(song)
    channels = _channels(song, melody)
    rows: list[tuple[int, int, int, int, int]] = []   # (sample, order, kind, channel, number, value) sorted below
    for part, channel in zip(song.parts, channels):
        on = np.rint(seconds_of(part.onset, segments) * rate).astype(np.int64)
        off = np.rint(seconds_of(part.onset + part.duration, segments) * rate).astype(np.int64)
        for a, b, p, v in zip(on.tolist(), off.tolist(), part.pitch.tolist(), part.velocity.tolist()):
            rows.append((a, 2, 0, channel, int(p), max(int(v), 1)))
            rows.append((b, 0 if b > a else 3, 1, channel, int(p), 0))
    pedal = np.rint(seconds_of(song.pedal_times, segments) * rate).astype(np.int64)
    for s, v in zip(pedal.tolist(), song.pedal_values.tolist()):
        rows.append((s, 1, 2, PEDAL_CHANNEL, 64, int(v)))
    rows.sort(key=lambda r: (r[0], r[1]))
    end = int(np.rint(seconds_of(np.array([song.end]), segments)[0] * rate))
    bars = song.bar_map
    expected = training_features(song)
    steps = sum(len(v) for v in expected.values() if not isinstance(v, str))
    text = ["kelstream 1", f"rate {_hex(rate)} block {block} mode {mode} record {record or 4 * steps + 4096}",
            f"models {len(models)}", *map(str, models),
            f"conditioning {tonic} {int(major)} {_hex(valence)} {_hex(arousal)} {MELODY_CHANNEL} 0",
            f"tempos {len(segments)}", *[f"{_hex(b)} {_hex(s)} {_hex(q)}" for b, s, q in segments],
            f"bars {len(bars.start)}"]
    for start, length, first in zip(bars.start, bars.length, bars.first_bar):
        numerator, denominator = _signature(float(length))
        text.append(f"{_hex(start)} {numerator} {denominator} {int(first)}")
    text.append(f"events {len(rows)}")
    text += [f"{s} {k} {c} {n} {v}" for s, _, k, c, n, v in rows]
    if audio is None:
        text += [f"end {end}", "audio 0 -"]
    else:
        raw = Path(path).with_suffix(".f32")
        np.ascontiguousarray(audio, dtype=np.float32).tofile(raw)
        text += [f"end {end}", f"audio {audio.shape[1]} {raw}"]
    Path(path).write_text("\n".join(text) + "\n", encoding="ascii")
    return Stream(Path(path), {"key": (tonic, major), "mood": (valence, arousal),
                               "melody_track": None if melody is None else melody.name}, expected)


def run_player(player: Path, stream: Path, recording: Path, timeout: float = 600) -> dict[str, int]:
    """Plays the stream; the player's counters (allocations on the audio thread, drops, ...)."""
    done = subprocess.run([str(player), str(stream), str(recording)], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise PlayerError(f"stream player failed ({done.returncode}): {done.stderr[-4000:]}")
    line = next(row for row in done.stdout.splitlines() if row.startswith("counters "))
    words = line.split()[1:]
    counters = {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}
    counters["stderr"] = done.stderr   # type: ignore[assignment]
    return counters


def read_recording(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """A runtime recording: ModelSpec name -> {"inputs": [n, in], "outputs": [n, out], "ppq": [n], "step": [n]}."""
    lines = Path(path).read_text(encoding="ascii").splitlines()
    if not lines or lines[0].split() != ["kelrecording", "1"]:
        raise ValueError(f"{path}: not a kel::Runtime recording (first line 'kelrecording 1' expected)")
    grouped: dict[str, list[list[str]]] = {}
    for number, line in enumerate(lines[1:], start=2):
        words = line.split()
        if len(words) < 4:
            raise ValueError(f"{path}:{number}: a step line needs model, step, ppq and its vectors")
        grouped.setdefault(words[0], []).append(words[1:])
    out = {}
    for model, rows in grouped.items():
        size_in = int(rows[0][2])
        size_out = int(rows[0][3 + size_in])
        values = np.array([[float(w) for w in row] for row in rows], dtype=np.float64)
        out[model] = {"step": values[:, 0].astype(np.int64), "ppq": values[:, 1],
                      "inputs": values[:, 3:3 + size_in].astype(np.float32),
                      "outputs": values[:, 4 + size_in:4 + size_in + size_out].astype(np.float32)}
    return out


def torch_outputs(document: dict[str, Any], inputs: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """PyTorch's outputs on the recorded raw inputs (normalised as training does), the state reset where the
    recording's step count starts again (a new song)."""
    from .torch_engine import TorchEngine

    engine = TorchEngine(document)
    norm = document["metadata"]["feature_contract"]["normalization"]
    mean = np.asarray(norm["mean"], np.float32)
    std = np.asarray(norm["std"], np.float32)
    out = []
    for x, step in zip(inputs, steps):
        if step == 0:
            engine.reset()
        out.append(engine.step((x - mean) / std))
    return np.asarray(out, np.float32).reshape(len(inputs), -1)


def compare_recording(recording: dict[str, dict[str, np.ndarray]], expected: dict[str, Any],
                      documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per MIDI model: training's rows, the runtime's rows, the worst input difference over the rows both have
    (training's dynamics rows stop at its MAX_NOTES; the runtime's groove rows may go on with empty bars to the
    transport stop: those must be all zero), how many rows differ, and the worst output difference against
    PyTorch."""
    report: dict[str, dict[str, Any]] = {}
    for key, model in MODEL_KEYS.items():
        want = expected.get(key)
        got = recording.get(model)
        if isinstance(want, str) or want is None:
            report[model] = {"skipped": want or "no training features"}
            continue
        if got is None:
            report[model] = {"training_rows": len(want), "runtime_rows": 0, "error": "the runtime made no step"}
            continue
        inputs = got["inputs"]
        rows = min(len(want), len(inputs))
        diff = np.abs(inputs[:rows].astype(np.float64) - want[:rows].astype(np.float64))
        entry = {"training_rows": len(want), "runtime_rows": len(inputs), "worst_input": float(diff.max(initial=0)),
                 "rows_differing": int((diff.max(axis=1) > 0).sum()) if rows else 0,
                 "first_differing": int(np.argmax(diff.max(axis=1) > 0)) if rows and diff.max() > 0 else None}
        extra = inputs[rows:]
        entry["extra_rows_nonzero"] = int((np.abs(extra).max(axis=1) > 0).sum()) if len(extra) else 0
        if model in documents:
            reference = torch_outputs(documents[model], inputs, got["step"])
            entry["worst_output"] = float(np.abs(reference.astype(np.float64) - got["outputs"]).max(initial=0))
        report[model] = entry
    return report


def load_documents(models: list[Path]) -> dict[str, dict[str, Any]]:
    documents = {}
    for path in models:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        documents[document["metadata"]["model"]] = document
    return documents
