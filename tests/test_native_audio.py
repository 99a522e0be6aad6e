"""KelAudioFeatures.h (the plugin's EmotionRecognizer features) against the training features
(kel_audio_features), and the contract's resampler and filterbank against known answers.

The C++ side needs g++ (or $CXX); those tests are skipped with the reason otherwise.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from kel_contracts import emotion as C, native_dir

from kel_audio_features import EmotionAudioDataset, dsp, features_at_host_rate, log_mel, pool, resample
from kel_runtime import audio_parity as native, native_dir as runtime_dir
from kel_runtime.build import BuildError, compiler
from conftest import RTNEURAL_DIR, build_cxx, needs_rtneural

try:
    COMPILER = compiler()[0]
except BuildError:
    COMPILER = None
needs_cxx = pytest.mark.skipif(COMPILER is None, reason="no C++ compiler (g++ or $CXX) is installed")
DEMO_SECONDS = 16


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    if COMPILER is None:
        pytest.skip("no C++ compiler (g++ or $CXX) is installed")
    return native.build_audio_driver(tmp_path_factory.mktemp("audio-build"))


@pytest.fixture(scope="module")
def demo_mono(tmp_path_factory) -> np.ndarray:
    """One demo DEAM song (as `kelcore data demo deam` writes it), decoded at its 22,050 Hz."""
    from kel_plugin_deam.demo import write_demo

    root = tmp_path_factory.mktemp("deam")
    write_demo(root, seed=0, songs=1, seconds=DEMO_SECONDS)
    path = next((root / "MEMD_audio").iterdir())
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == C.SAMPLE_RATE
    return data.mean(axis=1).astype(np.float64)


def at_host_rate(mono: np.ndarray, rate: int) -> np.ndarray:
    """The demo song as a host would play it: ``rate`` Hz stereo, right a little quieter, later and noisier."""
    from scipy.signal import resample_poly

    common = math.gcd(rate, C.SAMPLE_RATE)
    up = resample_poly(mono, rate // common, C.SAMPLE_RATE // common)
    noise = np.random.default_rng(rate).standard_normal(len(up))
    return np.stack([up, 0.8 * np.roll(up, 3) + 0.01 * noise], axis=1).astype(np.float32)


# --------------------------------------------------------------------------- #
# The contract's pieces in Python
# --------------------------------------------------------------------------- #
def test_slaney_filterbank_equals_librosa():
    import librosa

    theirs = librosa.filters.mel(sr=C.SAMPLE_RATE, n_fft=C.N_FFT, n_mels=C.N_MELS, fmin=C.FMIN, fmax=C.FMAX)
    ours = dsp.mel_filterbank()
    assert ours.dtype == np.float64 and ours.shape == theirs.shape == (128, 1025)
    assert np.array_equal(ours != 0, theirs != 0)
    assert np.abs(ours - theirs).max() <= 1e-6 * np.abs(theirs).max()
    nonzero = theirs != 0
    assert (np.abs(ours[nonzero] - theirs[nonzero]) / theirs[nonzero]).max() < 1e-6


@pytest.mark.parametrize("rate", C.HOST_RATES)
def test_resampler_keeps_a_1khz_sine_and_removes_what_would_alias(rate):
    t = np.arange(2 * rate) / rate
    length = (len(t) - 1) * C.SAMPLE_RATE // rate + 1
    middle = slice(2000, length - 2000)        # away from the zeros before the start and after the end
    kept = resample(np.sin(2 * np.pi * 1000.0 * t), rate)
    assert kept.dtype == np.float64 and len(kept) == length
    expected = np.sin(2 * np.pi * 1000.0 * np.arange(length) / C.SAMPLE_RATE)
    assert np.abs(kept[middle] - expected[middle]).max() < 1e-3
    removed = resample(np.sin(2 * np.pi * 11_500.0 * t), rate)   # above 11,025 Hz: would alias to 10,550 Hz
    assert 20 * np.log10(np.abs(removed[middle]).max()) < -60


def test_resampler_polyphase_table_is_the_contract_formula_and_is_built_once():
    r = dsp.resampler(48_000)
    assert dsp.resampler(48_000) is r
    assert (r.phases, r.step) == (147, 320) and dsp.resampler(44_100).phases == 1
    assert dsp.resampler(96_000).phases == 147 and dsp.resampler(88_200).phases == 1
    x = np.random.default_rng(0).standard_normal(500)
    y = resample(x, 48_000)
    for n in (0, 1, 57, 100, len(y) - 1):                      # y[n] = sum_k x[k] g(n / 22050 - k / 48000)
        k = np.arange(len(x))
        direct = (x * dsp.kernel(n * 48_000 / C.SAMPLE_RATE - k, 48_000, r.cutoff)).sum()
        assert y[n] == pytest.approx(direct, abs=1e-12)
    assert len(y) == (len(x) - 1) * C.SAMPLE_RATE // 48_000 + 1
    assert np.array_equal(resample(x, C.SAMPLE_RATE), x)      # identity at 22,050 Hz


def test_rates_beyond_the_phase_limit_are_refused_clearly():
    with pytest.raises(ValueError, match="resampler phases"):
        resample(np.zeros(100), 44_101)


def test_whole_song_features_are_the_training_features_at_every_half_second(demo_mono):
    times, vectors = features_at_host_rate(demo_mono[:, None].astype(np.float32), C.SAMPLE_RATE)
    logmel = log_mel(demo_mono.astype(np.float32))
    expected, has_audio = pool(logmel, times)
    assert vectors.dtype == np.float32 and vectors.shape == (len(times), C.N_MELS)
    assert has_audio.all() and np.array_equal(vectors, expected)
    assert times[0] == 0.5 and np.allclose(np.diff(times), 0.5)
    assert times[-1] <= (len(logmel) - 1) * C.HOP / C.SAMPLE_RATE < times[-1] + 0.5


def test_feature_cache_key_holds_the_contract():
    from kel_plugin_deam import DeamDataset

    assert issubclass(DeamDataset, EmotionAudioDataset)
    key = DeamDataset(DeamDataset.Options(root=Path("."))).feature_config()
    assert C.CONTRACT.cache_key() in key.values()


# --------------------------------------------------------------------------- #
# C++ against Python
# --------------------------------------------------------------------------- #
@needs_cxx
def test_header_compiles_warning_free_with_native_optimisation():
    source = runtime_dir() / "drivers" / "audio_driver.cpp"
    build_cxx(source, ["-std=c++17", "-O3", "-march=native", "-Wall", "-Wextra", "-Werror", f"-I{native_dir()}", "-c"],
              sorted(native_dir().glob("*.h")), name="audio_driver-o3-native.o")


@needs_cxx
@pytest.mark.parametrize("rate", C.HOST_RATES)
def test_cpp_features_match_training_at_every_host_rate(driver, demo_mono, rate):
    samples = at_host_rate(demo_mono, rate)
    result = native.compare_audio(driver, samples, rate, seed=rate)
    print(f"{rate} Hz: {result}")
    assert result["same_times"] and result["vectors"] == 2 * DEMO_SECONDS - 1
    assert result["worst_db"] <= C.CONTRACT.native_tolerance, result
    assert result["allocations"] == 0 and result["prepare_allocations"] > 0 and result["dropped"] == 0


@needs_cxx
def test_block_sizes_give_identical_vectors(driver, demo_mono):
    rate = 48_000
    samples = at_host_rate(demo_mono[: 6 * C.SAMPLE_RATE], rate)
    whole = native.run_driver(driver, samples, rate, whole=True)
    assert len(whole["times"]) == 11 and np.ptp(whole["vectors"]) > 20     # real spectra, not a constant
    for run in (native.run_driver(driver, samples, rate, block=1), native.run_driver(driver, samples, rate, block=64),
                native.run_driver(driver, samples, rate, block=4096), native.run_driver(driver, samples, rate, seed=7)):
        assert np.array_equal(run["times"], whole["times"])
        assert np.array_equal(run["vectors"], whole["vectors"])
        assert run["allocations"] == 0


@needs_cxx
def test_cpp_refuses_rates_beyond_the_phase_limit(driver):
    with pytest.raises(native.NativeError, match="unsupported sample rate 44101"):
        native.run_driver(driver, np.zeros((1000, 1), np.float32), 44_101)


@needs_cxx
def test_driver_build_is_cached_by_source_hash(driver, tmp_path):
    assert native.build_audio_driver(driver.parent) == driver
    assert shutil.which(str(driver)) is not None or driver.is_file()


# --------------------------------------------------------------------------- #
# The plugin's whole EmotionRecognizer path: C++ features -> Normaliser -> RTNeural -> decodeEmotion
# --------------------------------------------------------------------------- #
EMOTION_HOST = r"""
#include <RTNeural/RTNeural.h>
#include "KelAudioFeatures.h"
#include "KelNormalisation.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    std::ifstream file(argv[1]);
    std::stringstream text;
    text << file.rdbuf();
    kel::Normaliser normaliser;
    std::string error;
    if (!normaliser.loadFromJson(text.str(), kel::contracts::emotion::kInputSize, &error)) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 3;
    }
    auto model = RTNeural::json_parser::parseJson<float>(nlohmann::json::parse(text.str()), false);
    std::FILE* in = std::fopen(argv[2], "rb");
    char magic[8];
    std::int32_t rate = 0, channels = 0;
    std::int64_t frames = 0;
    if (std::fread(magic, 1, 8, in) != 8 || std::fread(&rate, 4, 1, in) != 1 || std::fread(&channels, 4, 1, in) != 1
        || std::fread(&frames, 8, 1, in) != 1) return 4;
    std::vector<float> interleaved(static_cast<std::size_t>(frames * channels));
    if (std::fread(interleaved.data(), 4, interleaved.size(), in) != interleaved.size()) return 5;
    std::fclose(in);
    std::vector<std::vector<float>> planes(channels, std::vector<float>(frames));
    for (std::int64_t i = 0; i < frames; ++i)
        for (int c = 0; c < channels; ++c) planes[c][i] = interleaved[i * channels + c];
    std::vector<const float*> pointers(channels);
    kel::EmotionFeatures features;
    if (!features.prepare(rate, 512)) return 6;
    model->reset();
    std::FILE* out = std::fopen(argv[3], "w");
    float vector[kel::contracts::emotion::kInputSize];
    double time = 0.0;
    auto drain = [&] {
        while (features.popFeatures(vector, &time)) {
            normaliser.apply(vector);
            model->forward(vector);
            float valence = 0.0f, arousal = 0.0f;
            kel::decodeEmotion(model->getOutputs(), valence, arousal);
            std::fprintf(out, "%.17g %.9g %.9g\n", time, valence, arousal);
        }
    };
    for (std::int64_t position = 0; position < frames; position += 512) {
        for (int c = 0; c < channels; ++c) pointers[c] = planes[c].data() + position;
        features.process(pointers.data(), channels, static_cast<int>(std::min<std::int64_t>(512, frames - position)));
        drain();
    }
    features.finish();
    drain();
    std::fclose(out);
    return 0;
}
"""


@needs_rtneural
@needs_cxx
def test_plugin_emotion_path_matches_pytorch(demo_mono, tmp_path):
    """Python features -> standardisation -> PyTorch -> decoding, against the C++ path a plugin runs, at 48 kHz."""
    import json

    import torch
    from kel_plugin_emotion.model import EmotionRecognizer, expected_position
    from kel_plugin_rtneural import RTNeuralExporter
    from kelcore.api import ExportContext

    from kel_hostbench.native import compile_flags

    rate = 48_000
    samples = at_host_rate(demo_mono, rate)
    times, inputs = features_at_host_rate(samples, rate)
    mean = inputs.mean(axis=0)
    std = np.maximum(inputs.std(axis=0), 1e-3)
    torch.manual_seed(0)
    model = EmotionRecognizer()
    model.eval()
    context = ExportContext(normalization={"mean": mean.tolist(), "std": std.tolist()}, seed=0)
    exported = RTNeuralExporter().export(model, tmp_path / "EmotionRecognizer.json", context).path
    assert json.loads(exported.read_text())["metadata"]["feature_contract"]["version"] == C.CONTRACT.version
    standardised = (inputs - mean.astype(np.float32)) / std.astype(np.float32)
    with torch.no_grad():
        outputs = model(torch.from_numpy(standardised)[None])[0]
    valence, arousal = (v.numpy() for v in expected_position(outputs))

    (tmp_path / "emotion_host.cpp").write_text(EMOTION_HOST)
    binary = build_cxx(tmp_path / "emotion_host.cpp", [*compile_flags(RTNEURAL_DIR, native_dir()), "-ffp-contract=off"],
                       sorted([*native_dir().glob("*.h"), *runtime_dir().glob("*.h")]))
    native.write_pcm(tmp_path / "song.pcm", samples, rate)
    run = subprocess.run([str(binary), str(exported), str(tmp_path / "song.pcm"), str(tmp_path / "va.txt")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = np.loadtxt(tmp_path / "va.txt", ndmin=2)
    assert np.array_equal(rows[:, 0], times)
    print(f"valence {np.abs(rows[:, 1] - valence).max():.3g}, arousal {np.abs(rows[:, 2] - arousal).max():.3g}")
    assert np.abs(rows[:, 1] - valence).max() < 1e-4 and np.abs(rows[:, 2] - arousal).max() < 1e-4
    assert np.ptp(valence) > 0 or np.ptp(arousal) > 0


# --------------------------------------------------------------------------- #
# popFeatures from a second thread: a lock-free SPSC FIFO, clean under ThreadSanitizer
# --------------------------------------------------------------------------- #
TWO_THREADS = r"""
#include "KelAudioFeatures.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

