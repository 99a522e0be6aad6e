"""MIDI feature extraction: this project's path against a straightforward pretty_midi version, in one run.

    python benchmarks/preprocess_midi.py [--folder DIR] [--songs N] [--quick]

``--quick`` (what the test suite runs): 4 generated files, no targets checked, same comparison printed.

Both compute the MelodyTransformer features of docs/CONTRACTS.md (melody line, key, 64 inputs per note)
of the same files. "Straightforward" = pretty_midi parsing and per-note Python loops in one process, the
way such code is usually first written. "kelcore" = the lakh plugin's extractor (symusic + numpy)
through kelcore.data: all cores, then the same run again with the feature cache warm.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pretty_midi

from kel_plugin_lakh.dataset import LakhDataset, extract, read_index
from kel_midi_features.features import DURATION_CLASSES, MAJOR_PROFILE, MELODY_NAMES, MINOR_PROFILE
from kelcore.data import Track, default_workers, extract_tracks


def straightforward_melody(path: Path) -> np.ndarray:
    """The same features, written plainly: pretty_midi objects and Python loops."""
    midi = pretty_midi.PrettyMIDI(str(path))
    beats = lambda seconds: midi.time_to_tick(seconds) / midi.resolution  # noqa: E731
    pitched = [i for i in midi.instruments if not i.is_drum and i.notes]
    candidates = [i for i in pitched if len(i.notes) >= 16] or pitched
    named = [i for i in candidates if any(w in i.name.lower() for w in MELODY_NAMES)]
    chosen = named[0] if named else max(candidates, key=lambda i: sum(n.pitch for n in i.notes) / len(i.notes))
    notes = sorted(chosen.notes, key=lambda n: (n.start, -n.pitch))
    line = []
    for note in notes:
        if not line or beats(note.start) - beats(line[-1].start) > 1 / 16:
            line.append(note)
    profile = [0.0] * 12
    for instrument in pitched:
        for note in instrument.notes:
            profile[note.pitch % 12] += beats(note.end) - beats(note.start)
    best, tonic, major = -2.0, 0, True
    for t in range(12):
        for is_major, template in ((True, MAJOR_PROFILE), (False, MINOR_PROFILE)):
            score = np.corrcoef(profile, np.roll(template, t))[0, 1]
            if score > best:
                best, tonic, major = score, t, is_major
    signature = midi.time_signature_changes[0] if midi.time_signature_changes else None
    bar = signature.numerator * 4 / signature.denominator if signature else 4.0
    qpm = midi.get_tempo_changes()[1][0] if len(midi.get_tempo_changes()[1]) else 120.0
    velocity = sum(n.velocity for i in pitched for n in i.notes) / sum(len(i.notes) for i in pitched)
    arousal = min(max((qpm - 100) / 60 + (velocity - 64) / 64, -1), 1)
    rows = []
    for i, note in enumerate(line):
        x = [0.0] * 64
        if i == 0:
            x[23] = 1
        else:
            prev = line[i - 1]
            x[prev.pitch % 12] = 1
            x[12 + min(prev.pitch // 12, 10)] = 1
            x[23] = float(beats(note.start) - beats(prev.end) >= 1)
            duration = np.log2(max(beats(prev.end) - beats(prev.start), 1e-3))
            x[24 + int(np.argmin([abs(duration - c) for c in DURATION_CLASSES]))] = 1
        x[32 + int(round((beats(note.start) % bar) * 4)) % 16] = 1
        x[48 + tonic] = 1
        x[60] = 1.0 if major else 0.0
        x[61], x[62], x[63] = (0.5 if major else -0.5), arousal, min(qpm / 200, 1)
        rows.append(x)
    return np.asarray(rows, dtype=np.float32)


def typical_corpus(folder: Path, songs: int, seed: int = 7) -> None:
    """Lakh-layout files the size of a typical LMD file: four demo songs' tracks merged (~16 tracks,
    ~2,500 notes), named by the md5 of their content."""
    import hashlib
    import io

    import mido

    from kel_midi_features import compose

    for index in range(songs):
        merged = mido.MidiFile(ticks_per_beat=480)
        for part in range(4):
            midi, _ = compose(seed * 1_000 + index * 4 + part)
            merged.tracks.extend(midi.tracks if part == 0 else midi.tracks[1:])
        buffer = io.BytesIO()
        merged.save(file=buffer)
        md5 = hashlib.md5(buffer.getvalue()).hexdigest()
        (folder / "lmd_full" / md5[0]).mkdir(parents=True, exist_ok=True)
        (folder / "lmd_full" / md5[0] / f"{md5}.mid").write_bytes(buffer.getvalue())


def timed(label: str, function) -> float:
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    print(f"  {label:<44} {seconds:7.2f} s", file=sys.stderr)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="a Lakh-layout folder (default: a generated demo corpus)")
    parser.add_argument("--songs", type=int, default=150, help="files to generate without --folder")
    parser.add_argument("--quick", action="store_true", help="tiny corpus (CI): 4 generated files")
    args = parser.parse_args(argv)
    if args.quick:
        args.songs = 4
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp) / "lakh"
            typical_corpus(folder, args.songs)
        tracks: list[Track] = read_index(folder)
        # the extractor takes the dataset's feature configuration (a dict), exactly as a run passes it
        config = LakhDataset(LakhDataset.Options(root=folder, task="melody")).feature_config()
        cache = Path(tmp) / "cache"
        workers = default_workers()
        print(f"{len(tracks)} MIDI files from {folder}, {workers} worker processes", file=sys.stderr)
        naive = timed("straightforward (pretty_midi, loops, 1 process)",
                      lambda: [straightforward_melody(t.path) for t in tracks])
        serial = timed("kelcore extractor (symusic + numpy, 1 process)",
                       lambda: [extract(t, config) for t in tracks])
        first = timed(f"kelcore pipeline, cold cache ({workers} processes)",
                      lambda: extract_tracks(tracks, extract, config, cache, workers, False, "bench"))
        cached = timed("kelcore pipeline, warm cache (re-run)",
                       lambda: extract_tracks(tracks, extract, config, cache, workers, False, "bench"))
        shutil.rmtree(cache, ignore_errors=True)
    n = len(tracks)
    print(f"\n{'path':<40}{'files/s':>10}{'vs straightforward':>20}")
    for label, seconds in (("straightforward pretty_midi", naive), ("kelcore, 1 process", serial),
                           (f"kelcore, {workers} processes, cold cache", first), ("kelcore, warm cache", cached)):
        print(f"{label:<40}{n / seconds:>10.1f}{naive / seconds:>19.1f}x")
    print(f"\nratio kelcore (cold) / straightforward: {naive / first:.1f}x (target >= 20x)")
    print(f"ratio cached re-run / first run:        {first / cached:.1f}x (target >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
