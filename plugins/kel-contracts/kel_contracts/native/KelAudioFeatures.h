// KelAudioFeatures.h -- EmotionRecognizer input features (contract kel::contracts::emotion, its version is
// kVersion there), streaming.
// C++17, standard library only, header-only.
//
// The same float64 pipeline as training (kel_audio_features.dsp): mixdown (mean of the channels),
// the contract's Kaiser-windowed sinc resampler from the host rate to 22,050 Hz, a centred STFT (periodic
// Hann, 2,048 points, hop 512, power), librosa's Slaney mel filterbank, dB and 0.5 s pooling, cast to float.
//
// Real-time use: prepare() allocates everything (tap table, buffers, FFT twiddles, filterbank, window);
// process(), popFeatures() and reset() never allocate, lock, throw or do I/O. Blocks of any size give the
// same vectors as one whole buffer. finish() (offline) pads the end with zeros as the whole-file path does.
// Threads: process() and finish() on one thread (the audio thread), popFeatures() and lastTime() on one other
// thread or the same one: the vectors pass through a lock-free single-producer/single-consumer FIFO. prepare()
// and reset() only while neither thread is inside the object.
#pragma once

#include "KelContracts.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

namespace kel {

namespace audio_detail {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr int kI0Terms = 50;   // as kel_audio_features.dsp.I0_TERMS

/// I0 by its power series sum_k ((x/2)^k / k!)^2 (a fixed number of terms, as in training).
inline double besselI0(double x) noexcept {
    const double half = x / 2.0;
    double total = 1.0, term = 1.0;
    for (int k = 1; k < kI0Terms; ++k) {
        term = term * half / k;
        total = total + term * term;
    }
    return total;
}

/// g(t) at t = offset / rate (offset in input samples): 2 f_c / r sinc(2 f_c t) w(t), Kaiser w.
inline double resamplerKernel(double offset, double rate, double cutoff) noexcept {
    using namespace contracts::emotion;
    const double t = offset / rate;
    const double u = 2.0 * cutoff * t;
    const double zeroCrossings = kResamplerZeroCrossings;
    if (!(std::fabs(u) <= zeroCrossings))
        return 0.0;
    const double sinc = u == 0.0 ? 1.0 : std::sin(kPi * u) / (kPi * u);
    const double ratio = u / zeroCrossings;
    const double window = besselI0(kResamplerKaiserBeta * std::sqrt(std::max(0.0, 1.0 - ratio * ratio)))
                          / besselI0(kResamplerKaiserBeta);
    return 2.0 * cutoff / rate * sinc * window;
}

/// Slaney's mel scale (kel::contracts::emotion): linear below kMelLogStartHz, logarithmic above.
struct MelScale {
    double hzPerMel = contracts::emotion::kMelLinearHzPerMel;
    double logStartHz = contracts::emotion::kMelLogStartHz;
    double logStartMel = contracts::emotion::kMelLogStartHz / contracts::emotion::kMelLinearHzPerMel;
    double logStep = std::log(contracts::emotion::kMelLogStepRatio) / contracts::emotion::kMelLogStepMels;
};

inline double hzToMel(double hz) noexcept {
    const MelScale s;
    return hz >= s.logStartHz ? s.logStartMel + std::log(hz / s.logStartHz) / s.logStep : hz / s.hzPerMel;
}

inline double melToHz(double mel) noexcept {
    const MelScale s;
    return mel >= s.logStartMel ? s.logStartHz * std::exp(s.logStep * (mel - s.logStartMel)) : s.hzPerMel * mel;
}

} // namespace audio_detail

/// Streaming EmotionRecognizer features: feed the host's blocks, pop a 128-vector every 0.5 s of audio.
class EmotionFeatures {
public:
    static constexpr int kSize = contracts::emotion::kNMels;

