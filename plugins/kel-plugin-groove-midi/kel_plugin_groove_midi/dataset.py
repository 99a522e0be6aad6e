"""Groove MIDI Dataset v1.0.0: ``info.csv`` + ``drummer<N>/<session>/<id>_<style>_<bpm>_<beat|fill>_<ts>.mid``.

Official splits (train / validation / test) are used as they are. Only 4/4 beats feed GroovePredictor
(one step per bar); fills and other metres are skipped and counted as "unsupported".
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import Field

import kelcore
from kelcore.api import DatasetOptions, Extracted, IndexedDataset, Track
from kel_midi_features import extracted, feature_config, groove_features, parses

SPEC = kelcore.get_spec("GroovePredictor")
COLUMNS = ["drummer", "session", "id", "style", "bpm", "beat_type", "time_signature", "midi_filename",
           "audio_filename", "duration", "split"]


class GrooveOptions(DatasetOptions):
    verify_checksums: bool = Field(False, description="check each file's md5 against the official index")
    index: Path | None = Field(None, description="official md5 index JSON (mirdata's groove_midi_index_1.0.0.json)")


def find_info_csv(root: Path) -> Path:
    """``info.csv`` in ``root`` or in a ``groove/`` folder below it (archive and mirror layouts)."""
    for candidate in (root / "info.csv", root / "groove" / "info.csv"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{root}: no info.csv (expected the folder the Groove MIDI archive was extracted into, "
                            "containing info.csv and drummer1/ ... drummer10/)")


def read_index(root: Path) -> list[Track]:
    """Tracks from info.csv (header LF, rows CRLF in the official file: csv handles both)."""
    info = find_info_csv(root)
    with open(info, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{info}: missing columns {', '.join(missing)}; expected {', '.join(COLUMNS)}")
        rows = list(reader)
    tracks = []
    for line, row in enumerate(rows, start=2):
        if row["split"] not in ("train", "validation", "test"):
            raise ValueError(f"{info}:{line}: split {row['split']!r}, expected train, validation or test")
        labels = {"bpm": float(row["bpm"]), "beat_type": row["beat_type"], "time_signature": row["time_signature"],
                  "style": row["style"]}
        tracks.append(Track(row["id"], info.parent / row["midi_filename"], row["id"], row["split"], labels))
    return tracks


def extract(track: Track, config: Any) -> Extracted:
    """Parse one performance into bar steps (top-level: runs in worker processes)."""
    labels = track.labels
    if labels["beat_type"] != "beat" or labels["time_signature"] != "4-4":
        return Extracted(kind="unsupported", reason=f"{labels['beat_type']} in {labels['time_signature']}: "
                                                    "GroovePredictor takes 4/4 beats")
    return extracted(groove_features, track.path, labels["bpm"])


def check(track: Track, expected_md5: Any) -> Extracted:
    """Validation: the file exists, parses, and (optionally) matches its official md5."""
    parsed = parses(track.path)
    if parsed.kind:
        return parsed
    if expected_md5 and track.track_id in expected_md5:
        actual = hashlib.md5(track.path.read_bytes()).hexdigest()
        if actual != expected_md5[track.track_id]:
            return Extracted(kind="checksum", reason=f"md5 {actual} != official {expected_md5[track.track_id]}")
    return Extracted()


class GrooveMidiDataset(IndexedDataset):
    """Groove MIDI v1.0.0 -> GroovePredictor sequences (one step per 4/4 bar)."""

    Options = GrooveOptions
    name = "groove-midi"
    tasks = {"": SPEC.name}
    extract = staticmethod(extract)
    check = staticmethod(check)

    def read_index(self, root: Path) -> list[Track]:
        return read_index(root)

    def feature_config(self) -> Any:
        return feature_config(self)

    def checker(self) -> check_md5:
        return check_md5(self._official_md5() if self.options.verify_checksums else None)

    def _official_md5(self) -> dict[str, str]:
        if self.options.index is None:
            raise ValueError("verify_checksums needs index = the official groove_midi_index_1.0.0.json")
        tracks = json.loads(Path(self.options.index).read_text(encoding="utf-8"))["tracks"]
        return {track_id: entry["midi"][1] for track_id, entry in tracks.items()}

    @classmethod
    def write_demo(cls, path: Path, seed: int = 0) -> None:
        from .demo import write_demo

        write_demo(Path(path), seed)


class check_md5:  # noqa: N801 - a picklable partial of check()
    """``check`` bound to an md5 table, picklable for worker processes."""

    def __init__(self, md5: dict[str, str] | None) -> None:
        self.md5 = md5

    def __call__(self, track: Track, config: Any) -> Extracted:
        return check(track, self.md5)
