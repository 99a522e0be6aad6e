// KelRuntime.h -- the plugin's ML runtime: one class from host input (audio blocks, MIDI events at sample offsets,
// the transport) to the five models' decoded outputs. Header-only C++17, independent of any plugin framework;
// needs KelFeatures.h (kel_contracts) and RTNeural (its dynamic API) on the include path.
//
//   kel::Runtime runtime;                                          // a member of the plugin
//   prepareToPlay:  auto status = runtime.prepare(rate, maxBlock, kel::ModelFiles::inFolder(dir));
//                   for (auto& r : status.refusals) log(r.file + ": " + r.field + ": " + r.reason);
//   processBlock:   runtime.process(channels, numChannels, numFrames, events, numEvents, transport);
//                   const kel::ModelOutput& chord = runtime.output(kel::Model::Harmony);
//   message thread: runtime.setKey(7, true); runtime.setMood(0.4f, 0.1f); runtime.setMelodyChannel(0);
//
// What it decides (the scheduling rules, defined here once; training computes the same steps from a whole file,
// docs/NATIVE.md "When a step is complete"):
//   MelodyTransformer  one step per note of the melody channel's top line (of note-ons at onsets within 1/16 beat
//                      of the line's last note only the first onset's highest pitch is kept); complete when the
//                      note's onset has passed and the previous line note has ended (its duration is an input).
//   HarmonyPredictor   one step per beat of the host's bar (the last one cut at the bar's end or a new time
//                      signature); complete when the play head passes the step's end. Input: the melody line.
//   DynamicsEngine     one step per pitched note (every channel but the drum channel); notes whose
//                      round(onset x 16) agree form an onset group, held until that 1/16 cell has passed and every
//                      note of it has ended, then computed sorted by onset and pitch.
//   GroovePredictor    one step per 4-beat bar of drum-channel hits (4 beats whatever the metre, as training);
//                      complete when no later hit can round onto it. Training falls back to pitched notes for a
//                      song without drums: a plugin chooses that with setGrooveFromAllNotes(true).
//   EmotionRecognizer  one step per 0.5 s of audio (kel::EmotionFeatures).
// Transport start (stopped -> playing) begins a song: every feature state and every network is reset. Transport
// stop ends it: pending steps are completed (sounding notes end at the stop), trailing empty groove bars after
// the last hit are not emitted (training's rows end at the last bar with a hit).
//
// Real-time: after prepare() nothing in process(), output() or the inference thread allocates, locks, throws or
// does I/O. Steps go to the inference thread through a bounded lock-free SPSC queue (Mode::Threaded) or run inside
// process() (Mode::Synchronous, for offline rendering and tests); outputs are published through lock-free triple
// buffers. Bad host input has defined, counted behaviour (Counters): see docs/NATIVE.md "Bad host input".
#pragma once

#include "KelFeatures.h"

#include <RTNeural/RTNeural.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kel {

/// The five models, in the order of every per-model array here.
enum class Model : int { Emotion = 0, Melody, Harmony, Dynamics, Groove };
inline constexpr int kModelCount = 5;
inline constexpr int kMaxVector = 128;   ///< the largest input or output of any contract

/// ModelSpec names, as the exported files carry them in metadata.model.
inline const char* modelName(Model model) noexcept {
    static constexpr const char* names[kModelCount] = {"EmotionRecognizer", "MelodyTransformer", "HarmonyPredictor",
                                                       "DynamicsEngine", "GroovePredictor"};
    return names[static_cast<int>(model)];
}

inline int inputSize(Model model) noexcept {
    static constexpr int sizes[kModelCount] = {contracts::emotion::kInputSize, contracts::melody::kInputSize,
                                               contracts::harmony::kInputSize, contracts::dynamics::kInputSize,
                                               contracts::groove::kInputSize};
    return sizes[static_cast<int>(model)];
}

inline int outputSize(Model model) noexcept {
    static constexpr int sizes[kModelCount] = {contracts::emotion::kOutputSize, contracts::melody::kOutputSize,
                                               contracts::harmony::kOutputSize, contracts::dynamics::kOutputSize,
                                               contracts::groove::kOutputSize};
    return sizes[static_cast<int>(model)];
}

/// Which exported files to load (an empty path: that model is not used).
struct ModelFiles {
    std::array<std::string, kModelCount> paths{};

    std::string& operator[](Model model) { return paths[static_cast<std::size_t>(model)]; }
    const std::string& operator[](Model model) const { return paths[static_cast<std::size_t>(model)]; }

    /// `<folder>/<ModelSpec name>.json` for each of the five that exists in `folder` (`kelcore export` names).
    static ModelFiles inFolder(const std::string& folder) {
        ModelFiles files;
        for (int m = 0; m < kModelCount; ++m) {
            const std::string path = folder + "/" + modelName(static_cast<Model>(m)) + ".json";
            if (std::ifstream(path).good())
                files.paths[static_cast<std::size_t>(m)] = path;
        }
        return files;
    }
};

/// Why prepare() did not load a file: the file, the field that was wrong (empty: the file as a whole), and why.
struct Refusal {
    std::string file;
    std::string field;
    std::string reason;
};

struct PrepareStatus {
    std::vector<Refusal> refusals;
    int loaded = 0;   ///< models that will run
    bool ok() const noexcept { return refusals.empty(); }
};

/// One MIDI event of a block. Note-on with velocity 0 is a note-off (MIDI running-status convention).
struct MidiEvent {
    enum Kind : int { NoteOn = 0, NoteOff = 1, Controller = 2 };
    int sampleOffset = 0;   ///< 0 .. numFrames - 1
    int kind = NoteOn;
    int channel = 0;        ///< 0 .. 15 (MIDI channel 10 is 9)
    int number = 0;         ///< note or controller number
    int value = 0;          ///< velocity or controller value
};

/// What the host reports at the block's start (JUCE: AudioPlayHead::PositionInfo).
struct Transport {
    bool playing = true;
    double qpm = contracts::timing::kDefaultQpm;   ///< quarter notes per minute
    int numerator = 4;
    int denominator = 4;
    double ppq = 0.0;             ///< the block start's position in quarter notes
    double barStartPpq = 0.0;     ///< the current bar's start (ppqPositionOfLastBarStart)
    std::int64_t barIndex = 0;    ///< bars since the song's start (bar count), from 0
    double sampleRate = 0.0;      ///< 0: the rate given to prepare(); another value is a rate change (counted)
};

/// A model's newest decoded output (the raw outputs too).
struct ModelOutput {
    std::int64_t step = -1;       ///< steps of this model since the song's start; -1: none yet
    std::int64_t block = -1;      ///< the process() call (counting from 0 after prepare) that completed its input
    double ppq = 0.0;             ///< where the step's input ended (emotion: seconds of audio)
    int size = 0;
    std::array<float, kMaxVector> raw{};
    std::array<int, 3> topPitches{{-1, -1, -1}};   ///< MelodyTransformer: the three most probable next pitches
    int chord = -1;                                ///< HarmonyPredictor: chord class (kel::chordName)
    float velocity = 0.0f;                         ///< DynamicsEngine: expected MIDI velocity of the note
    std::array<float, contracts::groove::kSteps> grooveOffsetsMs{};   ///< GroovePredictor, per 1/16 step
    std::array<int, contracts::groove::kSteps> grooveVelocities{};
    float valence = 0.0f, arousal = 0.0f;          ///< EmotionRecognizer
};