    /// Allocates everything for `sampleRate` (a whole number of Hz whose resampler needs at most
    /// kMaxResamplerPhases phases) and blocks of up to `maxBlockSize` frames; false for an unsupported rate.
    bool prepare(double sampleRate, int maxBlockSize) {
        using namespace contracts::emotion;
        prepared_ = false;
        if (!(sampleRate > 0.0) || maxBlockSize < 1 || sampleRate > 1.0e7
            || std::floor(sampleRate) != sampleRate)
            return false;
        const int rate = static_cast<int>(sampleRate);
        const int common = std::gcd(rate, kSampleRate);
        const int phases = kSampleRate / common;
        if (phases > kMaxResamplerPhases)
            return false;
        rate_ = rate;
        phases_ = phases;
        step_ = rate / common;
        identity_ = rate == kSampleRate;
        chunk_ = maxBlockSize;

        if (!identity_) {
            const double cutoff = kResamplerRolloff * std::min(rate, kSampleRate) / 2.0;
            const double reach = static_cast<double>(kResamplerZeroCrossings) * rate / (2.0 * cutoff);
            jLow_ = -static_cast<int>(std::floor(reach));
            taps_ = 2 * static_cast<int>(std::floor(reach)) + 2;
            table_.assign(static_cast<std::size_t>(phases_) * static_cast<std::size_t>(taps_), 0.0);
            for (int p = 0; p < phases_; ++p)
                for (int i = 0; i < taps_; ++i) {
                    const double offset = static_cast<double>(p) / static_cast<double>(phases_)
                                          - static_cast<double>(jLow_ + i);
                    table_[static_cast<std::size_t>(p) * static_cast<std::size_t>(taps_) + static_cast<std::size_t>(i)]
                        = audio_detail::resamplerKernel(offset, static_cast<double>(rate), cutoff);
                }
            input_.assign(static_cast<std::size_t>(taps_ + chunk_ + 1), 0.0);
        } else {
            jLow_ = 0;
            taps_ = 1;
            table_.clear();
            input_.clear();
        }

        ring_.assign(kNFft, 0.0);
        window_.resize(kNFft);
        for (int n = 0; n < kNFft; ++n)
            window_[static_cast<std::size_t>(n)] = 0.5 - 0.5 * std::cos(2.0 * audio_detail::kPi * n / kNFft);
        re_.assign(kNFft, 0.0);
        im_.assign(kNFft, 0.0);
        cos_.resize(kNFft / 2);
        sin_.resize(kNFft / 2);
        for (int j = 0; j < kNFft / 2; ++j) {
            cos_[static_cast<std::size_t>(j)] = std::cos(2.0 * audio_detail::kPi * j / kNFft);
            sin_[static_cast<std::size_t>(j)] = std::sin(2.0 * audio_detail::kPi * j / kNFft);
        }
        bitReverse_.resize(kNFft);
        int bits = 0;
        while ((1 << bits) < kNFft)
            ++bits;
        for (int i = 0; i < kNFft; ++i) {
            int r = 0;
            for (int b = 0; b < bits; ++b)
                r |= ((i >> b) & 1) << (bits - 1 - b);
            bitReverse_[static_cast<std::size_t>(i)] = r;
        }
        power_.assign(kBins, 0.0);
        buildFilterbank();

        windowSamples_ = static_cast<std::int64_t>(std::llround(kSampleRate * kWindowSeconds));
        // vectors one block can complete, with room for a caller that pops late
        const int perBlock = static_cast<int>(std::ceil(static_cast<double>(chunk_) / rate / kWindowSeconds)) + 2;
        fifoCapacity_ = std::max(64, 4 * perBlock);
        fifo_.assign(static_cast<std::size_t>(fifoCapacity_) * kSize, 0.0f);
        fifoTimes_.assign(static_cast<std::size_t>(fifoCapacity_), 0.0);
        prepared_ = true;
        reset();
        return true;
    }

    /// A new song: clears every buffer (no allocation).
    void reset() noexcept {
        if (!prepared_)
            return;
        std::fill(input_.begin(), input_.end(), 0.0);
        inBase_ = jLow_;                 // x[jLow .. -1] are the zeros before the start
        inCount_ = identity_ ? 0 : -jLow_;
        received_ = 0;
        nextOut_ = 0;
        outA_ = 0;
        outPhase_ = 0;
        std::fill(ring_.begin(), ring_.end(), 0.0);
        ringPos_ = 0;
        yCount_ = 0;
        nextFrame_ = 0;
        lastFrame_ = -1;
        finishing_ = false;
        finished_ = false;
        std::fill(std::begin(sum_), std::end(sum_), 0.0);
        poolCount_ = 0;
        poolWindow_ = 1;
        fifoRead_.store(0, std::memory_order_relaxed);
        fifoWrite_.store(0, std::memory_order_relaxed);
        dropped_.store(0, std::memory_order_relaxed);
    }

