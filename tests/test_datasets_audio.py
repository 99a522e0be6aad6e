"""DEAM and PMEmo plugins on fixture trees with the real layouts and quirks (spaces, mirrors, ragged rows,
arousal-before-valence, unlabelled songs, mixed sample rates, corrupt and silent audio)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from kel_audio_features import SAMPLE_RATE, emotion_sequence, load_audio, log_mel, pool
from kel_plugin_deam import DeamDataset
from kel_plugin_deam.dataset import read_dynamic, read_index as deam_index
from kel_plugin_deam.demo import write_demo as write_deam_demo
from kel_plugin_pmemo import PmemoDataset
from kelcore import get_spec
from kelcore.api import RunContext

pytestmark = pytest.mark.runs_long(41)  # see conftest.pytest_collection_modifyitems

DYNAMIC = Path("annotations") / "annotations averaged per song" / "dynamic (per second annotations)"


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 330.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def deam_fixture(root: Path, mirror: bool = False) -> Path:
    """4 annotated songs (16 s audio, annotations from 15 s), one corrupt, one silent, one without labels."""
    audio = root / ("DEAM_audio/MEMD_audio" if mirror else "MEMD_audio")
    annotations = root / ("DEAM_Annotations" if mirror else "") / DYNAMIC
    audio.mkdir(parents=True)
    annotations.mkdir(parents=True)
    soundfile.write(audio / "2.mp3", tone(17, 44100, 2), 44100, format="MP3")
    soundfile.write(audio / "3.mp3", tone(17, 48000, 1, 500), 48000, format="MP3")
    soundfile.write(audio / "5.mp3", tone(17, 22050, 2, 200), 22050, format="MP3")
    soundfile.write(audio / "7.mp3", np.zeros(22050 * 17, np.float32), 22050, format="MP3")   # silent
    (audio / "10.mp3").write_bytes(b"ID3\x03\x00 this is not an mp3")                     # corrupt
    soundfile.write(audio / "11.mp3", tone(17, 22050), 22050, format="MP3")                  # no labels
    header = "song_id,sample_15000ms,sample_15500ms,sample_16000ms,sample_16500ms"
    arousal = [header, "2,0.1,0.2,0.3,0.4", "3,-0.5,-0.4,,", "5,0.9,0.8,0.7,0.6", "7,0,0,0,0", "10,0,0,0,0"]
    valence = [header, "2,-0.1,-0.2,-0.3,-0.4", "3,0.5,0.4,,", "5,0.1,0.1,0.1,0.1", "7,0,0,0,0", "10,0,0,0,0"]
    (annotations / "arousal.csv").write_text("\n".join(arousal) + "\n")
    (annotations / "valence.csv").write_text("\n".join(valence) + "\n")
    static = annotations.parent / "song_level"
    static.mkdir()
    (static / "static_annotations_averaged_songs_1_2000.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n2, 5.1, 0.9, 4.2, 1.1\n13, 3, 1, 7, 1\n")
    (static / "static_annotations_averaged_songs_2000_2058.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std, valence_max_mean, valence_max_std, "
        "valence_min_mean, valence_min_std, arousal_max_mean, arousal_max_std, arousal_min_mean, arousal_min_std\n"
        "2001, 5, 1, 5, 1, 6, 1, 4, 1, 6, 1, 4, 1\n")
    return root


def run_context(tmp_path: Path) -> RunContext:
    return RunContext(run_dir=tmp_path / "run", seed=0, job="emotion")


def test_dynamic_rows_of_unequal_length_drop_empty_cells(tmp_path):
    deam_fixture(tmp_path)
    series = read_dynamic(tmp_path / DYNAMIC / "arousal.csv")
    times, values = series["3"]
    assert times.tolist() == [15.0, 15.5] and values.tolist() == [-0.5, -0.4]


@pytest.mark.parametrize("mirror", [False, True])
def test_deam_validate_counts_every_kind(tmp_path, mirror):
    deam_fixture(tmp_path, mirror)
    report = DeamDataset(DeamDataset.Options(root=tmp_path, workers=1)).validate()
    # songs 13 and 2001 exist only in the song-level files (spaces after commas, 5 and 13 columns): no audio
    assert (report.listed, report.usable, report.missing, report.corrupt, report.unlabelled) == (8, 3, 2, 2, 1)
    reasons = {Path(p.path).name: p.reason for p in report.problems}
    assert reasons["7.mp3"] == "silent audio" and reasons["10.mp3"].startswith("unreadable audio")
    assert reasons["11.mp3"] == "no dynamic valence/arousal annotations"


def test_deam_features_align_with_annotation_frames(tmp_path):
    deam_fixture(tmp_path)
    tracks = {t.track_id: t for t in deam_index(tmp_path)}
    result = emotion_sequence(tracks["2"].path, tracks["2"].labels)
    assert result.inputs.shape == (4, 128) and result.targets.shape == (4, 2)  # 4 annotated frames, 17 s of audio
    assert result.targets[:, 1].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])   # arousal column
    ragged = emotion_sequence(tracks["3"].path, tracks["3"].labels)
    assert ragged.inputs.shape == (2, 128)  # the empty trailing cells are not frames


def test_pooling_uses_the_half_second_window_ending_at_the_annotation():
    logmel = np.arange(200, dtype=np.float32)[:, None].repeat(128, axis=1)
    centres = np.arange(200) * 512 / SAMPLE_RATE
    pooled, has_audio = pool(logmel, np.array([1.0, 100.0]))
    expected = logmel[(centres > 0.5) & (centres <= 1.0)].mean(axis=0)
    assert has_audio.tolist() == [True, False] and np.allclose(pooled[0], expected)


def test_log_mel_matches_librosa():
    import librosa

    audio = tone(2, SAMPLE_RATE) + 0.01 * np.random.default_rng(0).standard_normal(2 * SAMPLE_RATE).astype(np.float32)
    ours = log_mel(audio)
    theirs = librosa.power_to_db(librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, n_fft=2048, hop_length=512, n_mels=128, fmin=0, fmax=SAMPLE_RATE / 2,
        pad_mode="constant"), ref=1.0, amin=1e-10, top_db=None).T
    assert np.abs(ours - theirs).max() < 1e-3


def test_deam_prepare_standardises_on_train_and_caches(tmp_path):
    write_deam_demo(tmp_path / "deam", seed=0, songs=10)
    options = DeamDataset.Options(root=tmp_path / "deam", cache_dir=tmp_path / "cache", workers=2)
    data = DeamDataset(options).prepare(run_context(tmp_path))
    train = np.concatenate([s.inputs for s in data.train])
    assert np.allclose(train.mean(axis=0), 0, atol=1e-3) and np.allclose(train.std(axis=0), 1, atol=1e-2)
    assert all(s.targets.min() >= -1 and s.targets.max() <= 1 for s in data.train)
    groups = [{s.group for s in side} for side in (data.train, data.validation, data.test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2])
    import kel_audio_features as audio

    def refuse(path):  # any decode on the second run would now fail the song
        raise AssertionError(f"decoded {path} again")

    original, audio.load_audio = audio.load_audio, refuse
    try:
        again = DeamDataset(options.model_copy(update={"workers": 1})).prepare(run_context(tmp_path))
    finally:
        audio.load_audio = original
    assert [s.track_id for s in again.train] == [s.track_id for s in data.train]


def test_pmemo_arousal_before_valence_scaled_to_unit_range_and_unlabelled_songs(tmp_path):
    PmemoDataset.write_demo(tmp_path / "PMEmo2019", seed=1, songs=6, unlabelled=2)
    report = PmemoDataset(PmemoDataset.Options(root=tmp_path, workers=1)).validate()  # the parent folder works too
    assert (report.listed, report.usable, report.unlabelled) == (6, 4, 2)
    dataset = PmemoDataset(PmemoDataset.Options(root=tmp_path / "PMEmo2019", workers=1))
    track = dataset.tracks()[0]
    raw = (tmp_path / "PMEmo2019" / "annotations" / "dynamic_annotations.csv").read_text().splitlines()
    first = raw[1].split(",")
    assert raw[0] == "musicId,frameTime,Arousal(mean),Valence(mean)"
    assert track.labels["times"][0] == 15.5
    assert track.labels["arousal"][0] == pytest.approx(2 * float(first[2]) - 1)
    assert track.labels["valence"][0] == pytest.approx(2 * float(first[3]) - 1)
    result = emotion_sequence(track.path, track.labels)
    assert result.inputs.shape[1] == 128 and result.inputs.shape[0] == len(track.labels["times"])


# --------------------------------------------------------------------------- #
# Alignment at the end of the audio, truncated files, bounded decoding
# --------------------------------------------------------------------------- #
def test_steps_are_the_annotated_frames_that_have_audio(tmp_path):
    """Audio ending at 15.8 s under annotations to 16.5 s: only the frames at 15.0 and 15.5 s have audio."""
    path = tmp_path / "short.wav"   # DEAM accepts WAV too; 16 kHz mono as some DEAM files are
    soundfile.write(path, tone(15.8, 16000), 16000)
    labels = {"times": [15.0, 15.5, 16.0, 16.5], "valence": [0.1, 0.2, 0.3, 0.4], "arousal": [-0.1, -0.2, -0.3, -0.4]}
    result = emotion_sequence(path, labels)
    assert result.inputs.shape == (2, 128)
    np.testing.assert_allclose(result.targets, [[0.1, -0.1], [0.2, -0.2]], atol=1e-6)


def test_truncated_and_empty_mp3_are_corrupt_not_fatal(tmp_path):
    whole = tmp_path / "whole.mp3"
    soundfile.write(whole, tone(17, 44100, 2), 44100, format="MP3")
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])   # a download cut off at ~6 s
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    labels = {"times": [15.0, 15.5, 16.0], "valence": [0.0] * 3, "arousal": [0.0] * 3}
    cut = emotion_sequence(truncated, labels)
    assert cut.kind == "corrupt" and "ends before the annotations" in cut.reason
    nothing = emotion_sequence(empty, labels)
    assert nothing.kind == "corrupt" and nothing.reason.startswith("unreadable audio")
    assert "empty file (0 bytes)" in nothing.reason and "pipe" not in nothing.reason


def test_decoding_up_to_the_last_annotation_gives_the_full_decode_features(tmp_path):
    path = tmp_path / "long.mp3"
    rng = np.random.default_rng(3)
    audio = tone(30, 48000, 2) + 0.05 * rng.standard_normal((30 * 48000, 2)).astype(np.float32)
    soundfile.write(path, audio, 48000, format="MP3")
    times = np.arange(15.0, 20.01, 0.5)
    labels = {"times": times.tolist(), "valence": [0.5] * len(times), "arousal": [-0.5] * len(times)}
    bounded = emotion_sequence(path, labels)
    full, _ = pool(log_mel(load_audio(path)), times)
    assert bounded.inputs.shape == full.shape == (len(times), 128)
    # the contract's resampler reaches 1.5 ms and a frame 46 ms past t: decoding 0.5 s more changes nothing
    assert np.array_equal(bounded.inputs, full)


# --------------------------------------------------------------------------- #
# prepare(): counts, problem log, saved split, cache keyed by feature config
# --------------------------------------------------------------------------- #
def test_deam_prepare_counts_logs_skips_and_reuses_the_saved_split(tmp_path):
    deam_fixture(tmp_path / "deam", mirror=True)
    dataset = DeamDataset(DeamDataset.Options(root=tmp_path / "deam", cache_dir=tmp_path / "cache", workers=1))
    context = run_context(tmp_path)
    data = dataset.prepare(context)
    report = data.report
    assert (report.listed, report.usable, report.missing, report.corrupt, report.unlabelled) == (8, 3, 2, 2, 1)
    log = (context.run_dir / "dataset_problems.log").read_text().splitlines()
    logged = {Path(line.split("\t")[1]).name: line.split("\t")[0] for line in log}
    assert logged == {"7.mp3": "corrupt", "10.mp3": "corrupt", "11.mp3": "unlabelled",
                      "13.mp3": "missing", "2001.mp3": "missing"}
    sequences = data.train + data.validation + data.test
    assert sorted(s.track_id for s in sequences) == ["2", "3", "5"]
    assert all(s.inputs.shape[1] == get_spec("EmotionRecognizer").input_size
               and s.targets.shape == (len(s.inputs), dataset.target_size) for s in sequences)
    saved = json.loads((context.run_dir / "split.json").read_text())
    assert saved == {s.track_id: side for side, seqs in (("train", data.train), ("validation", data.validation),
                                                         ("test", data.test)) for s in seqs}
    moved = {track: {"train": "test", "test": "train"}.get(side, side) for track, side in saved.items()}
    (context.run_dir / "split.json").write_text(json.dumps(moved))   # a resumed run keeps the saved split
    resumed = dataset.prepare(context)
    assert {s.track_id for s in resumed.train} == {t for t, side in moved.items() if side == "train"}
    assert {s.track_id for s in resumed.test} == {t for t, side in moved.items() if side == "test"}


def test_cache_is_keyed_by_the_audio_feature_configuration(tmp_path, monkeypatch):
    import kel_audio_features as audio

    deam_fixture(tmp_path / "deam")
    options = DeamDataset.Options(root=tmp_path / "deam", cache_dir=tmp_path / "cache", workers=1)
    DeamDataset(options).prepare(run_context(tmp_path))

    def refuse(path, until=None):
        raise audio.AudioError(f"decoded {Path(path).name} again")

    monkeypatch.setattr(audio, "load_audio", refuse)
    warm = DeamDataset(options).prepare(RunContext(run_dir=tmp_path / "warm"))
    assert warm.report.usable == 3                       # every song from the cache, nothing decoded
    monkeypatch.setattr(audio, "FEATURE_CONFIG", {**audio.FEATURE_CONFIG, "n_mels": 64})
    with pytest.raises(ValueError, match="no usable training sequences"):
        DeamDataset(options).prepare(RunContext(run_dir=tmp_path / "changed"))   # a new config decodes again
    assert "decoded 2.mp3 again" in (tmp_path / "changed" / "dataset_problems.log").read_text()


def pmemo_fixture(root: Path) -> Path:
    """PMEmo2019 by hand: quoted titles with commas, 44.1 kHz stereo and 22.05 kHz mono choruses, arousal before
    valence in [0, 1], frames from 15.5 s, one song without annotations, one without audio, one empty MP3."""
    base = root / "PMEmo2019"
    (base / "chorus").mkdir(parents=True)
    (base / "annotations").mkdir()
    (base / "metadata.csv").write_text(
        "musicId,fileName,title,artist,album,duration,chorus_start_time,chorus_end_time\n"
        '1,1.mp3,"Hello, World",A,B,200.1,60.0,77.0\n4,4.mp3,Plain,A,B,180,10,27\n'
        '5,5.mp3,"Say ""Hi""",A,B,170,5,22\n8,8.mp3,Gone,A,B,190,1,18\n9,9.mp3,Empty,A,B,150,2,19\n')
    soundfile.write(base / "chorus" / "1.mp3", tone(17, 44100, 2), 44100, format="MP3")
    soundfile.write(base / "chorus" / "4.mp3", tone(17, 22050, 1, 440), 22050, format="MP3")
    soundfile.write(base / "chorus" / "5.mp3", tone(17, 44100, 2, 660), 44100, format="MP3")   # no annotations
    (base / "chorus" / "9.mp3").write_bytes(b"")
    rows = ["musicId,frameTime,Arousal(mean),Valence(mean)"]
    for song, (a0, v0) in {"1": (0.9, 0.1), "4": (0.25, 0.75), "8": (0.5, 0.5), "9": (0.5, 0.5)}.items():
        rows += [f"{song},{15.5 + k / 2},{a0 + k / 100},{v0 - k / 100}" for k in range(3)]
    (base / "annotations" / "dynamic_annotations.csv").write_text("\n".join(rows) + "\n")
    (base / "annotations" / "static_annotations.csv").write_text("musicId,Arousal(mean),Valence(mean)\n1,0.9,0.1\n")
    return root


