"""Groove, Lakh and MAESTRO plugins on fixture trees with the real layouts, and on the real sample files."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import mido
import numpy as np
import pytest

from conftest import SHARED
from kel_plugin_groove_midi import GrooveMidiDataset
from kel_plugin_groove_midi.dataset import read_index as groove_index
from kel_plugin_lakh import LakhDataset
from kel_plugin_lakh.dataset import read_index as lakh_index
from kel_plugin_maestro import MaestroDataset
from kel_plugin_maestro.dataset import read_index as maestro_index
from kel_midi_features import MidiError, load_song
from kel_midi_features import compose
from kelcore.api import RunContext
from kelcore.spec import get_spec as kelcore_spec

REAL = SHARED / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real is not present in this checkout")


def context(tmp_path: Path, seed: int = 0) -> RunContext:
    return RunContext(run_dir=tmp_path / "run", seed=seed, job="test")


def song_bytes(seed: int, piano: bool = False) -> bytes:
    buffer = io.BytesIO()
    compose(seed, piano=piano)[0].save(file=buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- Groove
@needs_real
def test_groove_validate_on_the_real_info_csv(kelcore):
    result = kelcore("data", "validate", "groove-midi", "--root", str(REAL / "groove"), "--json")
    report = json.loads(result.stdout)
    # of the 9 performances present, 6 are fills or not in 4/4: unsupported for GroovePredictor, as in training
    assert (report["listed"], report["usable"], report["missing"], report["corrupt"], report["unsupported"]) == \
        (1150, 3, 1141, 0, 6)
    assert sum(p["kind"] == "missing" for p in report["problems"]) == 1141


@needs_real
def test_groove_real_index_quirks_and_checksums(tmp_path):
    raw = (REAL / "groove" / "info.csv").read_bytes()
    assert raw.split(b"\n", 1)[0].endswith(b"split") and b"\r\n" in raw  # LF header, CRLF rows
    tracks = groove_index(REAL / "groove")
    assert len(tracks) == 1150 and {t.split for t in tracks} == {"train", "validation", "test"}
    assert sum(t.split == "validation" for t in tracks) == 124
    options = dict(root=REAL / "groove", verify_checksums=True,
                   index=REAL / "checksums" / "groove_midi_index_1.0.0.json")
    assert GrooveMidiDataset(GrooveMidiDataset.Options(**options)).validate().corrupt == 0
    tampered = tmp_path / "groove"
    shutil.copytree(REAL / "groove", tampered)
    victim = next(tampered.rglob("*.mid"))
    victim.write_bytes(victim.read_bytes() + b"\0")
    report = GrooveMidiDataset(GrooveMidiDataset.Options(**{**options, "root": tampered})).validate()
    assert report.corrupt == 1 and report.problems[-1].kind == "checksum" or any(
        p.kind == "checksum" and "md5" in p.reason for p in report.problems)


@needs_real
def test_groove_features_of_the_real_performances(tmp_path):
    data = GrooveMidiDataset(GrooveMidiDataset.Options(root=REAL / "groove", cache_dir=tmp_path / "cache",
                                                       workers=1)).prepare(context(tmp_path))
    sequences = data.train + data.validation + data.test
    assert len(sequences) == 3  # the 4/4 beats among the 9 real files
    assert all(s.inputs.shape[1] == 64 and s.targets.shape[1] == 49 for s in sequences)
    assert set(np.unique(np.concatenate([s.inputs for s in sequences]))) == {0.0, 1.0}
    log = (tmp_path / "run" / "dataset_problems.log").read_text()
    assert log.count("missing\t") == 1141 and "fill in 4-4: GroovePredictor takes 4/4 beats" in log


def test_groove_demo_is_learnable_shape_and_official_splits(tmp_path):
    GrooveMidiDataset.write_demo(tmp_path / "g", seed=1)
    raw = (tmp_path / "g" / "info.csv").read_bytes()
    assert raw.count(b"\r\n") == 60 and not raw.split(b"\n", 1)[0].endswith(b"\r")
    data = GrooveMidiDataset(GrooveMidiDataset.Options(root=tmp_path / "g", cache_dir=tmp_path / "c",
                                                       workers=2)).prepare(context(tmp_path))
    assert data.report.listed == 60 and len(data.test) > 0 and len(data.validation) > 0
    sides = json.loads((tmp_path / "run" / "split.json").read_text())
    official = {t.track_id: t.split for t in groove_index(tmp_path / "g")}
    assert all(official[track] == side for track, side in sides.items())


# ----------------------------------------------------------------------------- corrupt files
@needs_real
@pytest.mark.parametrize("name, reason", [("ValueError_Control168.mid", "unreadable MIDI"),
                                          ("empty.mid", "no notes")])
def test_corrupt_real_files_raise_a_reason(name, reason):
    with pytest.raises(MidiError, match=reason):
        load_song(REAL / "corrupt_midi" / name)


@needs_real
def test_corrupt_files_are_counted_not_fatal(tmp_path):
    full = tmp_path / "lmd_full"
    for index, source in enumerate(sorted((REAL / "corrupt_midi").iterdir())):
        (full / str(index)).mkdir(parents=True)
        shutil.copy(source, full / str(index) / source.name)
    for seed in range(6):
        data = song_bytes(seed)
        md5 = hashlib.md5(data).hexdigest()
        (full / md5[0]).mkdir(exist_ok=True)
        (full / md5[0] / f"{md5}.mid").write_bytes(data)
    absurd = mido.MidiFile(ticks_per_beat=1)
    absurd.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=64, time=0),
                                         mido.Message("note_off", note=60, time=10_000_000)]))
    absurd.save(full / "0" / "absurd.mid")
    options = LakhDataset.Options(root=tmp_path, task="melody", cache_dir=tmp_path / "cache", workers=2)
    data = LakhDataset(options).prepare(context(tmp_path))
    assert data.report.usable == 7  # 6 songs + the truncated file symusic still reads
    assert data.report.corrupt == 3
    log = (tmp_path / "run" / "dataset_problems.log").read_text()
    assert "ValueError_Control168.mid\tunreadable MIDI" in log and "empty.mid\tno notes" in log
    assert "absurd length" in log


# ----------------------------------------------------------------------------- Lakh
@needs_real
@pytest.mark.parametrize("task, width", [("melody", 64), ("harmony", 128)])
def test_lakh_real_files_give_the_contract_widths(tmp_path, task, width):
    options = LakhDataset.Options(root=REAL / "lakh", task=task, cache_dir=tmp_path / "c", workers=1)
    dataset = LakhDataset(options)
    assert kelcore_spec(dataset.produces).input_size == width
    tracks = dataset.tracks()
    assert [t.track_id for t in tracks] == ["d6caebd1964d9e4a3c5ea59525230e2a", "d8faddb8596fff7abb24d78666f73e4e"]
    from kel_plugin_lakh.dataset import extract

    for track in tracks:
        result = extract(track, {"task": task})
        assert result.kind == "" and result.inputs.shape[1] == width and result.targets.shape[1] == 1


def test_lakh_matched_layout_groups_songs_across_msd_ids(tmp_path):
    songs = [song_bytes(seed) for seed in range(3)]
    md5 = [hashlib.md5(s).hexdigest() for s in songs]
    layout = {"TRAAAAA12903CD7092": [0, 1], "TRBBBBB12903CD7092": [1], "TRCCCCC12903CD7092": [2]}
    for msd, indices in layout.items():
        for i in indices:
            folder = tmp_path / "lmd_matched" / msd[2] / msd[3] / msd[4] / msd
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{md5[i]}.mid").write_bytes(songs[i])
    tracks = {t.track_id: t for t in lakh_index(tmp_path)}
    assert len(tracks) == 3  # md5[1] sits under two MSD ids but is one track
    assert tracks[md5[0]].group == tracks[md5[1]].group != tracks[md5[2]].group


def test_lakh_cache_means_a_second_prepare_parses_nothing(tmp_path):
    LakhDataset.write_demo(tmp_path / "lakh", seed=2, songs=12)
    options = LakhDataset.Options(root=tmp_path / "lakh", task="harmony", cache_dir=tmp_path / "cache", workers=2)
    first = LakhDataset(options).prepare(context(tmp_path / "a"))
    import kel_midi_features as midi

    def refuse(path):  # any parse on the second run would now fail the track
        raise AssertionError(f"re-parsed {path}")

    original, midi.load_song = midi.load_song, refuse
    try:  # workers=1 runs in this process, so the patch is seen
        second = LakhDataset(options.model_copy(update={"workers": 1})).prepare(context(tmp_path / "a"))
    finally:
        midi.load_song = original
    assert [s.track_id for s in second.train] == [s.track_id for s in first.train]
    assert all(np.array_equal(a.inputs, b.inputs) for a, b in zip(first.train, second.train))


def test_lakh_split_is_seeded_and_leak_free(tmp_path):
    LakhDataset.write_demo(tmp_path / "lakh", seed=3, songs=20)
    options = LakhDataset.Options(root=tmp_path / "lakh", task="melody", cache_dir=tmp_path / "c", workers=1)
    a = LakhDataset(options).prepare(context(tmp_path / "a", seed=4))
    b = LakhDataset(options).prepare(context(tmp_path / "b", seed=4))
    ids = lambda d: [sorted(s.track_id for s in side) for side in (d.train, d.validation, d.test)]  # noqa: E731
    assert ids(a) == ids(b)
    assert not set(ids(a)[0]) & (set(ids(a)[1]) | set(ids(a)[2]))
    assert a.normalization["mean"] == [0.0] * 64  # identity contract


# ----------------------------------------------------------------------------- MAESTRO
def maestro_fixture(root: Path, json_shape: str | None = None) -> None:
    rows = []
    for index, split in enumerate(["train", "train", "validation", "test"]):
        name = f"2018/MIDI-Unprocessed_{index:02d}_R1_2018_wav--1.midi"
        (root / "2018").mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(song_bytes(50 + index, piano=True))
        rows.append({"canonical_composer": "Frédéric Chopin", "canonical_title":
                     f'Ballade No. {index}, Op. 23 "in G, minor"', "split": split, "year": "2018",
                     "midi_filename": name, "audio_filename": name.replace(".midi", ".wav"), "duration": "100.5"})
    if json_shape is None:
        with open(root / "maestro-v3.0.0.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), quoting=csv.QUOTE_MINIMAL)
            writer.writeheader()
            writer.writerows(rows)
    elif json_shape == "v2":
        (root / "maestro-v2.0.0.json").write_text(json.dumps(rows))
    else:
        columns = {key: {str(i): row[key] for i, row in enumerate(rows)} for key in rows[0]}
        (root / "maestro-v3.0.0.json").write_text(json.dumps(columns))


@pytest.mark.parametrize("shape", [None, "v2", "v3"])
def test_maestro_reads_csv_with_quoted_titles_and_both_json_shapes(tmp_path, shape):
    maestro_fixture(tmp_path, shape)
    tracks = maestro_index(tmp_path)
    assert [t.split for t in tracks] == ["train", "train", "validation", "test"]
    assert tracks[0].group == 'Frédéric Chopin - Ballade No. 0, Op. 23 "in G, minor"'
    assert all(t.path.suffix == ".midi" and t.path.exists() for t in tracks)


@pytest.mark.parametrize("task, width", [("dynamics", 32), ("melody", 64)])
def test_maestro_features_and_official_split(tmp_path, task, width):
    maestro_fixture(tmp_path / "m")
    options = MaestroDataset.Options(root=tmp_path / "m", task=task, cache_dir=tmp_path / "c", workers=1)
    data = MaestroDataset(options).prepare(context(tmp_path))
    assert (len(data.train), len(data.validation), len(data.test)) == (2, 1, 1)
    assert all(s.inputs.shape[1] == width for s in data.train + data.test)
    if task == "dynamics":  # standardised on the training split only
        stacked = np.concatenate([s.inputs for s in data.train])
        assert np.allclose(stacked.mean(axis=0), 0, atol=1e-4)
        assert np.all((data.train[0].targets >= 1) & (data.train[0].targets <= 127))


@pytest.mark.parametrize("task", ["melody", "harmony"])
def test_lakh_copies_of_one_tune_stay_on_one_side(tmp_path, task):
    """Issue 10 item 3: two byte-different files with the same melody (here: one transposed up a tone and
    re-saved) share a group, so every split puts them on the same side."""
    import hashlib
    import io

    from kel_midi_features import compose

    def save(midi, folder):
        buffer = io.BytesIO()
        midi.save(file=buffer)
        data = buffer.getvalue()
        md5 = hashlib.md5(data).hexdigest()
        (folder / md5[0]).mkdir(parents=True, exist_ok=True)
        (folder / md5[0] / f"{md5}.mid").write_bytes(data)
        return md5

    folder = tmp_path / "lakh" / "lmd_full"
    others = [save(compose(500 + i)[0], folder) for i in range(9)]
    tune, _ = compose(7)
    original = save(tune, folder)
    for track in tune.tracks:  # the same tune a tone higher: other bytes, same intervals
        for message in track:
            if message.type in ("note_on", "note_off") and message.channel != 9:
                message.note = min(127, message.note + 2)
    copy = save(tune, folder)
    assert original != copy and len(set(others)) == 9
    options = LakhDataset.Options(root=tmp_path / "lakh", task=task, cache_dir=tmp_path / "c", workers=1)
    data = LakhDataset(options).prepare(context(tmp_path))
    groups = {s.track_id: s.group for side in (data.train, data.validation, data.test) for s in side}
    assert groups[original] == groups[copy]
    assert len(set(groups.values())) >= 9  # the other songs keep their own groups
    sides = json.loads((tmp_path / "run" / "split.json").read_text())
    assert sides[original] == sides[copy]