/// Bad host input and overload, counted (never a crash). Relaxed atomics: readable from any thread.
struct Counters {
    std::atomic<long long> blocks{0}, steps{0};
    std::atomic<long long> eventsOutsideBlock{0};      ///< offset < 0 or >= frames: clamped into the block
    std::atomic<long long> eventsOutOfOrder{0};        ///< earlier offset than the event before: taken at that one
    std::atomic<long long> eventsInvalid{0};           ///< channel, note or kind out of range: ignored
    std::atomic<long long> eventsWhileStopped{0};      ///< MIDI while the transport is stopped: ignored
    std::atomic<long long> invalidTempo{0};            ///< NaN, <= 0 or >= kMaxQpm: the last valid tempo is kept
    std::atomic<long long> invalidTimeSignature{0};    ///< the last valid one is kept
    std::atomic<long long> sampleRateChanges{0};       ///< blocks at another rate than prepared: audio not analysed
    std::atomic<long long> relocations{0};             ///< the play head jumped: the song ends and a new one starts
    std::atomic<long long> noteOffWithoutNoteOn{0};    ///< ignored
    std::atomic<long long> notesDropped{0};            ///< more simultaneous notes than the state holds: ignored
    std::atomic<long long> notesForced{0};             ///< a full note store ended a sounding note early
    std::atomic<long long> queueDrops{0};              ///< inference queue full: the step is lost
    std::atomic<long long> recordingDrops{0};          ///< recording buffer full
};

namespace runtime_detail {

/// Bounded lock-free single-producer / single-consumer ring; storage allocated by init() (prepare time).
template <typename T>
class SpscQueue {
public:
    void init(int capacity) {
        items_.assign(static_cast<std::size_t>(capacity + 1), T{});
        head_.store(0);
        tail_.store(0);
    }
    bool push(const T& item) noexcept {
        const std::size_t head = head_.load(std::memory_order_relaxed);
        const std::size_t next = head + 1 == items_.size() ? 0 : head + 1;
        if (next == tail_.load(std::memory_order_acquire))
            return false;
        items_[head] = item;
        head_.store(next, std::memory_order_release);
        return true;
    }
    bool pop(T& item) noexcept {
        const std::size_t tail = tail_.load(std::memory_order_relaxed);
        if (tail == head_.load(std::memory_order_acquire))
            return false;
        item = items_[tail];
        tail_.store(tail + 1 == items_.size() ? 0 : tail + 1, std::memory_order_release);
        return true;
    }

private:
    std::vector<T> items_;
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

/// Lock-free triple buffer: one writer never waits, one reader takes the newest value without waiting.
template <typename T>
class TripleBuffer {
public:
    T& back() noexcept { return slots_[static_cast<std::size_t>(back_)]; }
    void publish() noexcept { back_ = middle_.exchange(back_ | kFresh, std::memory_order_acq_rel) & kIndex; }
    /// The newest published value, or nullptr when nothing new was published since the last take.
    const T* take() noexcept {
        if ((middle_.load(std::memory_order_acquire) & kFresh) == 0)
            return nullptr;
        front_ = middle_.exchange(front_, std::memory_order_acq_rel) & kIndex;
        return &slots_[static_cast<std::size_t>(front_)];
    }
    void clear() noexcept {
        slots_ = {};
        back_ = 0;
        front_ = 1;
        middle_.store(2);
    }

private:
    static constexpr int kFresh = 4, kIndex = 3;
    std::array<T, 3> slots_{};
    int back_ = 0, front_ = 1;
    std::atomic<int> middle_{2};
};

inline std::string readText(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file)
        return {};
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace runtime_detail

/// A loaded network behind one interface: RTNeural's dynamic API (the default) or a plugin's compile-time
/// RTNeural::ModelT (CompiledNetwork, through Runtime::Options::network). forward() and reset() run on the
/// inference side and must not allocate.
class Network {
public:
    virtual ~Network() = default;
    virtual void reset() noexcept = 0;
    virtual const float* forward(const float* input) noexcept = 0;   ///< input 64-byte aligned
    virtual int inSize() const noexcept = 0;
    virtual int outSize() const noexcept = 0;
};

/// RTNeural's dynamic API (json_parser::parseJson): any exported architecture, sizes read from the file.
class DynamicNetwork final : public Network {
public:
    explicit DynamicNetwork(const nlohmann::json& document)
        : model_(RTNeural::json_parser::parseJson<float>(document, false)) {}
    bool loaded() const noexcept { return static_cast<bool>(model_); }
    void reset() noexcept override { model_->reset(); }
    const float* forward(const float* input) noexcept override {
        model_->forward(input);
        return model_->getOutputs();
    }
    int inSize() const noexcept override { return model_->getInSize(); }
    int outSize() const noexcept override { return model_->getOutSize(); }

private:
    std::unique_ptr<RTNeural::Model<float>> model_;
};

/// A compile-time RTNeural::ModelT (the `kel::models::<Name>Model` aliases of KelModels.h): faster, and its layer
/// sizes are fixed by the type (the reference replay at prepare() catches a file that does not fit it).
template <typename ModelType>
class CompiledNetwork final : public Network {
public:
    explicit CompiledNetwork(const nlohmann::json& document) { model_.parseJson(document, false); }
    void reset() noexcept override { model_.reset(); }
    const float* forward(const float* input) noexcept override {
        model_.forward(input);
        return model_.getOutputs();
    }
    int inSize() const noexcept override { return ModelType::input_size; }
    int outSize() const noexcept override { return ModelType::output_size; }

private:
    ModelType model_;
};

/// Makes the network of `model` from its exported document, or nullptr (the file is then refused).
using NetworkFactory = std::unique_ptr<Network> (*)(Model model, const nlohmann::json& document);

/// Called on the inference side after each step (must be real-time safe): the model, the microseconds its
/// normalisation + forward + decoding took, and the process() call whose input completed the step.
using StepObserver = void (*)(void* context, Model model, double microseconds, std::int64_t block);

/// One model step as recorded: the raw input (before normalisation, what training's features are) and the output.
struct StepRecord {
    int model = 0;
    std::int64_t step = 0;
    double ppq = 0.0;
    std::array<float, kMaxVector> input{};
    std::array<float, kMaxVector> output{};
};

class Runtime {
public:
    enum class Mode { Threaded, Synchronous };

    struct Options {
        Mode mode = Mode::Threaded;
        int queueCapacity = 1024;       ///< steps in flight to the inference thread
        int recordCapacity = 0;         ///< recording buffer in steps (0: no recording possible)
        NetworkFactory network = nullptr;   ///< nullptr: RTNeural's dynamic API
        bool verifyReference = true;        ///< replay metadata.reference at prepare, refuse a file not reproduced
                                            ///< (off only for a benchmark that times a tampered file on purpose)
        StepObserver observer = nullptr;    ///< timing of each step (benchmarks), nullptr: not timed
        void* observerContext = nullptr;
    };

