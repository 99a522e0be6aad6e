"""An example third-party dataset plugin (see docs/PLUGINS.md): your own drum loops as GroovePredictor data.

Layout::

    <root>/loops.csv        file,bpm,split        (split: train, validation or test)
    <root>/<file>.mid       4/4 drum loops
"""
from __future__ import annotations

import csv
from pathlib import Path

from pydantic import Field

import kelcore
from kelcore.api import DatasetOptions, Extracted, IndexedDataset, Track
from kel_midi_features import check_midi, extracted, groove_features

SPEC = kelcore.get_spec("GroovePredictor")


class DrumLoopsOptions(DatasetOptions):
    default_bpm: float = Field(120.0, gt=0, description="tempo for rows whose bpm cell is empty")


def read_index(root: Path, default_bpm: float) -> list[Track]:
    index = root / "loops.csv"
    if not index.exists():
        raise FileNotFoundError(f"{root}: no loops.csv (expected columns file,bpm,split)")
    with open(index, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [Track(row["file"], root / row["file"], row["file"], row["split"],
                  {"bpm": float(row["bpm"] or default_bpm)}) for row in rows]


def extract(track: Track, config: object) -> Extracted:
    return extracted(groove_features, track.path, track.labels["bpm"])


class DrumLoops(IndexedDataset):
    Options = DrumLoopsOptions
    name = "drumloops"
    tasks = {"": SPEC.name}         # the contract these features follow: checked against the model at config time
    extract = staticmethod(extract)
    check = staticmethod(check_midi)

    def read_index(self, root: Path) -> list[Track]:
        return read_index(root, self.options.default_bpm)


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("drumloops", DrumLoops)