def test_pmemo_prepare_maps_unit_range_to_symmetric_and_counts_unlabelled(tmp_path):
    pmemo_fixture(tmp_path)
    dataset = PmemoDataset(PmemoDataset.Options(root=tmp_path, cache_dir=tmp_path / "cache", workers=1))
    data = dataset.prepare(run_context(tmp_path))
    report = data.report
    assert (report.listed, report.usable, report.missing, report.corrupt, report.unlabelled) == (5, 2, 1, 1, 1)
    by_id = {s.track_id: s for s in data.train + data.validation + data.test}
    assert sorted(by_id) == ["1", "4"]
    # [valence, arousal] = 2x - 1 of the CSV's (Valence, Arousal), which come arousal first
    np.testing.assert_allclose(by_id["1"].targets, [[-0.8, 0.8], [-0.82, 0.82], [-0.84, 0.84]], atol=1e-6)
    np.testing.assert_allclose(by_id["4"].targets, [[0.5, -0.5], [0.48, -0.48], [0.46, -0.46]], atol=1e-6)
    assert all(s.inputs.shape == (3, get_spec("EmotionRecognizer").input_size) for s in by_id.values())


# --------------------------------------------------------------------------- #
# Through the real CLI
# --------------------------------------------------------------------------- #
def test_cli_validate_json_on_both_layouts(tmp_path, kelcore):
    deam_fixture(tmp_path / "deam", mirror=True)
    pmemo_fixture(tmp_path / "pmemo")
    deam = kelcore("data", "validate", "deam", "--root", str(tmp_path / "deam"), "--json")
    assert deam.returncode == 1, deam.stderr          # problems found: exit 1 (0 only when clean)
    counts = json.loads(deam.stdout)
    assert [counts[k] for k in ("listed", "usable", "missing", "corrupt", "unlabelled")] == [8, 3, 2, 2, 1]
    assert {p["kind"] for p in counts["problems"]} == {"missing", "corrupt", "unlabelled"}
    pmemo = kelcore("data", "validate", "pmemo", "--root", str(tmp_path / "pmemo" / "PMEmo2019"), "--json")
    assert pmemo.returncode == 1, pmemo.stderr
    counts = json.loads(pmemo.stdout)
    assert [counts[k] for k in ("listed", "usable", "missing", "corrupt", "unlabelled")] == [5, 2, 1, 1, 1]
    broken = kelcore("data", "validate", "deam", "--root", str(tmp_path / "pmemo"))
    assert broken.returncode != 0 and "arousal" in broken.stderr and "Traceback" not in broken.stderr


