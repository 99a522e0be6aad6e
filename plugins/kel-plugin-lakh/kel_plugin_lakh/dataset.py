"""Lakh MIDI Dataset: ``lmd_full/<md5[0]>/<md5>.mid`` and ``lmd_matched|lmd_aligned/<A>/<B>/<C>/<msd_id>/<md5>.mid``.

There is no official split: tracks are split by song with a seed. In LMD-matched one MIDI (md5) can sit
under several MSD ids and one MSD id can have several MIDIs, so a "song" is a connected group of md5s
and MSD ids: nothing of one song lands on two sides. Each md5 is extracted once. Lakh holds many byte-different
copies of the same song: after extraction, files whose melodies share a tune (kel_midi_features' transposition-
invariant 8-note interval fingerprint) join one group too.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

import numpy as np

from kelcore.api import DatasetOptions, Extracted, IndexedDataset, Sequence, Track, cache_dir_of, extract_tracks
from kel_midi_features import (check_midi, extracted, feature_config, group_by_tune, harmony_features,
                               melody_features, melody_part)

LAYOUTS = ("lmd_full", "lmd_matched", "lmd_aligned")
TASKS = {"melody": "MelodyTransformer", "harmony": "HarmonyPredictor"}


class LakhOptions(DatasetOptions):
    task: Literal["melody", "harmony"] = Field("melody", description="which model's features to produce")


def layout_roots(root: Path) -> list[Path]:
    """The lmd_* folders under ``root`` (or ``root`` itself when it is one)."""
    if root.name in LAYOUTS:
        return [root]
    found = [root / name for name in LAYOUTS if (root / name).is_dir()]
    if not found:
        raise FileNotFoundError(f"{root}: no lmd_full/, lmd_matched/ or lmd_aligned/ folder (expected the folder "
                                "the Lakh MIDI archives were extracted into)")
    return found


def _find(parent: dict[str, str], key: str) -> str:
    while parent.setdefault(key, key) != key:
        parent[key] = parent[parent[key]]
        key = parent[key]
    return key


def read_index(root: Path) -> list[Track]:
    """One track per md5; group = connected md5/MSD-id component (union-find)."""
    parent: dict[str, str] = {}
    paths: dict[str, Path] = {}
    for base in layout_roots(root):
        for path in sorted(base.rglob("*.mid")):
            md5 = path.stem
            paths.setdefault(md5, path)
            if base.name != "lmd_full":
                parent[_find(parent, f"md5:{md5}")] = _find(parent, f"msd:{path.parent.name}")
            _find(parent, f"md5:{md5}")
    return [Track(md5, path, _find(parent, f"md5:{md5}")) for md5, path in sorted(paths.items())]


def extract(track: Track, config: Any) -> Extracted:
    return extracted(melody_features if config["task"] == "melody" else harmony_features, track.path)


def melody_pitches(track: Track, config: Any) -> Extracted:
    """The melody line's pitches (inputs, one column): the tune fingerprint's source for the harmony task."""
    return extracted(lambda song: (melody_part(song).pitch.astype(np.float32)[:, None], np.zeros((0, 1), np.float32)),
                     track.path)


class LakhDataset(IndexedDataset):
    """Lakh MIDI -> melody (one step per note) or harmony (one step per bar) sequences."""

    Options = LakhOptions
    name = "lakh"
    tasks = TASKS
    extract = staticmethod(extract)
    check = staticmethod(check_midi)

    def read_index(self, root: Path) -> list[Track]:
        return read_index(root)

    def feature_config(self) -> Any:
        return feature_config(self)

    def content_groups(self, usable: list[tuple[Track, Sequence]]) -> dict[str, str]:
        """Files that share a tune join one group (byte-different copies of a song stay on one side)."""
        if self.task == "melody":  # the targets are the melody line's pitches
            melodies = [sequence.targets[:, 0] for _, sequence in usable]
        else:  # harmony: the melody line read once more (cached like the features)
            results = extract_tracks([t for t, _ in usable], melody_pitches,
                                     {**self.feature_config(), "fingerprint": "melody-pitches-1"},
                                     cache_dir_of(self.options), self.options.workers, None, "lakh tune fingerprints")
            melodies = [None if r.kind or r.inputs is None else r.inputs[:, 0] for _, r in results]
        roots = group_by_tune(melodies, [track.group for track, _ in usable])
        return {track.track_id: usable[root][0].group for (track, _), root in zip(usable, roots)}

    @classmethod
    def write_demo(cls, path: Path, seed: int = 0, songs: int = 80) -> None:
        """``lmd_full/<md5[0]>/<md5>.mid`` songs with keys, modes, progressions and melodies."""
        from kel_midi_features import compose

        for index in range(songs):
            midi, _ = compose(seed * 100_003 + index)
            buffer = io.BytesIO()
            midi.save(file=buffer)
            md5 = hashlib.md5(buffer.getvalue()).hexdigest()
            target = Path(path) / "lmd_full" / md5[0] / f"{md5}.mid"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(buffer.getvalue())
