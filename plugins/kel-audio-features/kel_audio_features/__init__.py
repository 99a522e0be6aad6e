"""EmotionRecognizer features from audio (contract ``kel_contracts.emotion``, 2.0.0), shared by the DEAM and
PMEmo plugins.

Decoding: soundfile (its wheel bundles libsndfile with MP3). Everything after decoding is the contract's
float64 pipeline in :mod:`.dsp` (mixdown, Kaiser-windowed sinc resampling to 22,050 Hz, centred STFT, Slaney
mel, dB, 0.5 s pooling), which ``KelAudioFeatures.h`` reproduces in a plugin at any host rate.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from kel_contracts.emotion import CONTRACT, HOP, N_FFT, N_MELS, SAMPLE_RATE, SILENCE, WINDOW_SECONDS

from kelcore.api import Extracted, IndexedDataset, Track

from .dsp import features_at_host_rate, log_mel, mel_filterbank, mixdown, pool, resample

DECODE_MARGIN = 0.5     # s decoded past the last annotation: covers the last STFT frame and the resampler's reach
FEATURE_CONFIG = CONTRACT.cache_key()   # part of the cache key: any contract change re-extracts


class AudioError(ValueError):
    """Audio that cannot be used; the message is the logged reason."""


def load_audio(path: Path, until: float | None = None) -> np.ndarray:
    """Mono float64 at 22,050 Hz (the contract's mixdown and resampler), whatever the file's rate and channels.

    ``until`` (seconds) decodes only the start of the file: features need audio up to the last annotation
    time, so a long or pathological file never costs more memory than its annotations justify.
    """
    import soundfile

    try:
        if Path(path).is_file() and Path(path).stat().st_size == 0:  # libsndfile would say "possibly a pipe?"
            raise AudioError("unreadable audio: empty file (0 bytes)")
    except OSError as exc:
        raise AudioError(f"unreadable audio: {exc.strerror or exc}") from None
    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            frames = -1 if until is None else int(np.ceil((until + DECODE_MARGIN) * rate))
            data = handle.read(frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own error types
        text = str(exc)
        if Path(path).is_file() and "not a regular file" in text:  # libsndfile's words for a format it cannot read
            text = f"{Path(path).suffix or 'the file'} could not be decoded (not a format libsndfile reads, or damaged)"
        raise AudioError(f"unreadable audio: {text}") from None
    if data.size == 0:
        raise AudioError("empty audio (no samples)")
    mono = mixdown(data)
    if np.abs(mono).max() < SILENCE:
        raise AudioError("silent audio")
    try:
        return resample(mono, rate)
    except ValueError as exc:   # a rate the contract's resampler does not support
        raise AudioError(str(exc)) from None


def emotion_sequence(path: Path, labels: Any) -> Extracted:
    """Inputs ``[T, 128]`` and targets ``[T, 2]`` (valence, arousal in [-1, 1]) for every annotated frame with audio.

    ``labels`` is ``{"times": [...], "valence": [...], "arousal": [...]}`` already on the [-1, 1] scale.
    """
    if not labels or not len(labels["times"]):
        return Extracted(kind="unlabelled", reason="no dynamic valence/arousal annotations")
    times = np.asarray(labels["times"], dtype=np.float64)
    try:
        audio = load_audio(path, until=float(times.max()))
    except AudioError as exc:
        return Extracted(kind="corrupt", reason=str(exc))
    inputs, has_audio = pool(log_mel(audio), times)
    if len(inputs) < 2:
        return Extracted(kind="corrupt", reason=f"audio is {len(audio) / SAMPLE_RATE:.1f} s: it ends before the "
                                                f"annotations (first at {times.min():.1f} s)")
    targets = np.stack([np.asarray(labels["valence"])[has_audio], np.asarray(labels["arousal"])[has_audio]], axis=1)
    return Extracted(inputs, targets.astype(np.float32))


def synthesize(valence: np.ndarray, arousal: np.ndarray, seed: int, frame_seconds: float = WINDOW_SECONDS,
               rate: int = SAMPLE_RATE) -> np.ndarray:
    """Audio whose sound follows valence and arousal frame by frame.

    Valence: major (positive) vs minor (negative) arpeggio over a held triad, register (up to half an octave
    higher when positive) and brightness (more harmonics, slower roll-off when positive).
    Arousal: note rate (1-8 per second), faster decay, loudness and noise rise with it.
    Cues a log-mel frame shows directly: with only the interval as a valence cue, an EmotionRecognizer trained
    on 24 demo songs learned arousal but not valence.
    """
    rng = np.random.default_rng(seed)
    samples = int(frame_seconds * rate)
    t = np.arange(samples) / rate
    out, phase_note = [], 0
    key = int(rng.integers(-2, 3))          # each song in its own key, a few semitones either way
    for v, a in zip(valence, arousal):
        third = 4 if v >= 0 else 3
        base = 220.0 * 2 ** ((key + round(6 * v)) / 12)
        harmonics = 2 + int(round((v + 1) * 4))
        tilt = 1.6 - 0.6 * (v + 1)
        notes = max(1, int(round((a + 1) / 2 * 4 * frame_seconds * 2)))
        frame = np.zeros(samples)
        for k in range(notes):
            start = int(k * samples / notes)
            tt = t[: samples - start]
            freq = base * 2 ** ([0, third, 7, 12][(phase_note + k) % 4] / 12)
            tone = sum(np.sin(2 * np.pi * freq * h * tt) / h ** tilt for h in range(1, harmonics + 1))
            chord = sum(np.sin(2 * np.pi * base * 2 ** (d / 12) * tt) for d in (0, third, 7)) / 3
            frame[start:] += (tone + 0.5 * chord) * np.exp(-tt * (3 + 6 * (a + 1)))
        phase_note += notes
        loudness = 0.05 + 0.2 * (a + 1) / 2
        frame = loudness * frame / max(np.abs(frame).max(), 1e-9) + 0.02 * (a + 1) * rng.standard_normal(samples)
        out.append(frame)
    return np.clip(np.concatenate(out), -1, 1).astype(np.float32)


def write_demo_audio(stem: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write ``stem.mp3`` as the real datasets ship, or ``stem.wav`` (which both plugins also read) when this
    libsndfile cannot encode MP3 (before 1.1); returns the path written."""
    import soundfile

    if "MP3" in soundfile.available_formats():
        path = stem.with_suffix(".mp3")
        soundfile.write(path, audio, rate, format="MP3")
        return path
    _warn_no_mp3(soundfile.__libsndfile_version__)
    path = stem.with_suffix(".wav")
    soundfile.write(path, audio, rate, subtype="PCM_16")
    return path


@lru_cache(maxsize=1)
def _warn_no_mp3(version: str) -> None:
    import sys

    print(f"libsndfile {version} cannot encode MP3: demo audio is written as WAV, which the plugins also read",
          file=sys.stderr)


def drifting_labels(rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A song's dynamic (valence, arousal) in [-1, 1]: a random centre that drifts slowly."""
    t = np.arange(frames)
    centre = rng.uniform(-0.8, 0.8, size=2)
    drift = 0.25 * np.sin(2 * np.pi * t[:, None] / rng.uniform(20, 60, size=2) + rng.uniform(0, 6.3, size=2))
    values = np.clip(centre + drift + rng.normal(0, 0.02, size=(frames, 2)), -1, 1)
    return values[:, 0], values[:, 1]


def extract_emotion(track: Track, config: Any) -> Extracted:
    """Dataset extractor: EmotionRecognizer features of one annotated song (runs in worker processes)."""
    return emotion_sequence(track.path, track.labels)


def check_audio(track: Track, config: Any) -> Extracted:
    """Dataset validation: the song has annotations and its audio decodes to something audible."""
    if not track.labels or not len(track.labels["times"]):
        return Extracted(kind="unlabelled", reason="no dynamic valence/arousal annotations")
    try:
        load_audio(track.path, until=float(max(track.labels["times"])))
    except AudioError as exc:
        return Extracted(kind="corrupt", reason=str(exc))
    return Extracted()


class EmotionAudioDataset(IndexedDataset):
    """Base of the audio emotion datasets: EmotionRecognizer features, standardised inputs, (valence, arousal)
    targets. A subclass sets ``name`` and ``Options`` and reads its layout in ``read_index``."""

    tasks = {"": "EmotionRecognizer"}
    extract = staticmethod(extract_emotion)
    check = staticmethod(check_audio)

    def feature_config(self) -> Any:
        """Part of the cache key: the contract's model, version and constants (a change to any of them
        re-extracts)."""
        return {**super().feature_config(), "audio": FEATURE_CONFIG}


__all__ = ["AudioError", "CONTRACT", "DECODE_MARGIN", "EmotionAudioDataset", "FEATURE_CONFIG", "HOP", "N_FFT",
           "N_MELS", "SAMPLE_RATE", "SILENCE", "WINDOW_SECONDS", "check_audio", "drifting_labels", "emotion_sequence",
           "extract_emotion", "features_at_host_rate", "load_audio", "log_mel", "mel_filterbank", "mixdown", "pool",
           "resample", "synthesize", "write_demo_audio"]