int main() {
    const int rate = 48000, block = 480, seconds = 12;
    std::vector<float> left(static_cast<std::size_t>(rate * seconds)), right(left.size());
    for (std::size_t i = 0; i < left.size(); ++i) {
        left[i] = static_cast<float>(0.5 * std::sin(0.031 * static_cast<double>(i)) * std::sin(1e-4 * i));
        right[i] = static_cast<float>(0.3 * std::sin(0.017 * static_cast<double>(i)));
    }
    auto reference = [&](std::vector<float>& out) {   // one thread: process, then pop everything
        kel::EmotionFeatures features;
        features.prepare(rate, block);
        float v[kel::EmotionFeatures::kSize];
        for (std::size_t at = 0; at < left.size(); at += block) {
            const float* channels[2] = {left.data() + at, right.data() + at};
            features.process(channels, 2, block);
            while (features.popFeatures(v))
                out.insert(out.end(), v, v + kel::EmotionFeatures::kSize);
        }
    };
    std::vector<float> expected, got;
    reference(expected);
    kel::EmotionFeatures features;
    features.prepare(rate, block);
    std::atomic<bool> done{false};
    std::thread consumer([&] {                         // the inference thread pops while the audio thread runs
        float v[kel::EmotionFeatures::kSize];
        double time = 0.0;
        for (;;) {
            const bool last = done.load(std::memory_order_acquire);
            while (features.popFeatures(v, &time))
                got.insert(got.end(), v, v + kel::EmotionFeatures::kSize);
            if (last)
                break;
            std::this_thread::yield();
        }
    });
    for (std::size_t at = 0; at < left.size(); at += block) {
        const float* channels[2] = {left.data() + at, right.data() + at};
        features.process(channels, 2, block);
    }
    done.store(true, std::memory_order_release);
    consumer.join();
    const long long dropped = features.droppedVectors();
    const std::size_t size = kel::EmotionFeatures::kSize;
    bool same = got.size() + static_cast<std::size_t>(dropped) * size == expected.size();
    for (std::size_t i = 0; same && i < got.size(); ++i)
        same = got[i] == expected[i];
    std::printf("vectors %zu popped %zu dropped %lld same %d\n", expected.size() / size, got.size() / size, dropped,
                same ? 1 : 0);
    return same ? 0 : 1;
}
"""


@needs_cxx
def test_pop_features_on_another_thread_is_race_free_under_thread_sanitizer(tmp_path):
    """The FIFO between process() (audio thread) and popFeatures() (inference thread): TSan reports no race and
    the popped vectors are the single-threaded ones, in order."""
    (tmp_path / "two_threads.cpp").write_text(TWO_THREADS)
    try:
        binary = build_cxx(tmp_path / "two_threads.cpp", ["-std=c++17", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
                                                           "-fsanitize=thread", "-pthread", f"-I{native_dir()}"],
                           sorted(native_dir().glob("*.h")))
    except BuildError as error:
        if "tsan" in str(error).lower():
            pytest.skip(f"ThreadSanitizer's runtime is not installed: {str(error).strip()[-200:]}")
        raise
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TSAN_OPTIONS": "halt_on_error=1 exitcode=66"})
    assert "ThreadSanitizer" not in run.stderr, run.stderr[-4000:]
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    assert "vectors 23 " in run.stdout and "same 1" in run.stdout, run.stdout   # 12 s: t = 0.5 .. 11.5
