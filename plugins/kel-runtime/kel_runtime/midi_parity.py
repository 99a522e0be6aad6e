"""The C++ side of the MIDI feature contracts (kel_contracts/native/KelMidiFeatures.h) against the Python training
features (kel_midi_features): build the driver (native/drivers/midi_driver.cpp), hand it a parsed song as a plugin
would receive it, and compare its vectors with the training functions element by element."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import kel_contracts
from kel_contracts import timing
from kel_midi_features import (MODELS, MidiError, Song, TooShort, emotion_proxy, estimate_key, harmony_bars,
                               load_song, melody_part, training_features)

from . import build, native_dir

DRIVER = "drivers/midi_driver.cpp"
HEADERS = ("KelMidiFeatures.h", "KelContracts.h")


def build_midi_driver(build_dir: Path, cxx: str | None = None) -> Path:
    """Compile the driver with g++ (or ``cxx`` / $CXX); cached in ``build_dir`` by a hash of the sources, compiler
    and flags. Raises :class:`kel_runtime.build.BuildError` with the compiler's output when it fails."""
    contracts = kel_contracts.native_dir()
    return build.build(native_dir() / DRIVER, [*build.DRIVER_FLAGS, f"-I{contracts}"], build_dir,
                       inputs=[contracts / h for h in HEADERS], cxx=cxx)


def _hex(value: float) -> str:
    return float(value).hex()


def _ticks(beats) -> list[int]:
    """Grid ticks of times in beats (exact: the song's beats are grid ticks / TICKS_PER_BEAT)."""
    return timing.ticks(beats).tolist()


def _notes(pitch, onset, duration, velocity) -> list[str]:
    on, off = _ticks(onset), _ticks(np.asarray(onset) + np.asarray(duration))
    return [f"{int(p)} {a} {b} {int(v)}" for p, a, b, v in zip(pitch, on, off, velocity)]


def write_song(song: Song, path: Path, models: list[str]) -> None:
    """The parsed song as the driver reads it (what a plugin has: notes, tempo map, bar map, pedal, key and
    emotion; the melody line and key are the training-side choices)."""
    try:
        line = melody_part(song)
    except TooShort:
        line = None
    tonic, major = estimate_key(song)
    valence, arousal = emotion_proxy(song, major)
    bars = song.bar_map
    start, end = harmony_bars(song)
    rows = ["kelmidi 3", f"end {_hex(song.end)}", f"tempos {len(song.tempo_times)}"]
    rows += [f"{t} {_hex(q)}" for t, q in zip(_ticks(song.tempo_times), song.tempo_qpm)]
    rows += [f"segments {len(bars.start)}"]
    rows += [f"{s} {_hex(n)} {int(f)}" for s, n, f in zip(_ticks(bars.start), bars.length, bars.first_bar)]
    rows += [f"harmony_bars {len(start)}"] + [f"{_hex(s)} {_hex(e)}" for s, e in zip(start, end)]
    rows += [f"pedal {len(song.pedal_times)}"]
    rows += [f"{t} {int(v)}" for t, v in zip(_ticks(song.pedal_times), song.pedal_values)]
    rows += [f"key {tonic} {int(major)} {_hex(valence)} {_hex(arousal)}", f"tracks {len(song.parts)}"]
    for part in song.parts:
        rows.append(f"{int(part.is_drum)} {len(part.pitch)}")
        rows += _notes(part.pitch, part.onset, part.duration, part.velocity)
    if line is None:
        rows.append("melody 0")
    else:
        rows.append(f"melody {len(line.pitch)}")
        rows += _notes(line.pitch, line.onset, line.duration, line.velocity)
    rows.append(f"models {len(models)} {' '.join(models)}")
    Path(path).write_text("\n".join(rows) + "\n", encoding="ascii")


def read_results(path: Path) -> dict[str, dict]:
    """The driver's output: model -> {"values": [rows, cols] float32, "allocations": int, "dropped": int}."""
    out, lines, index = {}, Path(path).read_text().splitlines(), 0
    while index < len(lines):
        head = lines[index].split()
        name, rows, cols = head[1], int(head[3]), int(head[5])
        values = np.loadtxt(lines[index + 1:index + 1 + rows], dtype=np.float64, ndmin=2).reshape(rows, cols)
        out[name] = {"values": values.astype(np.float32), "allocations": int(head[7]), "dropped": int(head[9])}
        index += 1 + rows
    return out


def compare_midi(driver: Path, midi_path: Path) -> dict[str, dict]:
    """Every model's C++ vectors (driver) against the Python training features of ``midi_path``: ModelSpec name
    (MelodyTransformer, HarmonyPredictor, DynamicsEngine, GroovePredictor) ->
    {"steps", "worst" (largest absolute element difference), "allocations" (heap allocations while streaming),
    "dropped" (notes or hits the fixed-capacity state could not hold)} or {"skipped": reason}."""
    try:
        song = load_song(Path(midi_path))
    except MidiError as exc:
        return {spec: {"skipped": str(exc)} for spec in MODELS.values()}
    expected = training_features(song)
    report: dict[str, dict] = {m: {"skipped": v} for m, v in expected.items() if isinstance(v, str)}
    models = [m for m in MODELS if not isinstance(expected.get(m), str)]
    if not models:
        return report
    with tempfile.TemporaryDirectory(prefix="kel-midi-") as folder:
        song_file, out_file = Path(folder) / "song.txt", Path(folder) / "out.txt"
        write_song(song, song_file, models)
        done = subprocess.run([str(driver), str(song_file), str(out_file)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"midi driver failed on {midi_path}: {done.stderr.strip()}")
        results = read_results(out_file)
    for model in models:
        python, native = expected[model], results[model]["values"]
        rows = len(python)
        same_rows = len(native) >= rows if model == "dynamics" else len(native) == rows   # training keeps MAX_NOTES
        if not same_rows or native.shape[1] != python.shape[1]:
            report[model] = {"steps": rows, "worst": float("inf"), "allocations": results[model]["allocations"],
                             "error": f"C++ gave {native.shape}, Python {python.shape}"}
            continue
        difference = np.abs(native[:rows].astype(np.float64) - python.astype(np.float64))
        report[model] = {"steps": rows, "worst": float(difference.max(initial=0.0)),
                         "allocations": results[model]["allocations"], "dropped": results[model]["dropped"]}
    return {MODELS[m]: report[m] for m in MODELS if m in report}
