"""MAESTRO v3.0.0 (and v2): ``maestro-v3.0.0.csv`` (or the JSON) + ``<year>/<name>.midi``.

The official split column is used as it is (pieces never leak across sides). The CSV is read with a
real CSV reader (titles contain commas and doubled quotes); the JSON is accepted in both shapes: v2's
list of records and v3's column-wise object.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from kelcore.api import DatasetOptions, Extracted, IndexedDataset, Track
from kel_midi_features import (Part, Song, check_midi, dynamics_features, extracted, feature_config,
                                      melody_features, melody_part)

TASKS = {"melody": "MelodyTransformer", "dynamics": "DynamicsEngine"}
REQUIRED = ("canonical_composer", "canonical_title", "split", "midi_filename")


class MaestroOptions(DatasetOptions):
    task: Literal["melody", "dynamics"] = Field("dynamics", description="which model's features to produce")


def _records_from_json(data: Any, source: Path) -> list[dict[str, str]]:
    if isinstance(data, list):                                   # v2: a list of records
        return data
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):   # v3: column -> {row: value}
        rows = sorted(next(iter(data.values())), key=int)
        return [{column: values.get(row) for column, values in data.items()} for row in rows]
    raise ValueError(f"{source}: neither a list of records (v2) nor a column-wise object (v3)")


def read_records(root: Path) -> tuple[Path, list[dict[str, str]]]:
    """Metadata rows: the CSV if present (preferred), else the JSON."""
    for pattern in ("maestro-v*.csv", "maestro-v*.json"):
        found = sorted(root.glob(pattern))
        if found:
            source = found[-1]
            if source.suffix == ".csv":
                with open(source, newline="", encoding="utf-8") as handle:
                    records = list(csv.DictReader(handle))
            else:
                records = _records_from_json(json.loads(source.read_text(encoding="utf-8")), source)
            missing = [c for c in REQUIRED if records and c not in records[0]]
            if missing:
                raise ValueError(f"{source}: missing columns {', '.join(missing)}")
            return source, records
    raise FileNotFoundError(f"{root}: no maestro-v*.csv or maestro-v*.json (expected the folder the MAESTRO "
                            "archive was extracted into, e.g. maestro-v3.0.0/)")


def read_index(root: Path) -> list[Track]:
    source, records = read_records(root)
    tracks = []
    for number, record in enumerate(records, start=2):
        if record["split"] not in ("train", "validation", "test"):
            raise ValueError(f"{source}: row {number}: split {record['split']!r}, expected train, validation or test")
        piece = f"{record['canonical_composer']} - {record['canonical_title']}"
        tracks.append(Track(record["midi_filename"], root / record["midi_filename"], piece, record["split"]))
    return tracks


def extract(track: Track, config: Any) -> Extracted:
    return extracted(top_voice_melody if config["task"] == "melody" else dynamics_features, track.path)


def top_voice_melody(song: Song):
    """MelodyTransformer features of a piano performance's top voice."""
    return melody_features(song, line=_top_voice(song))


def _top_voice(song: Song) -> Part:
    """Piano: the notes of every track merged, then the skyline (top voice)."""
    parts = song.pitched()
    merged = Part("piano", 0, False, *(np.concatenate([getattr(p, f) for p in parts])
                                       for f in ("onset", "duration", "pitch", "velocity")))
    return melody_part(dataclasses.replace(song, parts=[merged]))


class MaestroDataset(IndexedDataset):
    """MAESTRO -> melody (top voice, one step per note) or dynamics (one step per note) sequences."""

    Options = MaestroOptions
    name = "maestro"
    tasks = TASKS
    extract = staticmethod(extract)
    check = staticmethod(check_midi)

    def read_index(self, root: Path) -> list[Track]:
        return read_index(root)

    def feature_config(self) -> Any:
        return feature_config(self)

    @classmethod
    def write_demo(cls, path: Path, seed: int = 0, pieces: int = 40) -> None:
        """``maestro-v3.0.0.csv`` (quoted titles with commas) and ``<year>/*.midi`` piano pieces."""
        from kel_midi_features import compose

        root = Path(path)
        rows = []
        for index in range(pieces):
            midi, facts = compose(seed * 100_003 + index, piano=True)
            year = (2004, 2006, 2008, 2009, 2011)[index % 5]
            buffer = io.BytesIO()
            midi.save(file=buffer)
            name = f"{year}/MIDI-Unprocessed_demo_{index:03d}_{hashlib.md5(buffer.getvalue()).hexdigest()[:8]}.midi"
            (root / str(year)).mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(buffer.getvalue())
            mode = "Major" if facts["major"] else "Minor"
            title = f'Etude No. {index % 12 + 1} in {"C C# D Eb E F F# G Ab A Bb B".split()[facts["tonic"]]} {mode}, ' \
                    f'Op. {index + 10} "The {("Lark", "Storm", "Tempest")[index % 3]}"'
            split = "test" if index % 10 == 4 else "validation" if index % 10 == 7 else "train"
            rows.append({"canonical_composer": f"Demo Composer {index % 6}", "canonical_title": title, "split": split,
                         "year": year, "midi_filename": name, "audio_filename": name.replace(".midi", ".wav"),
                         "duration": f"{midi.length:.3f}"})
        with open(root / "maestro-v3.0.0.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (root / "README").write_text(f"kelcore demo corpus in the MAESTRO v3.0.0 layout (seed {seed}); synthetic.\n")