    /// Audio thread: `numChannels` channels of `numFrames` samples at the prepared rate (any block size;
    /// blocks longer than maxBlockSize are taken in pieces). Ignored after finish() until reset().
    void process(const float* const* channels, int numChannels, int numFrames) noexcept {
        if (!prepared_ || finished_ || numFrames <= 0)
            return;
        int done = 0;
        while (done < numFrames) {
            const int count = std::min(chunk_, numFrames - done);
            for (int i = 0; i < count; ++i) {
                double sum = 0.0;
                for (int c = 0; c < numChannels; ++c)
                    sum += static_cast<double>(channels[c][done + i]);
                const double mono = numChannels > 0 ? sum / numChannels : 0.0;
                if (identity_)
                    pushResampled(mono);
                else
                    input_[static_cast<std::size_t>(inCount_++)] = mono;
            }
            received_ += count;
            done += count;
            if (!identity_)
                runResampler(INT64_MAX);
        }
    }

    /// Offline end of the song: the zeros after the last sample, as the whole-file features pad them, so
    /// the last vectors come out too. No allocation. process() is ignored afterwards until reset().
    void finish() noexcept {
        using namespace contracts::emotion;
        if (!prepared_ || finished_)
            return;
        finished_ = true;
        if (received_ == 0)
            return;
        const std::int64_t lastOut = identity_ ? received_ - 1 : (received_ - 1) * kSampleRate / rate_;
        while (!identity_ && nextOut_ <= lastOut) {
            const int room = static_cast<int>(input_.size()) - inCount_;
            std::fill(input_.begin() + inCount_, input_.begin() + inCount_ + room, 0.0);
            inCount_ += room;
            runResampler(lastOut);
        }
        finishing_ = true;
        lastFrame_ = (lastOut + 1) / kHop;
        while (nextFrame_ <= lastFrame_)
            pushResampled(0.0);
    }

    /// Consumer thread (the inference thread, or the audio thread itself): the next completed vector (128 floats,
    /// dB) and its time in seconds (t = 0.5, 1.0, ...); false if none.
    bool popFeatures(float* out128, double* time = nullptr) noexcept {
        const std::int64_t read = fifoRead_.load(std::memory_order_relaxed);
        if (read == fifoWrite_.load(std::memory_order_acquire))
            return false;
        const std::size_t slot = static_cast<std::size_t>(read % fifoCapacity_);
        const float* src = &fifo_[slot * kSize];
        std::copy(src, src + kSize, out128);
        lastTime_ = fifoTimes_[slot];
        if (time != nullptr)
            *time = lastTime_;
        fifoRead_.store(read + 1, std::memory_order_release);   // the slot is the producer's again
        return true;
    }

    /// Consumer thread: time (s) of the vector popFeatures() returned last.
    double lastTime() const noexcept { return lastTime_; }
    /// Vectors dropped (the newest: a real-time producer never takes a slot back from its consumer) because
    /// nobody popped them before the FIFO filled. Any thread.
    std::int64_t droppedVectors() const noexcept { return dropped_.load(std::memory_order_relaxed); }
    int phases() const noexcept { return phases_; }
    int taps() const noexcept { return taps_; }
    bool prepared() const noexcept { return prepared_; }

private:
    static constexpr int kBins = contracts::emotion::kNFft / 2 + 1;