# --------------------------------------------------------------------------- #
# The demo corpus carries learnable structure on both axes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("seed", [0, 1])
def test_demo_valence_and_arousal_are_each_predictable_from_held_out_songs(tmp_path, seed):
    """A ridge regression on the prepared (standardised) features beats predicting the training mean on songs
    it never saw, for valence and for arousal separately."""
    write_deam_demo(tmp_path / "deam", seed=seed, songs=12, seconds=30)
    data = DeamDataset(DeamDataset.Options(root=tmp_path / "deam", cache_dir=tmp_path / "cache", workers=2)
                       ).prepare(RunContext(run_dir=tmp_path / "run", seed=seed))
    held_out = data.validation + data.test
    x, y = (np.concatenate([getattr(s, a) for s in data.train]) for a in ("inputs", "targets"))
    held_x, held_y = (np.concatenate([getattr(s, a) for s in held_out]) for a in ("inputs", "targets"))
    weights = np.linalg.solve(x.T @ x + 30 * np.eye(x.shape[1]), x.T @ (y - y.mean(axis=0)))
    model_rmse = np.sqrt(((held_x @ weights + y.mean(axis=0) - held_y) ** 2).mean(axis=0))
    mean_rmse = np.sqrt(((y.mean(axis=0) - held_y) ** 2).mean(axis=0))
    assert (model_rmse < 0.7 * mean_rmse).all(), (model_rmse, mean_rmse)
