"""DEAM: ``MEMD_audio/<song_id>.mp3`` + ``annotations/annotations averaged per song/dynamic (per second
annotations)/{arousal,valence}.csv`` (2 Hz from 15 s, values in [-1, 1], rows of unequal length ending in
empty cells). Mirror layouts add a level (``DEAM_audio/MEMD_audio``, ``DEAM_Annotations/annotations``).
No official split: a seeded split by song.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from kelcore.api import DatasetOptions, Track
from kel_audio_features import EmotionAudioDataset

DYNAMIC = Path("annotations averaged per song") / "dynamic (per second annotations)"
SAMPLE = re.compile(r"^\s*sample_(\d+)ms\s*$")


class DeamOptions(DatasetOptions):
    pass


def _find_one(root: Path, pattern: str, what: str) -> Path:
    found = sorted(root.glob(pattern))
    if not found:
        raise FileNotFoundError(f"{root}: no {what} ({pattern}) in the DEAM layout or its mirrors")
    return found[0]


def _audio_dir(root: Path) -> Path:
    """``MEMD_audio`` (or a mirror's ``DEAM_audio/MEMD_audio``); if it was not extracted, where it belongs, so
    every song is reported missing rather than the run failing on a bare FileNotFoundError."""
    for candidate in (root / "MEMD_audio", root / "DEAM_audio" / "MEMD_audio"):
        if candidate.is_dir():
            return candidate
    found = sorted(p for p in root.glob("**/MEMD_audio") if p.is_dir())
    return found[0] if found else root / "MEMD_audio"


def read_dynamic(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """song_id -> (times in s, values) from one dynamic CSV; empty trailing cells are dropped."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path}: empty file, expected a song_id,sample_15000ms,... header")
    header = [cell.strip() for cell in rows[0]]
    if header[0] != "song_id":
        raise ValueError(f"{path}: first column is {header[0]!r}, expected song_id")
    times = []
    for column, name in enumerate(header[1:], start=2):
        match = SAMPLE.match(name)
        if not match:
            raise ValueError(f"{path}: column {column} is {name!r}, expected sample_<ms>ms")
        times.append(int(match.group(1)) / 1000.0)
    series = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        cells = [c.strip() for c in row[1:]]
        filled = [i for i, c in enumerate(cells) if c]
        try:
            values = np.array([float(cells[i]) for i in filled])
        except ValueError as exc:
            raise ValueError(f"{path}:{line}: song {row[0].strip()}: {exc}") from None
        series[row[0].strip()] = (np.asarray(times)[filled], values)
    return series


def read_static(folder: Path) -> set[str]:
    """Song ids of the song-level files. Their headers have a space after each comma, and the 2000-2058 file
    has 13 columns instead of 5: read by column name, stripped."""
    songs: set[str] = set()
    for path in sorted(folder.glob("static_annotations_averaged_songs_*.csv")):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            header = [cell.strip() for cell in next(reader, [])]
            if "song_id" not in header or "valence_mean" not in header or "arousal_mean" not in header:
                raise ValueError(f"{path}: header {header} lacks song_id, valence_mean or arousal_mean")
            column = header.index("song_id")
            songs |= {row[column].strip() for row in reader if row and row[column].strip()}
    return songs


def read_index(root: Path) -> list[Track]:
    """Every song with audio or annotations (dynamic or song-level); labels from the dynamic files."""
    arousal_csv = _find_one(root, f"**/{DYNAMIC}/arousal.csv", "dynamic arousal annotations")
    valence = read_dynamic(arousal_csv.with_name("valence.csv"))
    arousal = read_dynamic(arousal_csv)
    static = read_static(arousal_csv.parent.parent / "song_level")
    audio_dir = _audio_dir(root)
    audio = {p.stem: p for p in audio_dir.glob("*") if p.suffix.lower() in (".mp3", ".wav")}
    tracks = []
    listed = set(audio) | set(arousal) | set(valence) | static
    for song in sorted(listed, key=lambda s: int(s) if s.isdigit() else 0):
        labels = None
        if song in arousal and song in valence:
            (t_a, a), (t_v, v) = arousal[song], valence[song]
            common, ia, iv = np.intersect1d(t_a, t_v, return_indices=True)
            labels = {"times": common.tolist(), "valence": v[iv].tolist(), "arousal": a[ia].tolist()}
        tracks.append(Track(song, audio.get(song, audio_dir / f"{song}.mp3"), song, None, labels))
    return tracks


class DeamDataset(EmotionAudioDataset):
    """DEAM -> EmotionRecognizer sequences (one step per annotated 0.5 s frame)."""

    Options = DeamOptions
    name = "deam"

    def read_index(self, root: Path) -> list[Track]:
        return read_index(root)

    @classmethod
    def write_demo(cls, path: Path, seed: int = 0) -> None:
        from .demo import write_demo

        write_demo(Path(path), seed)