    static constexpr int kDrumChannel = 9;               ///< General MIDI channel 10
    static constexpr double kMaxQpm = 1000.0;            ///< as training ignores tempo events at or above it
    static constexpr int kPendingNotes = 4096;           ///< DynamicsEngine notes waiting for their group
    static constexpr int kMelodyNotes = 1024;            ///< melody line notes still needed
    static constexpr int kMaxGroup = 128;                ///< notes of one onset group computed together
    static constexpr int kSameNoteDepth = 4;             ///< overlapping notes of one channel and pitch
    static constexpr double kRelocationBeats = 1.0;      ///< a play-head jump further than this starts a new song
    static constexpr int kMaxEventsPerBlock = 8192;      ///< MIDI events of one block (more are dropped, counted)

    Runtime() = default;
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;
    ~Runtime() { stopThread(); }

    // ------------------------------------------------------------------------------------------ prepare
    /// Loads the given files (any subset), checks each against the contracts these headers compute and allocates
    /// everything. Off the audio thread (prepareToPlay). A refused file is not run; the others are.
    PrepareStatus prepare(double sampleRate, int maxBlockSize, const ModelFiles& files, const Options& options) {
        stopThread();
        PrepareStatus status;
        options_ = options;
        sampleRate_ = sampleRate;
        maxBlock_ = maxBlockSize < 1 ? 1 : maxBlockSize;
        for (int m = 0; m < kModelCount; ++m) {
            Slot& slot = slots_[static_cast<std::size_t>(m)];
            slot = Slot{};
            const std::string& path = files.paths[static_cast<std::size_t>(m)];
            if (!path.empty() && load(static_cast<Model>(m), path, slot, status.refusals))
                ++status.loaded;
        }
        if (slots_[0].net) {
            emotion_ = std::make_unique<EmotionFeatures>();
            if (!emotion_->prepare(sampleRate, maxBlock_)) {
                status.refusals.push_back({files.paths[0], "", "EmotionFeatures cannot run at " +
                                           std::to_string(sampleRate) + " Hz"});
                slots_[0] = Slot{};
                --status.loaded;
                emotion_.reset();
            }
        } else {
            emotion_.reset();
        }
        if (!harmony_)
            harmony_ = std::make_unique<HarmonyFeatures>();
        if (!dynamics_)
            dynamics_ = std::make_unique<DynamicsFeatures>();
        queue_.init(options.queueCapacity < 1 ? 1 : options.queueCapacity);
        held_.clear();
        held_.reserve(kMaxEventsPerBlock);
        records_.assign(static_cast<std::size_t>(options.recordCapacity > 0 ? options.recordCapacity : 0), StepRecord{});
        recorded_.store(0);
        for (auto& buffer : published_)
            buffer.clear();
        for (auto& out : current_)
            out = ModelOutput{};
        resetSong();
        playing_ = false;
        prepared_ = true;
        if (options.mode == Mode::Threaded) {
            stop_.store(false);
            worker_ = std::thread([this] { inferenceLoop(); });
        }
        return status;
    }

    PrepareStatus prepare(double sampleRate, int maxBlockSize, const ModelFiles& files) {
        return prepare(sampleRate, maxBlockSize, files, Options{});
    }

    /// Stops the inference thread (releaseResources / destructor).
    void release() { stopThread(); }

    bool uses(Model model) const noexcept { return static_cast<bool>(slots_[static_cast<std::size_t>(model)].net); }

    // ------------------------------------------------------------------------------------------ conditioning
    /// Message thread, thread-safe: the key and mode MelodyTransformer is conditioned on.
    void setKey(int tonicPitchClass, bool major) noexcept {
        key_.store(((tonicPitchClass % 12) + 12) % 12 + (major ? 16 : 0), std::memory_order_relaxed);
    }
    /// Message thread, thread-safe: valence and arousal (-1..1) MelodyTransformer is conditioned on.
    void setMood(float valence, float arousal) noexcept {
        std::uint32_t v = 0, a = 0;
        std::memcpy(&v, &valence, sizeof v);
        std::memcpy(&a, &arousal, sizeof a);
        mood_.store((static_cast<std::uint64_t>(v) << 32) | a, std::memory_order_relaxed);
    }
    /// Message thread, thread-safe: the MIDI channel (0..15) that carries the melody line.
    void setMelodyChannel(int channel) noexcept { melodyChannel_.store(channel, std::memory_order_relaxed); }
    /// Message thread, thread-safe: GroovePredictor hits from every channel's notes (training's rule for a song
    /// without drums) instead of the drum channel's.
    void setGrooveFromAllNotes(bool allNotes) noexcept { grooveAll_.store(allNotes, std::memory_order_relaxed); }

    // ------------------------------------------------------------------------------------------ process
    /// The audio thread, once per block: `channels[c][i]` the block's audio (any channel count, 0.. frames; more
    /// than maxBlockSize is taken in pieces), the block's MIDI events in sample order, the host's transport.
    void process(const float* const* channels, int numChannels, int numFrames, const MidiEvent* events,
                 int numEvents, const Transport& transport) noexcept {
        if (!prepared_)
            return;
        block_ = counters_.blocks.fetch_add(1, std::memory_order_relaxed);
        numFrames = numFrames < 0 ? 0 : numFrames;
        double rate = sampleRate_;
        const bool rateChanged = transport.sampleRate > 0.0 && transport.sampleRate != sampleRate_;
        if (rateChanged) {
            counters_.sampleRateChanges.fetch_add(1, std::memory_order_relaxed);
            rate = transport.sampleRate;
        }
        if (!transport.playing) {
            if (playing_) {
                takeHeldBlock(nullptr);
                endSong();
            }
            playing_ = false;
            counters_.eventsWhileStopped.fetch_add(numEvents > 0 ? numEvents : 0, std::memory_order_relaxed);
            analyseAudio(channels, numChannels, numFrames, rateChanged);
            return;
        }
        if (playing_ && !(std::fabs(transport.ppq - expectedPpq_) <= kRelocationBeats)) {
            counters_.relocations.fetch_add(1, std::memory_order_relaxed);
            takeHeldBlock(nullptr);
            endSong();
            playing_ = false;
        }
        if (playing_)
            takeHeldBlock(&transport);   // the previous block's events, its tempo change found from this play head
        acceptTransport(transport);
        if (!playing_)
            startSong(transport);
        playing_ = true;
        const std::int64_t blockTick = timing::ticksFromPpq(transport.ppq);
        advance(blockTick > now_ ? blockTick : now_);
        holdBlock(events, numEvents, numFrames, transport.ppq, rate);
        expectedPpq_ = timing::ppqAtOffset(transport.ppq, numFrames, qpm_, rate);
        analyseAudio(channels, numChannels, numFrames, rateChanged);
    }

    /// Offline or tests: ends the song now (as a transport stop does) and, in Mode::Threaded, waits until the
    /// inference thread has run every step handed to it. Not on the audio thread.
    void finish() {
        if (playing_) {
            takeHeldBlock(nullptr);
            endSong();
        }
        playing_ = false;
        waitIdle();
    }

    /// Waits until every step handed to the inference thread has run (offline rendering, tests).
    void waitIdle() const {
        while (options_.mode == Mode::Threaded && done_.load(std::memory_order_acquire)
                                                      < submitted_.load(std::memory_order_acquire))
            std::this_thread::sleep_for(std::chrono::microseconds(50));
    }

    // ------------------------------------------------------------------------------------------ outputs
    /// The newest output of `model`, without waiting. One reader thread (the audio thread, or the offline caller).
    const ModelOutput& output(Model model) noexcept {
        const std::size_t m = static_cast<std::size_t>(model);
        if (const ModelOutput* fresh = published_[m].take())
            current_[m] = *fresh;
        return current_[m];
    }