    void buildFilterbank() {
        using namespace contracts::emotion;
        const int count = kNMels + 2;
        const double low = audio_detail::hzToMel(kFmin), high = audio_detail::hzToMel(kFmax);
        const double step = (high - low) / (count - 1);
        std::vector<double> melF(static_cast<std::size_t>(count));
        for (int i = 0; i < count; ++i)
            melF[static_cast<std::size_t>(i)] = audio_detail::melToHz(i == count - 1 ? high : low + i * step);
        melWeights_.clear();
        melWeights_.reserve(static_cast<std::size_t>(kNMels) * kBins);
        for (int m = 0; m < kNMels; ++m) {
            const std::size_t i = static_cast<std::size_t>(m);
            const double lowDiff = melF[i + 1] - melF[i], highDiff = melF[i + 2] - melF[i + 1];
            const double norm = 2.0 / (melF[i + 2] - melF[i]);
            bandStart_[m] = 0;
            bandLength_[m] = 0;
            const std::size_t offset = melWeights_.size();
            int first = -1, last = -1;
            for (int b = 0; b < kBins; ++b) {
                const double f = b * (static_cast<double>(kSampleRate) / kNFft);
                const double lower = (f - melF[i]) / lowDiff, upper = (melF[i + 2] - f) / highDiff;
                if (std::max(0.0, std::min(lower, upper)) > 0.0) {
                    if (first < 0)
                        first = b;
                    last = b;
                }
            }
            if (first < 0)
                continue;
            for (int b = first; b <= last; ++b) {
                const double f = b * (static_cast<double>(kSampleRate) / kNFft);
                const double lower = (f - melF[i]) / lowDiff, upper = (melF[i + 2] - f) / highDiff;
                melWeights_.push_back(std::max(0.0, std::min(lower, upper)) * norm);
            }
            bandStart_[m] = first;
            bandLength_[m] = last - first + 1;
            bandOffset_[m] = offset;
        }
    }

    void runResampler(std::int64_t lastOut) noexcept {
        const std::size_t taps = static_cast<std::size_t>(taps_);
        while (nextOut_ <= lastOut) {
            const std::int64_t firstTap = outA_ + jLow_;
            if (firstTap + taps_ > inBase_ + inCount_)
                break;
            const double* x = &input_[static_cast<std::size_t>(firstTap - inBase_)];
            const double* h = &table_[static_cast<std::size_t>(outPhase_) * taps];
            double sum = 0.0;
            for (std::size_t i = 0; i < taps; ++i)
                sum += h[i] * x[i];
            pushResampled(sum);
            ++nextOut_;
            outPhase_ += step_;
            outA_ += outPhase_ / phases_;
            outPhase_ %= phases_;
        }
        const std::int64_t drop = std::min<std::int64_t>(outA_ + jLow_ - inBase_, inCount_);
        if (drop > 0) {
            std::memmove(input_.data(), input_.data() + drop,
                         static_cast<std::size_t>(inCount_ - drop) * sizeof(double));
            inBase_ += drop;
            inCount_ -= static_cast<int>(drop);
        }
    }

    void pushResampled(double y) noexcept {
        using namespace contracts::emotion;
        ring_[static_cast<std::size_t>(ringPos_)] = y;
        ringPos_ = (ringPos_ + 1) % kNFft;
        ++yCount_;
        if (yCount_ == nextFrame_ * kHop + kNFft / 2) {   // frame k spans y[512 k - 1024 .. 512 k + 1023]
            computeFrame();
            ++nextFrame_;
        }
    }

    void fft() noexcept {
        using namespace contracts::emotion;
        for (int length = 2; length <= kNFft; length <<= 1) {
            const int half = length / 2, stride = kNFft / length;
            for (int start = 0; start < kNFft; start += length)
                for (int j = 0; j < half; ++j) {
                    const std::size_t a = static_cast<std::size_t>(start + j), b = a + static_cast<std::size_t>(half);
                    const double wr = cos_[static_cast<std::size_t>(j * stride)];
                    const double wi = -sin_[static_cast<std::size_t>(j * stride)];
                    const double vr = re_[b] * wr - im_[b] * wi;
                    const double vi = re_[b] * wi + im_[b] * wr;
                    re_[b] = re_[a] - vr;
                    im_[b] = im_[a] - vi;
                    re_[a] = re_[a] + vr;
                    im_[a] = im_[a] + vi;
                }
        }
    }

