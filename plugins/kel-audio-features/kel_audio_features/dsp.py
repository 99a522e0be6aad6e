"""The EmotionRecognizer feature pipeline of contract ``kel_contracts.emotion`` (2.0.0), in float64 numpy.

Every stage is defined by the contract so that ``KelAudioFeatures.h`` computes the same numbers in a plugin:
mixdown (mean of the channels), the contract's Kaiser-windowed sinc resampler to 22,050 Hz, a centred STFT
(periodic Hann, power), librosa's Slaney mel filterbank (re-derived here in float64), dB and 0.5 s pooling.
No constant is repeated here: they all come from ``kel_contracts.emotion``.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from kel_contracts import emotion as C

RESAMPLE_ROWS = 8192        # output samples per phase computed at once (bounded memory, ~20 MB at 96 kHz)
STFT_BLOCK = 1024           # STFT frames computed at once (~16 MB), whatever the file's length
I0_TERMS = 50               # terms of I0's power series (the 50th is < 1e-60 of the sum for beta 8.6)


def mixdown(samples: np.ndarray) -> np.ndarray:
    """Mean of the channels of ``[N, channels]`` (or mono ``[N]``) in float64."""
    data = np.asarray(samples)
    if data.ndim == 1:
        return data.astype(np.float64)
    return data.astype(np.float64).mean(axis=1)


def bessel_i0(x: np.ndarray | float) -> np.ndarray:
    """Modified Bessel function I0 by its power series sum_k ((x/2)^k / k!)^2 (a fixed number of terms)."""
    half = np.asarray(x, dtype=np.float64) / 2.0
    total = np.ones_like(half)
    term = np.ones_like(half)
    for k in range(1, I0_TERMS):
        term = term * half / k
        total = total + term * term
    return total


class Resampler:
    """The contract's polyphase resampler from ``rate`` to 22,050 Hz.

    Output sample n lies at input position n M / P (P = 22050 / gcd, M = rate / gcd): integer part a and
    phase p = n M mod P. Its taps are x[a + j] for j = j_lo .. j_lo + taps - 1, weights ``table[p]``.
    """

    def __init__(self, rate: int):
        if rate <= 0 or int(rate) != rate:
            raise ValueError(f"sample rate must be a positive integer number of Hz, not {rate!r}")
        rate = int(rate)
        common = math.gcd(rate, C.SAMPLE_RATE)
        self.rate = rate
        self.phases = C.SAMPLE_RATE // common
        self.step = rate // common
        if self.phases > C.MAX_RESAMPLER_PHASES:
            raise ValueError(f"{rate} Hz needs {self.phases} resampler phases (22,050 / gcd({rate}, 22,050)); "
                             f"the contract allows at most {C.MAX_RESAMPLER_PHASES}: resample the audio to a "
                             f"common rate such as {', '.join(map(str, C.HOST_RATES))} Hz first")
        self.cutoff = C.RESAMPLER_ROLLOFF * min(rate, C.SAMPLE_RATE) / 2.0
        reach = C.RESAMPLER_ZERO_CROSSINGS * rate / (2.0 * self.cutoff)     # in input samples
        self.j_lo = -int(math.floor(reach))
        self.taps = 2 * int(math.floor(reach)) + 2
        p = np.arange(self.phases, dtype=np.float64)[:, None]
        j = (self.j_lo + np.arange(self.taps, dtype=np.float64))[None, :]
        self.table = kernel(p / self.phases - j, rate, self.cutoff)

    def output_length(self, n: int) -> int:
        return 0 if n == 0 else (n - 1) * C.SAMPLE_RATE // self.rate + 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        count = self.output_length(len(x))
        out = np.empty(count, dtype=np.float64)
        if count == 0:
            return out
        last_a = (count - 1) * self.step // self.phases
        # x with zeros before the first and after the last sample: index a + j + pad_left
        pad_left = -self.j_lo
        pad_right = max(0, last_a + self.j_lo + self.taps - len(x))
        padded = np.concatenate([np.zeros(pad_left), x, np.zeros(pad_right)])
        stride = padded.strides[0]
        for first in range(min(self.phases, count)):
            # outputs n = first + P m share the phase of `first`; their a grows by M each
            p = first * self.step % self.phases
            a0 = first * self.step // self.phases
            rows = (count - 1 - first) // self.phases + 1
            weights = self.table[p]
            for start in range(0, rows, RESAMPLE_ROWS):
                n_rows = min(RESAMPLE_ROWS, rows - start)
                base = a0 + start * self.step          # a of the block's first output, + pad_left - pad_left
                view = np.lib.stride_tricks.as_strided(padded[base:], shape=(n_rows, self.taps),
                                                       strides=(self.step * stride, stride), writeable=False)
                out[first + (start + np.arange(n_rows)) * self.phases] = view @ weights
        return out


def kernel(offset: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    """g(t) at t = offset / rate (offset in input samples): 2 f_c / r sinc(2 f_c t) w(t), Kaiser w."""
    t = offset / rate
    u = 2.0 * cutoff * t
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(u == 0.0, 1.0, np.sin(np.pi * u) / (np.pi * u))
    ratio = u / C.RESAMPLER_ZERO_CROSSINGS
    inside = np.abs(u) <= C.RESAMPLER_ZERO_CROSSINGS
    window = bessel_i0(C.RESAMPLER_KAISER_BETA * np.sqrt(np.maximum(0.0, 1.0 - ratio * ratio))) \
        / bessel_i0(C.RESAMPLER_KAISER_BETA)
    return np.where(inside, 2.0 * cutoff / rate * sinc * window, 0.0)


@lru_cache(maxsize=16)
def resampler(rate: int) -> Resampler:
    """The resampler of ``rate`` (its tap table built once per rate)."""
    return Resampler(rate)


def resample(mono: np.ndarray, rate: int) -> np.ndarray:
    """Mono float64 audio at ``rate`` -> float64 at 22,050 Hz by the contract's Kaiser-windowed sinc.

    Output n = 0 .. floor((N - 1) 22050 / rate); identity at 22,050 Hz.
    """
    if rate == C.SAMPLE_RATE:
        return np.asarray(mono, dtype=np.float64)
    return resampler(int(rate))(mono)


def _mel_scale() -> tuple[float, float, float, float]:
    """(Hz per mel below the log region, where it starts in Hz and in mels, log step per mel) of the contract."""
    f_sp, min_log_hz = C.MEL_LINEAR_HZ_PER_MEL, C.MEL_LOG_START_HZ
    return f_sp, min_log_hz, min_log_hz / f_sp, float(np.log(C.MEL_LOG_STEP_RATIO) / C.MEL_LOG_STEP_MELS)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = _mel_scale()
    linear = hz / f_sp
    with np.errstate(divide="ignore"):
        logarithmic = min_log_mel + np.log(np.maximum(hz, 1e-300) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, logarithmic, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = _mel_scale()
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """``[128, 1025]`` float64: librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128, fmin=0, fmax=11025)
    (Slaney mel scale, Slaney area normalisation), computed the way KelAudioFeatures.h computes it."""
    bins = C.N_FFT // 2 + 1
    fft_freqs = np.arange(bins, dtype=np.float64) * (C.SAMPLE_RATE / C.N_FFT)
    low, high = float(hz_to_mel(C.FMIN)), float(hz_to_mel(C.FMAX))
    count = C.N_MELS + 2
    step = (high - low) / (count - 1)
    mels = low + np.arange(count) * step
    mels[-1] = high
    mel_f = mel_to_hz(mels)
    fdiff = np.diff(mel_f)
    weights = np.zeros((C.N_MELS, bins))
    for i in range(C.N_MELS):
        lower = (fft_freqs - mel_f[i]) / fdiff[i]
        upper = (mel_f[i + 2] - fft_freqs) / fdiff[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (mel_f[i + 2] - mel_f[i]))
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=1)
def hann() -> np.ndarray:
    """Periodic Hann window of N_FFT samples."""
    n = np.arange(C.N_FFT, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / C.N_FFT)
    window.setflags(write=False)
    return window


def log_mel(audio: np.ndarray) -> np.ndarray:
    """``[frames, 128]`` float64 log-mel energies in dB (ref 1.0, floor 1e-10) of 22,050 Hz audio; frame k is
    centred at k * 512 / 22,050 s (frames 0 .. len // 512). Computed in blocks: memory stays bounded."""
    half = C.N_FFT // 2
    padded = np.pad(np.asarray(audio, dtype=np.float64), (half, half))
    frames = np.lib.stride_tricks.sliding_window_view(padded, C.N_FFT)[::C.HOP]
    filters = mel_filterbank().T
    window = hann()
    out = np.empty((len(frames), C.N_MELS), dtype=np.float64)
    for start in range(0, len(frames), STFT_BLOCK):
        spectrum = np.fft.rfft(frames[start:start + STFT_BLOCK] * window, axis=1)
        power = spectrum.real ** 2 + spectrum.imag ** 2
        out[start:start + STFT_BLOCK] = 10.0 * np.log10(np.maximum(power @ filters, C.DB_FLOOR))
    return out


def pool(logmel: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the dB frames centred in ``(t - 0.5 s, t]`` for each time, as float32; and which times had audio
    (frames in the window and t at most the last frame's centre)."""
    times = np.asarray(times, dtype=np.float64)
    centres = np.arange(len(logmel)) * C.HOP / C.SAMPLE_RATE
    first = np.searchsorted(centres, times - C.WINDOW_SECONDS, side="right")
    last = np.searchsorted(centres, times, side="right")
    has_audio = (last > first) & (times <= (centres[-1] if len(centres) else -1.0) + 1e-9)
    pooled = np.empty((int(has_audio.sum()), logmel.shape[1]), dtype=np.float64)
    for row, (lo, hi) in enumerate(zip(first[has_audio], last[has_audio])):
        pooled[row] = logmel[lo:hi].sum(axis=0) / (hi - lo)
    return pooled.astype(np.float32), has_audio


def features_at_host_rate(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """What the plugin emits over a whole song: ``(times [T], vectors [T, 128] float32)`` for every
    t = 0.5, 1.0, ... s that has audio, from ``samples`` ``[N, channels]`` (or ``[N]``) at ``rate`` Hz."""
    audio = resample(mixdown(samples), rate)
    logmel = log_mel(audio)
    last_centre = (len(logmel) - 1) * C.HOP / C.SAMPLE_RATE
    steps = int(np.floor(last_centre / C.WINDOW_SECONDS + 1e-9)) if len(logmel) else 0
    times = C.WINDOW_SECONDS * np.arange(1, steps + 1, dtype=np.float64)
    vectors, has_audio = pool(logmel, times)
    return times[has_audio], vectors