    const Counters& counters() const noexcept { return counters_; }

    // ------------------------------------------------------------------------------------------ recording
    /// Message thread: start recording every step's input and output (up to Options::recordCapacity steps; more
    /// are counted in recordingDrops). Takes effect at the next step.
    void startRecording() noexcept {
        recordReset_.store(true, std::memory_order_release);
        recording_.store(true, std::memory_order_release);
    }
    void stopRecording() noexcept { recording_.store(false, std::memory_order_release); }
    std::size_t recordedSteps() const noexcept { return recorded_.load(std::memory_order_acquire); }

    /// Message thread: writes the recorded steps (text, one line per step: `model step ppq n inputs... m
    /// outputs...`, reals as %.9g) to `path`; false when the file cannot be written. Steps recorded meanwhile are
    /// written next time.
    bool writeRecording(const std::string& path) const {
        std::FILE* out = std::fopen(path.c_str(), "w");
        if (out == nullptr)
            return false;
        std::fprintf(out, "kelrecording 1\n");
        const std::size_t count = recorded_.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < count; ++i) {
            const StepRecord& r = records_[i];
            const Model model = static_cast<Model>(r.model);
            std::fprintf(out, "%s %lld %.17g %d", modelName(model), static_cast<long long>(r.step), r.ppq,
                         inputSize(model));
            for (int k = 0; k < inputSize(model); ++k)
                std::fprintf(out, " %.9g", static_cast<double>(r.input[static_cast<std::size_t>(k)]));
            std::fprintf(out, " %d", outputSize(model));
            for (int k = 0; k < outputSize(model); ++k)
                std::fprintf(out, " %.9g", static_cast<double>(r.output[static_cast<std::size_t>(k)]));
            std::fputc('\n', out);
        }
        return std::fclose(out) == 0;
    }

private:
    struct Slot {
        std::unique_ptr<Network> net;
        Normaliser normaliser;
        std::int64_t steps = 0;   // inference side
    };

    struct Job {
        alignas(64) std::array<float, kMaxVector> x{};
        int model = -1;           // -1: reset every network (a new song)
        std::int64_t block = 0;   // the process() call that completed the input
        double ppq = 0.0;
        double qpm = 0.0;
    };

    /// A note of the DynamicsEngine queue or of the melody line, from note-on to note-off.
    struct HeldNote {
        int pitch = 0;
        int velocity = 0;
        std::int64_t on = 0;
        std::int64_t off = -1;    // -1: still sounding
        DynamicsContext context;  // the host's bar, tempo and pedal at the onset
        bool resolved = false;    // melody line: no later note at this onset can replace it
    };

    /// One sounding note of a channel and pitch: where its note-off goes.
    struct Sounding {
        std::int64_t dynamics = -1;   // sequence number in pending_, or -1
        std::int64_t melody = -1;     // sequence number in melody_, or -1
    };

    // ---------------------------------------------------------------- loading (prepare time)
    bool load(Model model, const std::string& path, Slot& slot, std::vector<Refusal>& refusals) {
        auto refuse = [&](const std::string& field, const std::string& reason) {
            refusals.push_back({path, field, reason});
            slot = Slot{};
            return false;
        };
        const std::string text = runtime_detail::readText(path);
        if (text.empty())
            return refuse("", "cannot read the file");
        nlohmann::json document;
        try {
            document = nlohmann::json::parse(text);
        } catch (const std::exception& error) {
            return refuse("", std::string("not JSON: ") + error.what());
        }
        const char* name = modelName(model);
        try {
            const auto& metadata = document.at("metadata");
            const std::string found = metadata.value("model", std::string("none"));
            if (found != name)
                return refuse("metadata.model", "is " + found + ", expected " + name);
            const auto& spec = metadata.at("spec");
            if (spec.value("input_size", -1) != inputSize(model) || spec.value("output_size", -1) != outputSize(model))
                return refuse("metadata.spec", "input_size/output_size are not the contract's " +
                              std::to_string(inputSize(model)) + "/" + std::to_string(outputSize(model)));
        } catch (const std::exception& error) {
            return refuse("metadata", std::string("missing or malformed: ") + error.what());
        }
        std::string error;
        if (!checkContractVersion(text, name, &error))
            return refuse("metadata.feature_contract.version", error);
        if (!slot.normaliser.loadFromJson(text, inputSize(model), &error))
            return refuse("metadata.feature_contract.normalization", error);
        try {
            if (options_.network != nullptr) {
                slot.net = options_.network(model, document);
            } else {
                auto dynamic = std::make_unique<DynamicNetwork>(document);
                if (dynamic->loaded())
                    slot.net = std::move(dynamic);
            }
        } catch (const std::exception& failure) {
            return refuse("layers", std::string("RTNeural cannot load them: ") + failure.what());
        }
        if (!slot.net || slot.net->inSize() != inputSize(model) || slot.net->outSize() != outputSize(model))
            return refuse("layers", std::string("RTNeural cannot load them as ") + std::to_string(inputSize(model)) +
                          " -> " + std::to_string(outputSize(model)));
        const double worst = options_.verifyReference ? replayReference(document, *slot.net) : 0.0;
        if (!(worst <= 1e-5))
            return refuse("metadata.reference", "RTNeural's outputs differ from the exported reference by " +
                          std::to_string(worst) + " (more than 1e-5)");
        slot.net->reset();
        return true;
    }

    static double replayReference(const nlohmann::json& document, Network& net) {
        try {
            const auto& reference = document.at("metadata").at("reference");
            const auto inputs = reference.at("inputs").get<std::vector<std::vector<float>>>();
            const auto outputs = reference.at("outputs").get<std::vector<std::vector<float>>>();
            net.reset();
            alignas(64) float x[kMaxVector];
            double worst = 0.0;
            for (std::size_t t = 0; t < inputs.size() && t < outputs.size(); ++t) {
                if (static_cast<int>(inputs[t].size()) != net.inSize()
                    || static_cast<int>(outputs[t].size()) != net.outSize())
                    return INFINITY;
                std::copy(inputs[t].begin(), inputs[t].end(), x);
                const float* y = net.forward(x);
                for (std::size_t k = 0; k < outputs[t].size(); ++k) {
                    const double d = std::fabs(static_cast<double>(y[k]) - outputs[t][k]);
                    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
                }
            }
            return worst;
        } catch (const std::exception&) {
            return INFINITY;
        }
    }

