// kel-hostbench native host: the plugin's real-time path, simulated, against RTNeural.
//
//   host verify FILE...                         replay metadata.reference with the dynamic API and ModelT
//   host bench API ITER FILE...                 one step of every file in turn (the full pipeline), timed (JSON)
//   host pipeline API RATE BLOCK SECONDS AUDIO CHANNELS NOTES FILE...
//                                               an audio thread at real-time pace -> SPSC queue -> inference (JSON)
// API: dynamic (RTNeural::json_parser::parseJson) or modelt (the compile-time types of KelModels.h).
//
// Built by kel_hostbench.native with -DKEL_HAVE_MODELS when the models folder has KelModels.h, with -I to the
// models folder, RTNeural, its Eigen, kel_contracts' native folder (KelFeatures.h) and kel_runtime's (KelRuntime.h:
// the pipeline is the plugin's runtime itself).
#include <RTNeural/RTNeural.h>
#ifdef KEL_HAVE_MODELS
#include "KelModels.h"
#else
#define KEL_MODELS(X)
#endif
#include "KelRuntime.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

// ------------------------------------------------------------------ heap accounting
// Every heap allocation is counted per thread role: glibc's malloc family is wrapped (Eigen's aligned_malloc and
// RTNeural's dynamic layers call malloc directly) and operator new goes through it. Live heap bytes come from
// mallinfo2 (prepare time only).
namespace alloc {
std::atomic<long long> audioThreadAllocations{0};
std::atomic<long long> inferenceThreadAllocations{0};
thread_local int role = 0;   // 1: audio thread after prepare, 2: inference thread after prepare
inline void note() noexcept {
    if (role == 1)
        audioThreadAllocations.fetch_add(1, std::memory_order_relaxed);
    else if (role == 2)
        inferenceThreadAllocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace alloc

#if defined(__GLIBC__)
#include <cerrno>
#include <malloc.h>
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
void* malloc(std::size_t n) {
    alloc::note();
    return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n) {
    alloc::note();
    return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n) {
    alloc::note();
    return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
    alloc::note();
    return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
    alloc::note();
    return __libc_memalign(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
    alloc::note();
    void* p = __libc_memalign(align, n);
    if (p == nullptr)
        return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}
static long long liveHeapBytes() {
    const auto info = mallinfo2();
    return static_cast<long long>(info.uordblks + info.hblkhd);
}
static void* countedAlloc(std::size_t size, std::size_t align) {
    void* p = align <= 16 ? std::malloc(size == 0 ? 1 : size) : aligned_alloc(align, (size + align - 1) / align * align);
    if (p == nullptr)
        throw std::bad_alloc();
    return p;
}
#else
static std::atomic<long long> g_liveBytes{0};
static long long liveHeapBytes() { return g_liveBytes.load(); }
static void* countedAlloc(std::size_t size, std::size_t align) {
    alloc::note();
    void* p = nullptr;
    if (posix_memalign(&p, std::max<std::size_t>(align, sizeof(void*)), size == 0 ? 1 : size) != 0)
        throw std::bad_alloc();
    return p;
}
#endif

static void countedFree(void* p) noexcept { std::free(p); }

void* operator new(std::size_t n) { return countedAlloc(n, 16); }
void* operator new[](std::size_t n) { return countedAlloc(n, 16); }
void* operator new(std::size_t n, std::align_val_t a) { return countedAlloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return countedAlloc(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { countedFree(p); }
void operator delete[](void* p) noexcept { countedFree(p); }
void operator delete(void* p, std::size_t) noexcept { countedFree(p); }
void operator delete[](void* p, std::size_t) noexcept { countedFree(p); }
void operator delete(void* p, std::align_val_t) noexcept { countedFree(p); }
void operator delete[](void* p, std::align_val_t) noexcept { countedFree(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { countedFree(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { countedFree(p); }

using Json = nlohmann::json;
using Matrix = std::vector<std::vector<float>>;
using Clock = std::chrono::steady_clock;

static long long residentBytes() {
    std::ifstream statm("/proc/self/statm");
    long long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<long long>(sysconf(_SC_PAGESIZE));
}

static std::string readText(const std::string& path) {
    std::ifstream stream(path);
    std::stringstream buffer;
    buffer << stream.rdbuf();
    return buffer.str();
}

struct Reference {
    Matrix inputs, outputs;
};

static Reference readReference(const Json& document) {
    const auto& ref = document.at("metadata").at("reference");
    return {ref.at("inputs").get<Matrix>(), ref.at("outputs").get<Matrix>()};
}

// ------------------------------------------------------------------ one model behind either API
struct Runner {
    virtual ~Runner() = default;
    virtual void reset() = 0;
    virtual const float* forward(const float* input) = 0;
    std::string name;
    int inSize = 0, outSize = 0;
    long long heapBytes = 0;   // live heap bytes the loaded model holds (weights + state + layer objects)
};

struct DynamicRunner : Runner {
    std::unique_ptr<RTNeural::Model<float>> model;
    void reset() override { model->reset(); }
    const float* forward(const float* input) override {
        model->forward(input);
        return model->getOutputs();
    }
};

template <typename M>
struct StaticRunner : Runner {
    std::unique_ptr<M> model;
    void reset() override { model->reset(); }
    const float* forward(const float* input) override {
        model->forward(input);
        return model->getOutputs();
    }
};

static std::unique_ptr<Runner> makeStatic(const Json& document) {
    const auto name = document.at("metadata").at("model").get<std::string>();
#define X(Name)                                                                                      \
    if (name == #Name) {                                                                             \
        auto runner = std::make_unique<StaticRunner<kel::models::Name##Model>>();                    \
        runner->model = std::make_unique<kel::models::Name##Model>();                                \
        runner->model->parseJson(document, false);                                                   \
        return runner;                                                                               \
    }
    KEL_MODELS(X)
#undef X
    (void)name;
    return nullptr;
}

/// Loads `document` with `api`; null when ModelT has no type for it (not in KelModels.h / not built with it).
static std::unique_ptr<Runner> load(const Json& document, const std::string& api) {
    const long long before = liveHeapBytes();
    std::unique_ptr<Runner> runner;
    if (api == "dynamic") {
        auto dynamic = std::make_unique<DynamicRunner>();
        dynamic->model = RTNeural::json_parser::parseJson<float>(document, false);
        if (dynamic->model)
            runner = std::move(dynamic);
    } else {
        runner = makeStatic(document);
    }
    if (!runner)
        return nullptr;
    runner->heapBytes = liveHeapBytes() - before;
    runner->name = document.at("metadata").value("model", std::string("?"));
    runner->inSize = document.at("in_shape").back().get<int>();
    runner->outSize = document.at("layers").back().at("shape").back().get<int>();
    return runner;
}

static double replay(Runner& runner, const Reference& ref) {
    runner.reset();
    double worst = 0.0;
    alignas(64) float input[1024];
    for (size_t t = 0; t < ref.inputs.size(); ++t) {
        std::copy(ref.inputs[t].begin(), ref.inputs[t].end(), input);
        const float* out = runner.forward(input);
        if (ref.outputs[t].size() != static_cast<size_t>(runner.outSize))
            return INFINITY;
        for (size_t k = 0; k < ref.outputs[t].size(); ++k) {
            const double d = std::fabs(static_cast<double>(out[k]) - ref.outputs[t][k]);
            worst = std::isnan(d) ? INFINITY : std::max(worst, d);
        }
    }
    runner.reset();
    return worst;
}

// ------------------------------------------------------------------ statistics as JSON
static double quantile(const std::vector<double>& sorted, double q) {
    if (sorted.empty())
        return NAN;
    const double at = q * static_cast<double>(sorted.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(at)), hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - static_cast<double>(lo));
}

static std::string num(double v) {
    if (!std::isfinite(v))
        return "null";
    char text[64];
    std::snprintf(text, sizeof text, "%.6g", v);
    return text;
}

/// {"count", "p50", "p99", "max", "mean", "quantiles": [q0 .. q100 in steps of 2]} of microsecond samples.
static std::string stats(std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    double sum = 0.0;
    for (double s : samples)
        sum += s;
    std::string out = "{\"count\": " + std::to_string(samples.size()) + ", \"p50\": " + num(quantile(samples, 0.5))
                      + ", \"p99\": " + num(quantile(samples, 0.99))
                      + ", \"max\": " + num(samples.empty() ? NAN : samples.back())
                      + ", \"mean\": " + num(samples.empty() ? NAN : sum / samples.size()) + ", \"quantiles\": [";
    for (int i = 0; i <= 50; ++i)
        out += (i ? ", " : "") + num(quantile(samples, i / 50.0));
    return out + "]}";
}

static std::string jsonString(const std::string& s) { return "\"" + s + "\""; }

// ------------------------------------------------------------------ verify
static int verify(int argc, char** argv) {
    int failures = 0;
    for (int i = 2; i < argc; ++i) {
        const Json document = Json::parse(readText(argv[i]));
        const Reference ref = readReference(document);
        auto dynamicModel = load(document, "dynamic");
        const double dynamicError = dynamicModel ? replay(*dynamicModel, ref) : INFINITY;
        auto staticModel = load(document, "modelt");
        const double staticError = staticModel ? replay(*staticModel, ref) : NAN;
        const bool ok = dynamicError <= 1e-5 && (!staticModel || staticError <= 1e-5);
        failures += ok ? 0 : 1;
        std::printf("%s dynamic %.3g modelt %.3g %s\n", argv[i], dynamicError, staticError, ok ? "OK" : "FAIL");
    }
    return failures == 0 ? 0 : 1;
}

// ------------------------------------------------------------------ bench: the five in turn, warm loop
static int bench(int argc, char** argv) {
    const std::string api = argv[2];
    const int iterations = std::atoi(argv[3]);
    std::vector<std::unique_ptr<Runner>> runners;
    std::vector<Reference> refs;
    std::vector<std::string> errors, files;
    for (int i = 4; i < argc; ++i) {
        const Json document = Json::parse(readText(argv[i]));
        refs.push_back(readReference(document));
        files.push_back(argv[i]);
        runners.push_back(load(document, api));
    }
    std::vector<double> replayError(runners.size(), NAN);
    for (size_t m = 0; m < runners.size(); ++m)
        if (runners[m])
            replayError[m] = replay(*runners[m], refs[m]);
    std::vector<std::vector<double>> micros(runners.size());
    std::vector<double> total;
    alignas(64) float input[1024];
    for (int it = -iterations / 10 - 1; it < iterations; ++it) {   // negative: warm-up
        double step = 0.0;
        for (size_t m = 0; m < runners.size(); ++m) {
            if (!runners[m])
                continue;
            const auto& x = refs[m].inputs[static_cast<size_t>(std::abs(it)) % refs[m].inputs.size()];
            std::copy(x.begin(), x.end(), input);
            const auto start = Clock::now();
            runners[m]->forward(input);
            const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
            step += us;
            if (it >= 0)
                micros[m].push_back(us);
        }
        if (it >= 0)
            total.push_back(step);
    }
    std::printf("{\"api\": %s, \"iterations\": %d, \"pipeline_us\": %s, \"models\": [\n", jsonString(api).c_str(),
                iterations, stats(total).c_str());
    for (size_t m = 0; m < runners.size(); ++m) {
        std::printf("%s{\"file\": %s, \"built\": %s, \"replay_error\": %s, \"heap_bytes\": %lld, \"step_us\": %s}\n",
                    m ? "," : "", jsonString(files[m]).c_str(), runners[m] ? "true" : "false", num(replayError[m]).c_str(),
                    runners[m] ? runners[m]->heapBytes : 0LL, stats(micros[m]).c_str());
    }
    std::printf("]}\n");
    return 0;
}

// ------------------------------------------------------------------ pipeline: the plugin's path through kel::Runtime
// An audio thread at real-time pace calls kel::Runtime::process() with host-sized blocks (the audio, the song's MIDI
// events at their sample offsets, the transport); the runtime computes the features, schedules the steps, hands them
// to its inference thread (lock-free SPSC queue) and publishes the outputs the callback reads without waiting.
enum ModelId { kEmotion = 0, kMelody, kHarmony, kDynamics, kGroove, kModels };
static const char* kNames[kModels] = {"EmotionRecognizer", "MelodyTransformer", "HarmonyPredictor", "DynamicsEngine",
                                      "GroovePredictor"};

/// The compile-time ModelT types of KelModels.h behind kel::Network (api "modelt").
static std::unique_ptr<kel::Network> compiledNetwork(kel::Model model, const Json& document) {
    const std::string name = kel::modelName(model);
    (void)document;
#define X(Name)                                                                                      \
    if (name == #Name)                                                                               \
        return std::make_unique<kel::CompiledNetwork<kel::models::Name##Model>>(document);
    KEL_MODELS(X)
#undef X
    return nullptr;
}

/// Every network the runtime loads, with the live heap bytes it holds (weights, state, layer objects) measured.
static long long gModelBytes[kModels] = {};
static bool gCompiledApi = false;

static std::unique_ptr<kel::Network> measuredNetwork(kel::Model model, const Json& document) {
    const long long before = liveHeapBytes();
    std::unique_ptr<kel::Network> network;
    if (gCompiledApi) {
        network = compiledNetwork(model, document);
    } else {
        auto dynamic = std::make_unique<kel::DynamicNetwork>(document);
        if (dynamic->loaded())
            network = std::move(dynamic);
    }
    gModelBytes[static_cast<int>(model)] = liveHeapBytes() - before;
    return network;
}

struct StepTimes {   // written by the runtime's inference thread only (the observer), read after it stopped
    std::vector<double> inferUs[kModels];
};

static void observeStep(void* context, kel::Model model, double microseconds, std::int64_t) {
    alloc::role = 2;   // the runtime's inference thread, after prepare
    auto& times = static_cast<StepTimes*>(context)->inferUs[static_cast<int>(model)];
    if (times.size() < times.capacity())
        times.push_back(microseconds);
}

struct TimedEvent {
    long long sample;
    kel::MidiEvent event;
};

static double nowSeconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

static int pipeline(int argc, char** argv) {
    if (argc < 9 + kModels) {
        std::fprintf(stderr, "pipeline: API RATE BLOCK SECONDS AUDIO CHANNELS NOTES and the five files\n");
        return 2;
    }
    const std::string api = argv[2];
    const double rate = std::atof(argv[3]);
    const int block = std::atoi(argv[4]);
    const double seconds = std::atof(argv[5]);
    const std::string audioPath = argv[6];
    const int channels = std::atoi(argv[7]);
    const std::string notesPath = argv[8];

    // ---- prepare (may allocate): audio, the song's events, the runtime with its models
    std::vector<float> audio;
    {
        std::ifstream stream(audioPath, std::ios::binary);
        stream.seekg(0, std::ios::end);
        const auto bytes = static_cast<size_t>(stream.tellg());
        stream.seekg(0);
        audio.resize(bytes / sizeof(float));
        stream.read(reinterpret_cast<char*>(audio.data()), static_cast<std::streamsize>(audio.size() * sizeof(float)));
    }
    const long long totalFrames = std::min<long long>(static_cast<long long>(audio.size()) / channels,
                                                      static_cast<long long>(seconds * rate));
    double qpm = 120.0, barBeats = 4.0;
    std::vector<TimedEvent> events;
    {
        std::ifstream stream(notesPath);
        std::string kind;
        std::vector<std::array<double, 5>> pending;   // kind-d?, pitch, onset, duration, velocity, melody
        std::vector<int> channelOf;
        while (stream >> kind) {
            if (kind == "tempo") {
                stream >> qpm;
            } else if (kind == "bar") {
                stream >> barBeats;
            } else if (kind == "n" || kind == "d") {
                double pitch = 0, onset = 0, duration = 0, velocity = 0, melody = 0;
                stream >> pitch >> onset >> duration >> velocity >> melody;
                pending.push_back({pitch, onset, duration, velocity, melody});
                channelOf.push_back(kind == "d" ? kel::Runtime::kDrumChannel : (melody != 0.0 ? 0 : 1));
            }
        }
        const double samplesPerBeat = rate * 60.0 / qpm;
        for (size_t i = 0; i < pending.size(); ++i) {
            const auto& n = pending[i];
            const long long on = std::llround(n[1] * samplesPerBeat);
            const long long off = std::max(on + 1, static_cast<long long>(std::llround((n[1] + n[2]) * samplesPerBeat)));
            kel::MidiEvent e;
            e.channel = channelOf[i];
            e.number = static_cast<int>(n[0]);
            e.kind = kel::MidiEvent::NoteOn;
            e.value = std::max(1, static_cast<int>(n[3]));
            events.push_back({on, e});
            e.kind = kel::MidiEvent::NoteOff;
            e.value = 0;
            events.push_back({off, e});
        }
        std::stable_sort(events.begin(), events.end(), [](const TimedEvent& a, const TimedEvent& b) {
            return a.sample < b.sample || (a.sample == b.sample && a.event.kind > b.event.kind);   // offs first
        });
    }
    int numerator = static_cast<int>(barBeats), denominator = 4;
    while (numerator != barBeats * denominator / 4.0 && denominator < 64) {
        denominator *= 2;
        numerator = static_cast<int>(barBeats * denominator / 4.0);
    }

    StepTimes times;
    for (auto& samples : times.inferUs)
        samples.reserve(1 << 16);
    kel::ModelFiles files;
    for (int i = 9; i < argc; ++i)
        for (int m = 0; m < kModels; ++m)
            if (std::string(argv[i]).find(kNames[m]) != std::string::npos)
                files.paths[static_cast<size_t>(m)] = argv[i];
    kel::Runtime::Options options;
    options.mode = kel::Runtime::Mode::Threaded;
    options.queueCapacity = 256;
    options.observer = observeStep;
    options.observerContext = &times;
    gCompiledApi = api == "modelt";
#ifndef KEL_HAVE_MODELS
    if (gCompiledApi) {
        std::fprintf(stderr, "pipeline: modelt needs KelModels.h\n");
        return 3;
    }
#endif
    options.network = measuredNetwork;
    options.verifyReference = false;   // hostbench's own replay (verify, bench) gives the verdict on a tampered file
    long long modelBytes[kModels] = {};
    const long long liveBeforeModels = liveHeapBytes();
    auto runtime = std::make_unique<kel::Runtime>();
    const kel::PrepareStatus status = runtime->prepare(rate, block, files, options);
    const long long runtimeBytes = liveHeapBytes() - liveBeforeModels;
    std::string contractErrors;
    for (const kel::Refusal& refusal : status.refusals)
        contractErrors += (contractErrors.empty() ? "" : "; ") + refusal.file + ": " + refusal.field + ": " +
                          refusal.reason;
    for (int m = 0; m < kModels; ++m)
        if (!runtime->uses(static_cast<kel::Model>(m))) {
            std::fprintf(stderr, "pipeline: %s not loaded: %s\n", kNames[m], contractErrors.c_str());
            return 3;
        }
    for (int m = 0; m < kModels; ++m)
        modelBytes[m] = gModelBytes[m];

    std::vector<std::vector<float>> planar(static_cast<size_t>(channels), std::vector<float>(static_cast<size_t>(block)));
    std::vector<const float*> channelPointers(static_cast<size_t>(std::max(channels, 1)));
    for (int c = 0; c < channels; ++c)
        channelPointers[static_cast<size_t>(c)] = planar[static_cast<size_t>(c)].data();
    std::vector<kel::MidiEvent> blockEvents;
    blockEvents.reserve(events.size() + 1);

    // self-test of the allocation counter: KEL_HOSTBENCH_ALLOCATE_IN_CALLBACK=1 allocates in every callback
    const bool allocateInCallback = std::getenv("KEL_HOSTBENCH_ALLOCATE_IN_CALLBACK") != nullptr;
    const long long blocks = (totalFrames + block - 1) / block;
    // after the song the host keeps calling with the transport stopped: the runtime completes the song's last steps
    // (notes that end at the stop, the bar in progress) and the callback sees them
    const long long tailBlocks = static_cast<long long>(std::ceil(0.25 * rate / block));
    std::vector<double> callbackUs, blockStart(static_cast<size_t>(blocks + tailBlocks + 2), 0.0);
    callbackUs.reserve(static_cast<size_t>(blocks + tailBlocks));
    std::vector<double> latencyUs[kModels];
    for (auto& samples : latencyUs)
        samples.reserve(1 << 16);
    long long results[kModels] = {}, misses = 0, overruns = 0;

    const long long rssBefore = residentBytes();
    const long long liveBefore = liveHeapBytes();

    // ---- audio thread: host-sized blocks at real-time pace
    std::thread audioThread([&] {
        alloc::role = 1;
        std::int64_t lastBlockSeen[kModels];
        for (auto& seen : lastBlockSeen)
            seen = -1;
        long long lastStep[kModels];
        for (auto& step : lastStep)
            step = -1;
        size_t next = 0;
        const double period = block / rate;
        const auto start = Clock::now();
        for (long long b = 0; b < blocks + tailBlocks; ++b) {
            const bool playing = b < blocks;
            const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(b * period));
            std::this_thread::sleep_until(due);
            const auto begin = Clock::now();
            blockStart[static_cast<size_t>(b)] = nowSeconds();
            // -- the callback
            const long long first = b * block;
            const int frames = playing ? static_cast<int>(std::min<long long>(block, totalFrames - first)) : block;
            for (int c = 0; c < channels && playing; ++c)
                for (int i = 0; i < frames; ++i)
                    planar[static_cast<size_t>(c)][static_cast<size_t>(i)]
                        = audio[static_cast<size_t>((first + i) * channels + c)];
            blockEvents.clear();
            for (; playing && next < events.size() && events[next].sample < first + frames; ++next) {
                kel::MidiEvent e = events[next].event;
                e.sampleOffset = static_cast<int>(events[next].sample - first);
                blockEvents.push_back(e);
            }
            kel::Transport transport;
            transport.playing = playing;
            transport.qpm = qpm;
            transport.numerator = numerator;
            transport.denominator = denominator;
            transport.ppq = static_cast<double>(first) / rate * qpm / 60.0;
            transport.barIndex = static_cast<std::int64_t>(std::floor(transport.ppq / barBeats));
            transport.barStartPpq = static_cast<double>(transport.barIndex) * barBeats;
            runtime->process(playing ? channelPointers.data() : nullptr, playing ? channels : 0, frames, blockEvents.data(),
                             static_cast<int>(blockEvents.size()), transport);
            // the newest results, never waiting
            for (int m = 0; m < kModels; ++m) {
                const kel::ModelOutput& out = runtime->output(static_cast<kel::Model>(m));
                if (out.step != lastStep[m] || out.block != lastBlockSeen[m]) {
                    if (out.step >= 0 && out.block >= 0 && out.block <= b) {
                        results[m] += out.step > lastStep[m] ? out.step - lastStep[m] : 1;
                        if (latencyUs[m].size() < latencyUs[m].capacity())
                            latencyUs[m].push_back((blockStart[static_cast<size_t>(b)]
                                                    - blockStart[static_cast<size_t>(out.block)]) * 1e6);
                    }
                    lastStep[m] = out.step;
                    lastBlockSeen[m] = out.block;
                }
            }
            if (allocateInCallback) {
                auto* scratch = new std::vector<float>(16);
                planar[0][0] += (*scratch)[0];
                delete scratch;
            }
            // -- end of the callback
            const auto finish = Clock::now();
            const double us = std::chrono::duration<double, std::micro>(finish - begin).count();
            callbackUs.push_back(us);
            if (us > period * 1e6)
                ++overruns;
            if (finish > due + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period)))
                ++misses;
        }
        alloc::role = 0;
    });
    audioThread.join();
    runtime->finish();
    runtime->release();
    const long long rssAfter = residentBytes();
    const long long liveAfter = liveHeapBytes();
    const kel::Counters& counters = runtime->counters();

    const double played = static_cast<double>(totalFrames) / rate;
    std::printf("{\"api\": %s, \"rate\": %g, \"block\": %d, \"seconds\": %s, \"deadline_us\": %s, \"blocks\": %lld,\n",
                jsonString(api).c_str(), rate, block, num(played).c_str(), num(block / rate * 1e6).c_str(),
                static_cast<long long>(callbackUs.size()));
    std::printf(" \"callback_us\": %s,\n", stats(callbackUs).c_str());
    std::printf(" \"deadline_misses\": %lld, \"overruns\": %lld, \"queue_drops\": %lld,\n", misses, overruns,
                counters.queueDrops.load());
    std::printf(" \"audio_thread_allocations\": %lld, \"inference_thread_allocations\": %lld,\n",
                alloc::audioThreadAllocations.load(), alloc::inferenceThreadAllocations.load());
    std::printf(" \"rss_before_bytes\": %lld, \"rss_after_bytes\": %lld, \"rss_growth_bytes\": %lld, "
                "\"heap_growth_bytes\": %lld,\n", rssBefore, rssAfter, rssAfter - rssBefore, liveAfter - liveBefore);
    std::printf(" \"runtime\": \"kel::Runtime (KelRuntime.h)\", \"runtime_heap_bytes\": %lld, \"steps\": %lld,\n",
                runtimeBytes, counters.steps.load());
    std::printf(" \"feature_state_bytes\": %lld, \"contract_errors\": %s, \"models\": {\n",
                static_cast<long long>(sizeof(kel::Runtime)), jsonString(contractErrors).c_str());
    for (int m = 0; m < kModels; ++m)
        std::printf("  %s: {\"heap_bytes\": %lld, \"results\": %lld, \"results_per_s\": %s, \"infer_us\": %s, "
                    "\"latency_us\": %s}%s\n", jsonString(kNames[m]).c_str(), modelBytes[m], results[m],
                    num(results[m] / played).c_str(), stats(times.inferUs[m]).c_str(), stats(latencyUs[m]).c_str(),
                    m + 1 < kModels ? "," : "");
    std::printf("}}\n");
    return 0;
}

int main(int argc, char** argv) {
    if (argc >= 3 && std::strcmp(argv[1], "verify") == 0)
        return verify(argc, argv);
    if (argc >= 5 && std::strcmp(argv[1], "bench") == 0)
        return bench(argc, argv);
    if (argc >= 3 && std::strcmp(argv[1], "pipeline") == 0)
        return pipeline(argc, argv);
    std::fprintf(stderr, "usage: host verify FILE... | host bench API ITERATIONS FILE... | "
                         "host pipeline API RATE BLOCK SECONDS AUDIO CHANNELS NOTES FILE...\n");
    return 2;
}
