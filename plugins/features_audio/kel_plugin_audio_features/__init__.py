"""EmotionRecognizer features from audio (contract 1.0.0), shared by the DEAM and PMEmo plugins.

Decoding: soundfile (its wheel bundles libsndfile with MP3). Resampling: soxr. The log-mel spectrogram is
computed with numpy (periodic Hann, centred frames, zero padding) on librosa's mel filterbank: the same
numbers as ``librosa.feature.melspectrogram`` (checked to 2e-7 relative) without its ~15 s first-call JIT
in every worker process.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kelcore.data import Extracted, IndexedDataset, Track

SAMPLE_RATE = 22_050
N_FFT = 2048
HOP = 512
N_MELS = 128
WINDOW_SECONDS = 0.5
SILENCE = 1e-4
DECODE_MARGIN = 0.5     # s decoded past the last annotation: covers the last STFT frame and soxr's filter edge
STFT_BLOCK = 1024       # STFT frames computed at once (~16 MB), whatever the file's length
FEATURE_CONFIG = {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "fmin": 0.0,
                  "fmax": SAMPLE_RATE / 2, "window_s": WINDOW_SECONDS, "silence": SILENCE, "db_floor": 1e-10}


class AudioError(ValueError):
    """Audio that cannot be used; the message is the logged reason."""


def load_audio(path: Path, until: float | None = None) -> np.ndarray:
    """Mono float32 at 22,050 Hz, whatever the file's rate and channels.

    ``until`` (seconds) decodes only the start of the file: features need audio up to the last annotation
    time, so a long or pathological file never costs more memory than its annotations justify.
    """
    import soundfile
    import soxr

    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            frames = -1 if until is None else int(np.ceil((until + DECODE_MARGIN) * rate))
            data = handle.read(frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own error types
        raise AudioError(f"unreadable audio: {exc}") from None
    if data.size == 0:
        raise AudioError("empty audio (no samples)")
    mono = data.mean(axis=1)
    if np.abs(mono).max() < SILENCE:
        raise AudioError("silent audio")
    return soxr.resample(mono, rate, SAMPLE_RATE).astype(np.float32) if rate != SAMPLE_RATE else mono


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    import librosa.filters

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=SAMPLE_RATE / 2)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """``[frames, 128]`` log-mel energies in dB (ref 1.0, floor 1e-10); frame k is centred at k * 512 / 22,050 s.

    Computed in blocks of frames, so memory stays bounded for long files.
    """
    padded = np.pad(audio.astype(np.float32, copy=False), (N_FFT // 2, N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    filters = mel_filterbank().T
    out = np.empty((len(frames), N_MELS), dtype=np.float32)
    for start in range(0, len(frames), STFT_BLOCK):
        power = np.abs(np.fft.rfft(frames[start:start + STFT_BLOCK] * window, axis=1)) ** 2
        out[start:start + STFT_BLOCK] = 10.0 * np.log10(np.maximum(power @ filters, 1e-10))
    return out


def pool(logmel: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the frames centred in ``(t - 0.5 s, t]`` for each annotation time; and which times had audio."""
    centres = np.arange(len(logmel)) * HOP / SAMPLE_RATE
    first = np.searchsorted(centres, times - WINDOW_SECONDS, side="right")
    last = np.searchsorted(centres, times, side="right")
    has_audio = (last > first) & (times <= centres[-1] + 1e-9)
    cumulative = np.concatenate([np.zeros((1, logmel.shape[1])), np.cumsum(logmel, axis=0, dtype=np.float64)])
    counts = np.maximum(last - first, 1)[:, None]
    pooled = (cumulative[last] - cumulative[first]) / counts
    return pooled[has_audio].astype(np.float32), has_audio


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
    standardised_tasks = frozenset({""})
    target_size = 2
    extract = staticmethod(extract_emotion)
    check = staticmethod(check_audio)

    def feature_config(self) -> Any:
        """Part of the cache key: a change to any audio feature parameter re-extracts."""
        return {**super().feature_config(), "audio": FEATURE_CONFIG}