    /// Keeps the block's MIDI (offsets checked) until the next play head tells whether the tempo changed inside it.
    void holdBlock(const MidiEvent* events, int numEvents, int numFrames, double ppq, double rate) noexcept {
        held_.clear();
        int lastOffset = 0;
        const int last = numFrames > 0 ? numFrames - 1 : 0;
        for (int i = 0; i < numEvents; ++i) {
            MidiEvent e = events[i];
            if (e.sampleOffset < 0 || e.sampleOffset > last) {
                counters_.eventsOutsideBlock.fetch_add(1, std::memory_order_relaxed);
                e.sampleOffset = e.sampleOffset < 0 ? 0 : last;
            }
            if (e.sampleOffset < lastOffset) {
                counters_.eventsOutOfOrder.fetch_add(1, std::memory_order_relaxed);
                e.sampleOffset = lastOffset;
            }
            lastOffset = e.sampleOffset;
            if (static_cast<int>(held_.size()) == kMaxEventsPerBlock) {
                counters_.notesDropped.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            held_.push_back(e);   // capacity reserved at prepare: no allocation
        }
        heldBlock_.ppq = ppq;
        heldBlock_.qpm = qpm_;
        heldBlock_.sampleRate = rate;
        heldFrames_ = numFrames;
    }

    /// The held block's events at their times (docs/CONTRACTS.md "Timing": a tempo change inside a block is found
    /// from the next block's play head, kel::timing::tempoChangeOffset, which equals training's exact tempo map);
    /// without a next play head (the transport stopped or jumped) the block's own tempo holds for all of it.
    void takeHeldBlock(const Transport* next) noexcept {
        timing::ResolvedBlock block = heldBlock_;
        block.change = static_cast<double>(heldFrames_);
        block.nextQpm = block.qpm;
        if (next != nullptr && std::isfinite(next->qpm) && next->qpm > 0.0 && next->qpm < kMaxQpm
            && std::isfinite(next->ppq)) {
            block.nextQpm = next->qpm;
            block.change = timing::tempoChangeOffset(block.ppq, block.qpm, heldFrames_, next->ppq, next->qpm,
                                                     block.sampleRate);
        }
        nextBarKnown_ = false;
        if (next != nullptr && validBar(*next) && next->barStartPpq > block.ppq) {
            nextBar_.startBeats = next->barStartPpq;
            nextBar_.lengthBeats = next->numerator * 4.0 / next->denominator;
            nextBar_.index = next->barIndex;
            nextBarKnown_ = true;
        }
        for (const MidiEvent& e : held_) {
            const double offset = static_cast<double>(e.sampleOffset);
            std::int64_t tick = timing::ticksFromPpq(block.ppqAt(offset));
            tick = tick > now_ ? tick : now_;
            eventQpm_ = block.qpmAt(offset);
            advance(tick);
            handle(e, tick);
            advance(tick);
        }
        held_.clear();
        nextBarKnown_ = false;
    }

    /// EmotionRecognizer: the block's audio into the features, each complete vector to a step (at another rate
    /// than prepared the vectors would be wrong: the block is skipped and counted).
    void analyseAudio(const float* const* channels, int numChannels, int numFrames, bool rateChanged) noexcept {
        if (!emotion_ || rateChanged || channels == nullptr || numChannels <= 0 || numFrames <= 0)
            return;
        emotion_->process(channels, numChannels, numFrames);
        alignas(64) float x[kMaxVector];
        double seconds = 0.0;
        while (emotion_->popFeatures(x, &seconds))
            submit(Model::Emotion, x, seconds, 0.0);
    }

    // ---------------------------------------------------------------- transport
    void acceptTransport(const Transport& t) noexcept {
        if (std::isfinite(t.qpm) && t.qpm > 0.0 && t.qpm < kMaxQpm)
            qpm_ = t.qpm;
        else
            counters_.invalidTempo.fetch_add(1, std::memory_order_relaxed);
        if (validBar(t)) {
            bar_.lengthBeats = t.numerator * 4.0 / t.denominator;
            bar_.startBeats = t.barStartPpq;
            bar_.index = t.barIndex;
        } else {
            counters_.invalidTimeSignature.fetch_add(1, std::memory_order_relaxed);
        }
    }

    static bool validBar(const Transport& t) noexcept {
        const bool powerOfTwo = t.denominator > 0 && (t.denominator & (t.denominator - 1)) == 0;
        const bool barOk = std::isfinite(t.barStartPpq) && t.barStartPpq <= t.ppq + 1e-9;
        return t.numerator > 0 && t.numerator <= 64 && powerOfTwo && t.denominator <= 64 && barOk;
    }

    /// The bar at `beats` from the host's bar at the block start (bars of its length follow it).
    BarContext barAt(double beats) const noexcept {
        if (nextBarKnown_ && beats >= nextBar_.startBeats)   // a bar (new time signature) began inside the block
            return timing::barContaining(beats, nextBar_.startBeats, nextBar_.lengthBeats, nextBar_.index);
        return timing::barContaining(beats, bar_.startBeats, bar_.lengthBeats, bar_.index);
    }

    // ---------------------------------------------------------------- songs
    void resetSong() noexcept {
        melodyFeatures_.reset();
        if (harmony_)
            harmony_->reset();
        if (dynamics_)
            dynamics_->reset();
        groove_.reset();
        for (auto& channel : sounding_)
            for (auto& pitch : channel)
                pitch.count = 0;
        pendingHead_ = pendingTail_ = openFrom_ = 0;
        openKey_ = INT64_MIN;
        melodyHead_ = melodyTail_ = melodyStep_ = harmonyFrom_ = 0;
        grooveFirstBar_ = 0;
        pedalDown_ = false;
        lastHitBar_ = -1;
        now_ = INT64_MIN / 4;
        for (auto& count : stepCount_)
            count = 0;
    }

    void startSong(const Transport& t) noexcept {
        resetSong();
        held_.clear();
        if (emotion_)
            emotion_->reset();
        Job job;
        job.model = -1;
        dispatch(job);
        now_ = timing::ticksFromPpq(t.ppq);
        harmonyStart_ = bar_.startBeats;
        harmonyEnd_ = bar_.startBeats + bar_.lengthBeats;
        harmonyStep_ = 0;
        expectedPpq_ = t.ppq;
        grooveFirstBar_ = GrooveFeatures::barOf(timing::beatsFromTicks(now_));
    }

    /// The song ends at now_: sounding notes end here, every pending step is completed.
    void endSong() noexcept {
        advance(timing::ticksFromPpq(expectedPpq_));
        for (std::int64_t s = pendingHead_; s < pendingTail_; ++s)
            if (pending(s).off < 0)
                pending(s).off = now_;
        for (std::int64_t s = melodyHead_; s < melodyTail_; ++s) {
            HeldNote& n = melody(s);
            n.resolved = true;
            if (n.off < 0)
                n.off = now_;
        }
        advance(now_);
        const double end = timing::beatsFromTicks(now_);
        while (harmonyStart_ < end && harmonyStep_ < HarmonyFeatures::stepsOfBar(harmonyStart_, harmonyEnd_))
            harmonyStepOut();
        closeGroup();
        emitGroups();
        while (groove_.currentBar() <= lastHitBar_)
            takeGrooveBar();
        resetSong();
    }

    // ---------------------------------------------------------------- events
    void handle(const MidiEvent& e, std::int64_t tick) noexcept {
        if (e.channel < 0 || e.channel > 15 || e.number < 0 || e.number > 127 || e.kind < 0 || e.kind > 2) {
            counters_.eventsInvalid.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (e.kind == MidiEvent::Controller) {
            if (e.number == 64)
                pedal(e.value >= contracts::dynamics::kPedalDown, tick);
            return;
        }
        if (e.kind == MidiEvent::NoteOn && e.value > 0)
            noteOn(e.channel, e.number, e.value, tick);
        else
            noteOff(e.channel, e.number, tick);
    }

    void pedal(bool down, std::int64_t tick) noexcept {
        pedalDown_ = down;
        for (std::int64_t s = openFrom_; s < pendingTail_; ++s)   // notes at this very tick see it (training: <=)
            if (pending(s).on == tick)
                pending(s).context.pedalDown = down;
    }

    struct SoundingStack {
        std::array<Sounding, kSameNoteDepth> notes{};
        int count = 0;
    };

    void noteOn(int channel, int pitch, int velocity, std::int64_t tick) noexcept {
        SoundingStack& stack = sounding_[static_cast<std::size_t>(channel)][static_cast<std::size_t>(pitch)];
        if (stack.count == kSameNoteDepth) {
            counters_.notesDropped.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        Sounding sounding;
        const double beats = timing::beatsFromTicks(tick);
        const bool drum = channel == kDrumChannel;
        if (!drum && dynamics())
            sounding.dynamics = addPending(pitch, velocity, tick, beats);
        if ((drum || grooveAll_.load(std::memory_order_relaxed)) && uses(Model::Groove)) {
            while (GrooveFeatures::barOf(beats) > groove_.currentBar() + 1)
                takeGrooveBar();
            if (groove_.addHit(pitch, beats, velocity))
                lastHitBar_ = std::max(lastHitBar_, GrooveFeatures::barOf(beats));
        }
        if (!drum && channel == melodyChannel_.load(std::memory_order_relaxed) && melodyLine())
            sounding.melody = addMelody(pitch, velocity, tick, beats);
        stack.notes[static_cast<std::size_t>(stack.count++)] = sounding;
    }

    void noteOff(int channel, int pitch, std::int64_t tick) noexcept {
        SoundingStack& stack = sounding_[static_cast<std::size_t>(channel)][static_cast<std::size_t>(pitch)];
        if (stack.count == 0) {
            counters_.noteOffWithoutNoteOn.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const Sounding first = stack.notes[0];   // first in, first out
        for (int i = 1; i < stack.count; ++i)
            stack.notes[static_cast<std::size_t>(i - 1)] = stack.notes[static_cast<std::size_t>(i)];
        --stack.count;
        if (first.dynamics >= pendingHead_ && first.dynamics < pendingTail_ && pending(first.dynamics).off < 0)
            pending(first.dynamics).off = tick;
        if (first.melody >= melodyHead_ && first.melody < melodyTail_ && melody(first.melody).off < 0
            && melody(first.melody).pitch == pitch)
            melody(first.melody).off = tick;
    }

    bool dynamics() const noexcept { return uses(Model::Dynamics); }
    bool melodyLine() const noexcept { return uses(Model::Melody) || uses(Model::Harmony); }

    // ---------------------------------------------------------------- the DynamicsEngine queue
    HeldNote& pending(std::int64_t s) noexcept { return pendingNotes_[static_cast<std::size_t>(s % kPendingNotes)]; }

    std::int64_t addPending(int pitch, int velocity, std::int64_t tick, double beats) noexcept {
        const std::int64_t key = DynamicsFeatures::groupKey(beats);
        if (key != openKey_)
            closeGroup();
        if (pendingTail_ - pendingHead_ == kPendingNotes) {   // full: the oldest group ends now
            for (std::int64_t s = pendingHead_; s < openFrom_; ++s)
                if (pending(s).off < 0) {
                    pending(s).off = now_;
                    counters_.notesForced.fetch_add(1, std::memory_order_relaxed);
                }
            emitGroups();
            if (pendingTail_ - pendingHead_ == kPendingNotes) {
                counters_.notesDropped.fetch_add(1, std::memory_order_relaxed);
                return -1;
            }
        }
        HeldNote& note = pending(pendingTail_);
        note = HeldNote{};
        note.pitch = pitch;
        note.velocity = velocity;
        note.on = tick;
        note.context.bar = barAt(beats);
        note.context.qpm = eventQpm_;
        note.context.pedalDown = pedalDown_;
        openKey_ = key;
        return pendingTail_++;
    }

    /// The open onset group (notes from openFrom_) takes no more notes.
    void closeGroup() noexcept { openFrom_ = pendingTail_; }

    bool ended(const HeldNote& note) const noexcept {
        return note.off >= 0 || now_ - note.on >= kMaxNoteTicks;
    }

    /// Every closed group whose notes have all ended, in order.
    void emitGroups() noexcept {
        while (pendingHead_ < openFrom_) {
            const std::int64_t key = DynamicsFeatures::groupKey(timing::beatsFromTicks(pending(pendingHead_).on));
            std::int64_t last = pendingHead_;
            bool complete = true;
            while (last < openFrom_ && DynamicsFeatures::groupKey(timing::beatsFromTicks(pending(last).on)) == key) {
                complete = complete && ended(pending(last));
                ++last;
            }
            if (!complete)
                return;
            int count = 0;
            for (std::int64_t s = pendingHead_; s < last; ++s) {
                const HeldNote& held = pending(s);
                if (count == kMaxGroup) {
                    counters_.notesDropped.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                const std::int64_t off = held.off >= 0 ? held.off : now_;
                NoteEvent note = noteFromTicks(held.pitch, held.on, off, held.velocity);
                DynamicsContext context = held.context;
                int at = count++;   // insertion sort by onset, then pitch (stable)
                while (at > 0 && (groupNotes_[static_cast<std::size_t>(at - 1)].onsetBeats > note.onsetBeats
                                  || (groupNotes_[static_cast<std::size_t>(at - 1)].onsetBeats == note.onsetBeats
                                      && groupNotes_[static_cast<std::size_t>(at - 1)].pitch > note.pitch))) {
                    groupNotes_[static_cast<std::size_t>(at)] = groupNotes_[static_cast<std::size_t>(at - 1)];
                    groupContexts_[static_cast<std::size_t>(at)] = groupContexts_[static_cast<std::size_t>(at - 1)];
                    --at;
                }
                groupNotes_[static_cast<std::size_t>(at)] = note;
                groupContexts_[static_cast<std::size_t>(at)] = context;
            }
            dynamics_->computeGroup(groupNotes_.data(), groupContexts_.data(), count, groupOut_.data());
            for (int i = 0; i < count; ++i)
                submit(Model::Dynamics, groupOut_.data() + i * DynamicsFeatures::kSize,
                       groupNotes_[static_cast<std::size_t>(i)].onsetBeats, groupContexts_[static_cast<std::size_t>(i)].qpm);
            pendingHead_ = last;
        }
    }

    // ---------------------------------------------------------------- the melody line (Melody and Harmony)
    HeldNote& melody(std::int64_t s) noexcept { return melodyNotes_[static_cast<std::size_t>(s % kMelodyNotes)]; }

    std::int64_t addMelody(int pitch, int velocity, std::int64_t tick, double beats) noexcept {
        if (melodyTail_ > melodyHead_) {
            HeldNote& head = melody(melodyTail_ - 1);
            if (!head.resolved && head.on == tick) {   // the same onset: the highest pitch is the line's
                if (pitch <= head.pitch)
                    return -1;
                head.pitch = pitch;
                head.velocity = velocity;
                head.off = -1;
                return melodyTail_ - 1;
            }
            if (beats - timing::beatsFromTicks(head.on) <= kSkylineTolerance)
                return -1;   // within 1/16 beat of the line's last onset: not the line
        }
        if (melodyTail_ - melodyHead_ == kMelodyNotes) {
            counters_.notesDropped.fetch_add(1, std::memory_order_relaxed);
            return -1;
        }
        HeldNote& note = melody(melodyTail_);
        note = HeldNote{};
        note.pitch = pitch;
        note.velocity = velocity;
        note.on = tick;
        note.context.bar = barAt(beats);
        note.context.qpm = eventQpm_;
        return melodyTail_++;
    }

    void melodySteps() noexcept {
        if (melodyTail_ > melodyHead_ && now_ > melody(melodyTail_ - 1).on)
            melody(melodyTail_ - 1).resolved = true;
        while (melodyStep_ < melodyTail_ && melody(melodyStep_).resolved) {
            const bool first = melodyStep_ == melodyFirst();
            if (!first && !ended(melody(melodyStep_ - 1)))
                return;
            if (uses(Model::Melody)) {
                const HeldNote& target = melody(melodyStep_);
                NoteEvent previous;
                if (!first)
                    previous = lineNote(melody(melodyStep_ - 1));
                const int key = key_.load(std::memory_order_relaxed);
                const std::uint64_t mood = mood_.load(std::memory_order_relaxed);
                MelodyConditioning conditioning;
                conditioning.keyTonic = key & 15;
                conditioning.major = (key & 16) != 0;
                const std::uint32_t v = static_cast<std::uint32_t>(mood >> 32), a = static_cast<std::uint32_t>(mood);
                std::memcpy(&conditioning.valence, &v, sizeof v);
                std::memcpy(&conditioning.arousal, &a, sizeof a);
                alignas(64) float x[kMaxVector];
                const double onset = timing::beatsFromTicks(target.on);
                melodyFeatures_.compute(x, first ? nullptr : &previous, onset, target.context.bar,
                                        target.context.qpm, conditioning);
                submit(Model::Melody, x, onset, target.context.qpm);
            }
            ++melodyStep_;
        }
        releaseMelody();
    }

    std::int64_t melodyFirst() const noexcept { return 0; }

    NoteEvent lineNote(const HeldNote& held) const noexcept {
        return noteFromTicks(held.pitch, held.on, held.off >= 0 ? held.off : held.on + kMaxNoteTicks, held.velocity);
    }

    /// Forget line notes neither model needs any more.
    void releaseMelody() noexcept {
        const std::int64_t forMelody = uses(Model::Melody) ? melodyStep_ - 1 : melodyStep_;
        const std::int64_t forHarmony = uses(Model::Harmony) ? harmonyFrom_ : melodyStep_;
        std::int64_t keep = std::min(std::min(forMelody, forHarmony), melodyTail_ - 1);
        melodyHead_ = std::max(keep, melodyHead_);
    }

    void harmonySteps() noexcept {
        if (!uses(Model::Harmony))
            return;
        const double now = timing::beatsFromTicks(now_);
        for (;;) {
            double start = 0.0, end = 0.0;
            HarmonyFeatures::stepBounds(harmonyStart_, harmonyEnd_, harmonyStep_, start, end);
            if (end > now)
                return;
            harmonyStepOut();
        }
    }

    /// The host's bar (at the block start) against the harmony bar in progress: a new time signature inside it cuts
    /// it there (training's bars end where the next signature starts); a change the steps already ran past (it
    /// came inside an earlier block) moves them into the host's bar at the step they reached; at the bar line itself
    /// the host's start and length are taken.
    void reconcileHarmonyBar() noexcept {
        const double hostStart = bar_.startBeats, reached = harmonyStart_ + harmonyStep_ * HarmonyFeatures::kStepBeats;
        if (hostStart > harmonyStart_ + kBarEpsilon && hostStart < harmonyEnd_ - kBarEpsilon) {
            if (reached <= hostStart + kBarEpsilon) {
                harmonyEnd_ = hostStart;
                if (harmonyStep_ >= HarmonyFeatures::stepsOfBar(harmonyStart_, harmonyEnd_)) {   // all emitted
                    harmonyStart_ = hostStart;
                    harmonyEnd_ = hostStart + bar_.lengthBeats;
                    harmonyStep_ = 0;
                }
            } else {
                const int steps = HarmonyFeatures::stepsOfBar(hostStart, hostStart + bar_.lengthBeats);
                const int k = static_cast<int>(std::floor((reached - hostStart) / HarmonyFeatures::kStepBeats + 1e-9));
                harmonyStart_ = hostStart;
                harmonyEnd_ = hostStart + bar_.lengthBeats;
                harmonyStep_ = k < steps ? k : 0;
                if (k >= steps) {
                    harmonyStart_ = harmonyEnd_;
                    harmonyEnd_ = harmonyStart_ + bar_.lengthBeats;
                }
            }
        } else if (std::fabs(hostStart - harmonyStart_) <= kBarEpsilon && harmonyStep_ == 0) {
            harmonyStart_ = hostStart;
            harmonyEnd_ = hostStart + bar_.lengthBeats;
        }
    }

    /// Computes the harmony step in progress from the line notes that overlap it and moves to the next one.
    void harmonyStepOut() noexcept {
        double start = 0.0, end = 0.0;
        HarmonyFeatures::stepBounds(harmonyStart_, harmonyEnd_, harmonyStep_, start, end);
        if (uses(Model::Harmony)) {
            harmony_->reset();
            for (std::int64_t s = harmonyFrom_; s < melodyTail_; ++s) {
                const HeldNote& held = melody(s);
                if (!held.resolved || timing::beatsFromTicks(held.on) >= end)
                    break;
                harmony_->addNote(lineNote(held));   // a sounding note ends after `end`: its overlap is exact
            }
            alignas(64) float x[kMaxVector];
            harmony_->computeStep(x, start, end);
            submit(Model::Harmony, x, end, qpm_);
            while (harmonyFrom_ < melodyTail_ && melody(harmonyFrom_).resolved && melody(harmonyFrom_).off >= 0
                   && lineNote(melody(harmonyFrom_)).onsetBeats + lineNote(melody(harmonyFrom_)).durationBeats <= end)
                ++harmonyFrom_;
        }
        if (++harmonyStep_ >= HarmonyFeatures::stepsOfBar(harmonyStart_, harmonyEnd_)) {
            harmonyStep_ = 0;
            harmonyStart_ = harmonyEnd_;
            harmonyEnd_ = harmonyStart_ + bar_.lengthBeats;
        }
    }

    void takeGrooveBar() noexcept {
        alignas(64) float x[kMaxVector];
        const double barStart = static_cast<double>(groove_.currentBar()) * contracts::groove::kBarBeats;
        const bool beforeSong = groove_.currentBar() < grooveFirstBar_;
        groove_.takeBar(x);
        if (!beforeSong)
            submit(Model::Groove, x, barStart + contracts::groove::kBarBeats, qpm_);
    }

    // ---------------------------------------------------------------- time passes
    /// Everything that is complete at `tick` (the play head only moves forward) becomes a step.
    void advance(std::int64_t tick) noexcept {
        now_ = tick > now_ ? tick : now_;
        const double now = timing::beatsFromTicks(now_);
        reconcileHarmonyBar();
        melodySteps();
        harmonySteps();
        if (openFrom_ < pendingTail_ && DynamicsFeatures::groupKey(now) > openKey_)
            closeGroup();
        emitGroups();
        if (uses(Model::Groove))
            while (groove_.currentBar() <= GrooveFeatures::lastCompleteBar(now))
                takeGrooveBar();
    }

    // ---------------------------------------------------------------- inference
    void submit(Model model, const float* x, double ppq, double qpm) noexcept {
        const std::size_t m = static_cast<std::size_t>(model);
        if (!slots_[m].net)
            return;
        Job job;
        job.model = static_cast<int>(model);
        job.ppq = ppq;
        job.qpm = qpm;
        job.block = block_;
        std::copy(x, x + inputSize(model), job.x.begin());
        ++stepCount_[m];
        counters_.steps.fetch_add(1, std::memory_order_relaxed);
        dispatch(job);
    }

    void dispatch(Job& job) noexcept {
        if (options_.mode == Mode::Synchronous) {
            execute(job);
            return;
        }
        if (queue_.push(job))
            submitted_.fetch_add(1, std::memory_order_release);
        else
            counters_.queueDrops.fetch_add(1, std::memory_order_relaxed);
    }

    void inferenceLoop() noexcept {
        Job job;
        while (!stop_.load(std::memory_order_acquire)) {
            if (!queue_.pop(job)) {
                std::this_thread::sleep_for(std::chrono::microseconds(100));
                continue;
            }
            execute(job);
            done_.fetch_add(1, std::memory_order_release);
        }
    }

    /// Normalise, run, decode, publish, record: the inference side (the inference thread, or process()).
    void execute(Job& job) noexcept {
        if (job.model < 0) {
            for (Slot& slot : slots_)
                if (slot.net) {
                    slot.net->reset();
                    slot.steps = 0;
                }
            return;
        }
        Slot& slot = slots_[static_cast<std::size_t>(job.model)];
        const Model model = static_cast<Model>(job.model);
        const auto began = options_.observer != nullptr ? std::chrono::steady_clock::now()
                                                         : std::chrono::steady_clock::time_point{};
        alignas(64) float x[kMaxVector];
        std::copy(job.x.begin(), job.x.begin() + inputSize(model), x);
        slot.normaliser.apply(x);
        const float* y = slot.net->forward(x);
        const int n = outputSize(model);
        ModelOutput& out = published_[static_cast<std::size_t>(job.model)].back();
        out.step = slot.steps;
        out.block = job.block;
        out.ppq = job.ppq;
        out.size = n;
        std::copy(y, y + n, out.raw.begin());
        decode(model, y, job.qpm, out);
        published_[static_cast<std::size_t>(job.model)].publish();
        record(job, y, slot.steps);
        ++slot.steps;
        if (options_.observer != nullptr)
            options_.observer(options_.observerContext, model, std::chrono::duration<double, std::micro>(
                                  std::chrono::steady_clock::now() - began).count(), job.block);
    }

    static void decode(Model model, const float* y, double qpm, ModelOutput& out) noexcept {
        switch (model) {
        case Model::Emotion: decodeEmotion(y, out.valence, out.arousal); break;
        case Model::Melody: decodeMelody(y, out.topPitches.data(), 3); break;
        case Model::Harmony: out.chord = decodeHarmony(y); break;
        case Model::Dynamics: out.velocity = static_cast<float>(decodeDynamics(y)); break;
        case Model::Groove:
            decodeGroove(y, qpm > 0.0 ? qpm : contracts::timing::kDefaultQpm, out.grooveOffsetsMs.data(),
                         out.grooveVelocities.data());
            break;
        }
    }

    void record(const Job& job, const float* y, std::int64_t step) noexcept {
        if (!recording_.load(std::memory_order_acquire))
            return;
        if (recordReset_.exchange(false, std::memory_order_acq_rel))
            recorded_.store(0, std::memory_order_release);
        const std::size_t at = recorded_.load(std::memory_order_relaxed);
        if (at >= records_.size()) {
            counters_.recordingDrops.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        StepRecord& r = records_[at];
        r.model = job.model;
        r.step = step;
        r.ppq = job.ppq;
        r.input = job.x;
        std::copy(y, y + outputSize(static_cast<Model>(job.model)), r.output.begin());
        recorded_.store(at + 1, std::memory_order_release);
    }

    void stopThread() {
        if (worker_.joinable()) {
            stop_.store(true, std::memory_order_release);
            worker_.join();
        }
        submitted_.store(0);
        done_.store(0);
    }

    static constexpr double kSkylineTolerance = 1.0 / 16.0;   // kel_midi_features.features.SKYLINE_TOLERANCE
    static constexpr std::int64_t kMaxNoteTicks =
        static_cast<std::int64_t>(contracts::timing::kMaxNoteBeats) * timing::kTicksPerBeat;
    static constexpr double kBarEpsilon = 1e-9;   // host bar starts this close to ours are the same bar line

    Options options_{};
    double sampleRate_ = 48000.0;
    int maxBlock_ = 512;
    bool prepared_ = false;
    bool playing_ = false;

    std::array<Slot, kModelCount> slots_{};
    std::unique_ptr<EmotionFeatures> emotion_;
    MelodyFeatures melodyFeatures_;
    std::unique_ptr<HarmonyFeatures> harmony_;
    std::unique_ptr<DynamicsFeatures> dynamics_;
    GrooveFeatures groove_;

    // conditioning (message thread -> audio thread)
    std::atomic<int> key_{16};
    std::atomic<std::uint64_t> mood_{0};
    std::atomic<int> melodyChannel_{0};
    std::atomic<bool> grooveAll_{false};

    // the song's clock (audio thread)
    double qpm_ = contracts::timing::kDefaultQpm;
    double eventQpm_ = contracts::timing::kDefaultQpm;   // the tempo at the event being handled
    std::vector<MidiEvent> held_;                          // the previous block's MIDI (capacity kMaxEventsPerBlock)
    timing::ResolvedBlock heldBlock_{};
    int heldFrames_ = 0;
    BarContext nextBar_{};                                 // the next play head's bar, while its block is timed
    bool nextBarKnown_ = false;
    BarContext bar_{};
    std::int64_t now_ = 0;
    double expectedPpq_ = 0.0;
    bool pedalDown_ = false;

    // note state (audio thread)
    std::array<std::array<SoundingStack, 128>, 16> sounding_{};
    std::array<HeldNote, kPendingNotes> pendingNotes_{};
    std::int64_t pendingHead_ = 0, pendingTail_ = 0, openFrom_ = 0, openKey_ = 0;
    std::array<NoteEvent, kMaxGroup> groupNotes_{};
    std::array<DynamicsContext, kMaxGroup> groupContexts_{};
    std::array<float, kMaxGroup * DynamicsFeatures::kSize> groupOut_{};
    std::array<HeldNote, kMelodyNotes> melodyNotes_{};
    std::int64_t melodyHead_ = 0, melodyTail_ = 0, melodyStep_ = 0, harmonyFrom_ = 0;
    double harmonyStart_ = 0.0, harmonyEnd_ = 4.0;
    int harmonyStep_ = 0;
    std::int64_t lastHitBar_ = -1, grooveFirstBar_ = 0;
    std::array<std::int64_t, kModelCount> stepCount_{};
    std::int64_t block_ = 0;

    // inference
    runtime_detail::SpscQueue<Job> queue_;
    std::thread worker_;
    std::atomic<bool> stop_{false};
    std::atomic<long long> submitted_{0}, done_{0};
    std::array<runtime_detail::TripleBuffer<ModelOutput>, kModelCount> published_{};
    std::array<ModelOutput, kModelCount> current_{};

    // recording
    std::vector<StepRecord> records_;
    std::atomic<std::size_t> recorded_{0};
    std::atomic<bool> recording_{false}, recordReset_{false};

    Counters counters_;
};

}  // namespace kel
