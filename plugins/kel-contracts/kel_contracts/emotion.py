"""EmotionRecognizer 128 -> 64: log-mel of the audio the plugin hears, pooled over 0.5 s; valence x arousal grid."""
from __future__ import annotations

from .layout import Contract, Layout, Segment

SAMPLE_RATE = 22_050
N_FFT = 2048
HOP = 512
N_MELS = 128
FMIN = 0.0
FMAX = SAMPLE_RATE / 2
DB_FLOOR = 1e-10
# Slaney's mel scale (librosa's default): linear below MEL_LOG_START_HZ, logarithmic above.
MEL_LINEAR_HZ_PER_MEL = 200.0 / 3
MEL_LOG_START_HZ = 1000.0
MEL_LOG_STEP_RATIO, MEL_LOG_STEP_MELS = 6.4, 27.0     # log step = ln(6.4) / 27 per mel
WINDOW_SECONDS = 0.5
SILENCE = 1e-4
# The resampler is part of the contract (training used soxr, which a plugin cannot reproduce sample for sample):
# y[n] = sum_k x[k] g(n / 22050 - k / rate), g a Kaiser-windowed sinc with cutoff ROLLOFF x the lower Nyquist.
RESAMPLER_ZERO_CROSSINGS = 32
RESAMPLER_ROLLOFF = 0.95
RESAMPLER_KAISER_BETA = 8.6
MAX_RESAMPLER_PHASES = 2048         # 22,050 / gcd(rate, 22,050) fractional phases; 147 at 48 and 96 kHz
HOST_RATES = (44_100, 48_000, 88_200, 96_000)
GRID_BINS = 8
GRID_LOW, GRID_HIGH = -1.0, 1.0


def grid_centre(k: int) -> float:
    """Centre of valence/arousal bin ``k`` (0..7) on [-1, 1]."""
    width = (GRID_HIGH - GRID_LOW) / GRID_BINS
    return GRID_LOW + width * (k + 0.5)


CONTRACT = Contract(
    model="EmotionRecognizer",
    version="2.0.0",
    datasets="deam, pmemo",
    step="one 0.5 s window of audio, ending at t = 0.5, 1.0, 1.5, ... s after the song starts (2 Hz)",
    plugin_supplies="the host's audio blocks, any size, at the host's rate; reset at the start of each song",
    inputs=Layout((Segment("log_mel", N_MELS, "log-mel band {label} (dB), mean over the frames of the window",
                           "dB (ref 1.0, floor 1e-10)"),)),
    input_normalisation="standardised",
    outputs=Layout((Segment("grid", GRID_BINS * GRID_BINS, "probability of grid cell {label}: valence bin "
                            "{label} // 8, arousal bin {label} % 8", "0..1, sums to 1"),)),
    output_normalisation="softmax",
    targets="[valence, arousal], both in [-1, 1] (DEAM dynamic values as they are; PMEmo [0, 1] values as 2x - 1)",
    target_size=2,
    decoding="cell i = 8 v + a; bin k covers [-1 + k/4, -1 + (k+1)/4) with centre -0.875 + 0.25 k; expected "
             "valence = sum_i p_i centre(i // 8), expected arousal = sum_i p_i centre(i % 8).",
    native_tolerance=1e-3,              # dB per mel band: float64 on both sides, FFTs differ in rounding only
    changes=("2.0.0: the resampler to 22,050 Hz is defined by the contract (Kaiser-windowed sinc) instead of "
             "soxr, and every stage is computed in float64, so a plugin can reproduce the features exactly at "
             "44.1, 48, 88.2 and 96 kHz.",
             "1.0.0: first version (soxr resampling, float32 STFT)."),
    constants={"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "fmin": FMIN,
               "fmax": FMAX, "db_floor": DB_FLOOR, "window_s": WINDOW_SECONDS, "silence": SILENCE,
               "resampler": {"zero_crossings": RESAMPLER_ZERO_CROSSINGS, "rolloff": RESAMPLER_ROLLOFF,
                             "kaiser_beta": RESAMPLER_KAISER_BETA},
               "grid_bins": GRID_BINS},
    details=(
        "Mixdown: the mean of the channels, in float64.",
        "Resampling from the host rate r to 22,050 Hz: output sample n (n = 0 .. floor((N - 1) 22050 / r)) is "
        "sum_k x[k] g(n / 22050 - k / r) over the input samples k (zero before the first and after the last), "
        "g(t) = 2 f_c / r sinc(2 f_c t) w(t), f_c = 0.95 x 11,025 Hz (0.95 x half the lower rate), "
        "sinc(u) = sin(pi u) / (pi u), w(t) = I0(8.6 sqrt(1 - (2 f_c t / 32)^2)) / I0(8.6) for |2 f_c t| <= 32, "
        "else 0. At 22,050 Hz the audio is used as it is.",
        "STFT: centred frames (the resampled signal padded with 1,024 zeros at both ends), frame k centred at "
        "sample 512 k (time 512 k / 22,050 s), periodic Hann window of 2,048, power |X|^2.",
        "Mel: librosa's filterbank (Slaney mel scale, Slaney area normalisation), 128 bands, 0 to 11,025 Hz; "
        "dB = 10 log10(max(mel power, 1e-10)), all in float64.",
        "Pooling: the vector for time t is the mean of the dB frames whose centres lie in (t - 0.5 s, t], "
        "cast to float32; there is a vector only where such frames exist and t is at most the last frame's "
        "centre. The plugin emits it once audio up to t + 1,024 / 22,050 s (plus the resampler's reach) is in.",
    ),
)
