"""PMEmo2019: ``metadata.csv``, ``chorus/<musicId>.mp3`` and ``annotations/dynamic_annotations.csv``
(``musicId,frameTime,Arousal(mean),Valence(mean)``: arousal BEFORE valence, values in [0, 1], frames from
15.5 s at 2 Hz). Values are mapped to [-1, 1] by ``2x - 1``. Songs without annotations are counted as
unlabelled and skipped. No official split: a seeded split by song.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from kelcore.api import DatasetOptions, Track
from kel_audio_features import EmotionAudioDataset

DYNAMIC_COLUMNS = ("musicId", "frameTime", "Arousal(mean)", "Valence(mean)")


class PmemoOptions(DatasetOptions):
    pass


def find_root(root: Path) -> Path:
    for candidate in (root, root / "PMEmo2019"):
        if (candidate / "metadata.csv").exists():
            return candidate
    raise FileNotFoundError(f"{root}: no metadata.csv (expected the PMEmo2019 folder)")


def read_dynamic(path: Path) -> dict[str, dict[str, list[float]]]:
    series: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"times": [], "valence": [], "arousal": []})
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in DYNAMIC_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}; expected {', '.join(DYNAMIC_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                song = row["musicId"].strip()
                time, arousal, valence = (float(row[c]) for c in DYNAMIC_COLUMNS[1:])
            except (ValueError, TypeError, AttributeError):
                raise ValueError(f"{path}:{line}: expected a musicId and three numbers "
                                 f"({', '.join(DYNAMIC_COLUMNS[1:])}), got {list(row.values())}") from None
            entry = series[song]
            entry["times"].append(time)
            entry["arousal"].append(2 * arousal - 1)   # [0, 1] -> [-1, 1]
            entry["valence"].append(2 * valence - 1)
    return {song: _in_time_order(entry) for song, entry in series.items()}


def _in_time_order(entry: dict[str, list[float]]) -> dict[str, list[float]]:
    """The model is fed frames in order: sort by frameTime in case rows are not."""
    order = np.argsort(entry["times"], kind="stable")
    return {key: [values[i] for i in order] for key, values in entry.items()}


def read_index(root: Path) -> list[Track]:
    base = find_root(root)
    dynamic = read_dynamic(base / "annotations" / "dynamic_annotations.csv")
    with open(base / "metadata.csv", newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "musicId" not in (reader.fieldnames or []):
            raise ValueError(f"{base / 'metadata.csv'}: header {reader.fieldnames} has no musicId column")
        rows = [row for row in reader if (row["musicId"] or "").strip()]
    ids = [row["musicId"].strip() for row in rows]
    return [Track(song, _chorus(base, song), song, None, dynamic.get(song)) for song in ids]


def _chorus(base: Path, song: str) -> Path:
    """``chorus/<musicId>.mp3`` as released; a WAV of the same name is read too."""
    mp3 = base / "chorus" / f"{song}.mp3"
    wav = mp3.with_suffix(".wav")
    return wav if not mp3.exists() and wav.exists() else mp3


class PmemoDataset(EmotionAudioDataset):
    """PMEmo2019 -> EmotionRecognizer sequences (one step per annotated 0.5 s frame)."""

    Options = PmemoOptions
    name = "pmemo"

    def read_index(self, root: Path) -> list[Track]:
        return read_index(root)

    @classmethod
    def write_demo(cls, path: Path, seed: int = 0, songs: int = 24, unlabelled: int = 2) -> None:
        """metadata.csv, chorus/*.mp3 and annotations/, with a few unlabelled songs as in the release."""
        from kel_audio_features import drifting_labels, synthesize, write_demo_audio

        rng = np.random.default_rng(seed)
        root = Path(path)
        for folder in ("chorus", "annotations"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        metadata = ["musicId,fileName,title,artist,album,duration,chorus_start_time,chorus_end_time"]
        dynamic, static = [",".join(DYNAMIC_COLUMNS)], ["musicId,Arousal(mean),Valence(mean)"]
        for index in range(songs):
            music_id = str(1 + index * 3)
            valence, arousal = drifting_labels(rng, 90)
            write_demo_audio(root / "chorus" / music_id, synthesize(valence, arousal, seed * 7919 + index))
            metadata.append(f'{music_id},{music_id}.mp3,"Demo, Song {index}",Demo Artist,Demo Album,45.0,60.0,105.0')
            if index >= songs - unlabelled:
                continue
            for frame in range(30, 89):   # frameTime 15.5 s ... 44.5 s
                dynamic.append(f"{music_id},{(frame + 1) / 2:.1f},{(arousal[frame] + 1) / 2:.4f},"
                               f"{(valence[frame] + 1) / 2:.4f}")
            static.append(f"{music_id},{(arousal.mean() + 1) / 2:.4f},{(valence.mean() + 1) / 2:.4f}")
        (root / "metadata.csv").write_text("\n".join(metadata) + "\n")
        (root / "annotations" / "dynamic_annotations.csv").write_text("\n".join(dynamic) + "\n")
        (root / "annotations" / "static_annotations.csv").write_text("\n".join(static) + "\n")
