"""DEAM and PMEmo plugins on fixture trees with the real layouts and quirks (spaces, mirrors, ragged rows,
arousal-before-valence, unlabelled songs, mixed sample rates, corrupt and silent audio)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from kel_plugin_audio_features import SAMPLE_RATE, emotion_sequence, log_mel, pool
from kel_plugin_deam import DeamDataset
from kel_plugin_deam.dataset import read_dynamic, read_index as deam_index
from kel_plugin_deam.demo import write_demo as write_deam_demo
from kel_plugin_pmemo import PmemoDataset
from kelcore.api import RunContext

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
    import kel_plugin_audio_features as audio

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