    void computeFrame() noexcept {
        using namespace contracts::emotion;
        for (int i = 0; i < kNFft; ++i) {   // the ring's oldest sample is at ringPos_
            const std::size_t at = static_cast<std::size_t>(bitReverse_[static_cast<std::size_t>(i)]);
            re_[at] = ring_[static_cast<std::size_t>((ringPos_ + i) % kNFft)] * window_[static_cast<std::size_t>(i)];
            im_[at] = 0.0;
        }
        fft();
        for (std::size_t b = 0; b < static_cast<std::size_t>(kBins); ++b)
            power_[b] = re_[b] * re_[b] + im_[b] * im_[b];
        const std::int64_t k = nextFrame_;
        if (k == 0)
            return;                      // centred at t = 0: in no window (t - 0.5, t] with t >= 0.5
        for (int m = 0; m < kNMels; ++m) {
            double mel = 0.0;
            const double* w = melWeights_.data() + bandOffset_[m];
            const double* p = power_.data() + bandStart_[m];
            for (int b = 0; b < bandLength_[m]; ++b)
                mel += w[b] * p[b];
            sum_[m] += 10.0 * std::log10(std::max(mel, kDbFloor));
        }
        ++poolCount_;
        // frame k lies in window m when (m - 1) W < 512 k <= m W (W = 11,025 samples = 0.5 s)
        if ((k + 1) * kHop > poolWindow_ * windowSamples_) {
            const bool hasAudio = !finishing_ || poolWindow_ * windowSamples_ <= lastFrame_ * kHop;
            if (hasAudio)
                emit(static_cast<double>(poolWindow_) * kWindowSeconds);
            std::fill(std::begin(sum_), std::end(sum_), 0.0);
            poolCount_ = 0;
            ++poolWindow_;
        }
    }

    /// Producer (audio thread): one vector into the FIFO, or counted as dropped when the consumer is behind.
    void emit(double time) noexcept {
        const std::int64_t write = fifoWrite_.load(std::memory_order_relaxed);
        if (write - fifoRead_.load(std::memory_order_acquire) == fifoCapacity_) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const std::size_t slot = static_cast<std::size_t>(write % fifoCapacity_);
        float* dst = &fifo_[slot * kSize];
        for (int m = 0; m < kSize; ++m)
            dst[m] = static_cast<float>(sum_[m] / poolCount_);
        fifoTimes_[slot] = time;
        fifoWrite_.store(write + 1, std::memory_order_release);   // publishes the slot to the consumer
    }

    bool prepared_ = false, identity_ = false, finishing_ = false, finished_ = false;
    int rate_ = 0, phases_ = 1, step_ = 1, jLow_ = 0, taps_ = 1, chunk_ = 1;
    std::vector<double> table_, input_;
    std::int64_t inBase_ = 0;
    int inCount_ = 0;
    std::int64_t received_ = 0, nextOut_ = 0, outA_ = 0;
    int outPhase_ = 0;

    std::vector<double> ring_, window_, re_, im_, cos_, sin_, power_, melWeights_;
    std::vector<int> bitReverse_;
    int ringPos_ = 0;
    std::int64_t yCount_ = 0, nextFrame_ = 0, lastFrame_ = -1;
    int bandStart_[kSize] = {}, bandLength_[kSize] = {};
    std::size_t bandOffset_[kSize] = {};

    double sum_[kSize] = {};
    int poolCount_ = 0;
    std::int64_t poolWindow_ = 1, windowSamples_ = 0;

    std::vector<float> fifo_;
    std::vector<double> fifoTimes_;
    std::int64_t fifoCapacity_ = 0;
    std::atomic<std::int64_t> fifoRead_{0};    ///< vectors popped (written by the consumer only)
    std::atomic<std::int64_t> fifoWrite_{0};   ///< vectors pushed (written by the producer only)
    std::atomic<std::int64_t> dropped_{0};
    double lastTime_ = 0.0;
};

/// Expected valence and arousal of the model's 64 grid probabilities (cell i = 8 v + a; bin centres
/// -0.875 + 0.25 k), as the contract's decoding.
inline void decodeEmotion(const float* probabilities64, float& valence, float& arousal) noexcept {
    using namespace contracts::emotion;
    static_assert(kOutputSize == kGridBins * kGridBins, "the emotion grid is kGridBins x kGridBins");
    const double width = (kGridHigh - kGridLow) / kGridBins;
    double v = 0.0, a = 0.0;
    for (int i = 0; i < kOutputSize; ++i) {
        const double p = static_cast<double>(probabilities64[i]);
        v += p * (kGridLow + width * (i / kGridBins + 0.5));
        a += p * (kGridLow + width * (i % kGridBins + 0.5));
    }
    valence = static_cast<float>(v);
    arousal = static_cast<float>(a);
}

} // namespace kel
