// example_plugin_side.cpp -- what a plugin does with the folder `kelcore export --cpp` writes.
//
// With RTNeural on the include path this is the plugin's whole ML side: one kel::Runtime (KelRuntime.h) that a
// plugin's prepareToPlay / processBlock call; it computes every model's features from the host's audio, MIDI and
// transport, decides when each model's step is complete, runs the five models and publishes decoded outputs.
// Without RTNeural it still builds and shows the feature library underneath (KelFeatures.h: features only).
//
// Build (in the exported folder; RTNeural's default Eigen backend):
//   g++ -std=c++17 -O2 -ffp-contract=off -pthread -I. -I$RTNEURAL_DIR -I$RTNEURAL_DIR/modules/Eigen
//       -DRTNEURAL_USE_EIGEN=1 -DRTNEURAL_DEFAULT_ALIGNMENT=16 -DEIGEN_STACK_ALLOCATION_LIMIT=0
//       example_plugin_side.cpp -o example_plugin_side          (one command line)
//   ./example_plugin_side .          (the folder with the five JSON files)
#include "KelFeatures.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#if __has_include(<RTNeural/RTNeural.h>) && __has_include("KelRuntime.h")
#include "KelRuntime.h"
#define KEL_EXAMPLE_HAS_RTNEURAL 1
#else
#define KEL_EXAMPLE_HAS_RTNEURAL 0
#endif

#if KEL_EXAMPLE_HAS_RTNEURAL
// ============================================================================ the plugin: kel::Runtime
namespace {

/// The plugin's processBlock, simulated: 2.2 s of stereo audio, a melody with a bass note, drums, 4/4 at 120 qpm.
int runPlugin(const std::string& folder) {
    const double rate = 48000.0;
    const int block = 256;
    auto runtime = std::make_unique<kel::Runtime>();                       // a member of the plugin
    const kel::PrepareStatus status = runtime->prepare(rate, block, kel::ModelFiles::inFolder(folder));
    for (const kel::Refusal& refusal : status.refusals)                     // prepareToPlay
        std::fprintf(stderr, "%s: %s: %s\n", refusal.file.c_str(), refusal.field.c_str(), refusal.reason.c_str());
    if (!status.ok())
        return 2;
    std::printf("loaded %d models (RTNeural: yes)\n", status.loaded);
    runtime->setKey(0, true);                                               // message thread: C major,
    runtime->setMood(0.4f, 0.1f);                                           // the plugin's mood,
    runtime->setMelodyChannel(0);                                           // the melody on channel 1

    struct Note { double onset, duration; int pitch, velocity, channel; };
    const Note song[] = {{0.0, 1.0, 60, 90, 0}, {1.0, 1.0, 62, 80, 0}, {2.0, 0.5, 64, 85, 0}, {2.5, 0.5, 65, 70, 0},
                         {3.0, 1.0, 67, 95, 0}, {4.0, 2.0, 64, 75, 0}, {0.0, 4.0, 48, 60, 1}, {4.0, 4.0, 43, 60, 1},
                         {0.0, 0.1, 36, 110, 9}, {1.0, 0.1, 38, 100, 9}, {2.0, 0.1, 36, 105, 9}, {3.0, 0.1, 38, 100, 9}};
    std::vector<float> left(block), right(block);
    const float* channels[2] = {left.data(), right.data()};
    std::vector<kel::MidiEvent> events;
    events.reserve(64);
    std::int64_t seen[kel::kModelCount] = {-1, -1, -1, -1, -1};
    auto printNewOutputs = [&] {                          // the newest outputs, without waiting
        for (int m = 0; m < kel::kModelCount; ++m) {
            const kel::ModelOutput& out = runtime->output(static_cast<kel::Model>(m));
            if (out.step <= seen[m])
                continue;
            seen[m] = out.step;
            switch (static_cast<kel::Model>(m)) {
            case kel::Model::Emotion:
                std::printf("emotion at %.1f s: valence %+.3f arousal %+.3f\n", out.ppq,
                            static_cast<double>(out.valence), static_cast<double>(out.arousal));
                break;
            case kel::Model::Melody:
                std::printf("melody step %lld: most likely next pitches %d %d %d\n", static_cast<long long>(out.step),
                            out.topPitches[0], out.topPitches[1], out.topPitches[2]);
                break;
            case kel::Model::Harmony:
                std::printf("harmony beat %lld: %s\n", static_cast<long long>(out.step), kel::chordName(out.chord));
                break;
            case kel::Model::Dynamics:
                std::printf("dynamics note %lld: expected velocity %.1f\n", static_cast<long long>(out.step),
                            static_cast<double>(out.velocity));
                break;
            case kel::Model::Groove:
                std::printf("groove step 0: %+.1f ms, velocity %d (bar %lld)\n",
                            static_cast<double>(out.grooveOffsetsMs[0]), out.grooveVelocities[0],
                            static_cast<long long>(out.step));
                break;
            }
        }
    };
    const double beatsPerSample = 120.0 / 60.0 / rate;
    long long frame = 0;
    for (int b = 0; b < static_cast<int>(4.6 * rate) / block; ++b, frame += block) {     // the audio callback
        const bool audio = frame < static_cast<long long>(2.2 * rate);
        for (int i = 0; i < block; ++i) {
            const double t = static_cast<double>(frame + i) / rate;
            left[static_cast<std::size_t>(i)] = static_cast<float>(0.2 * std::sin(2 * 3.14159265358979 * 440.0 * t));
            right[static_cast<std::size_t>(i)] = static_cast<float>(0.2 * std::sin(2 * 3.14159265358979 * 660.0 * t));
        }
        events.clear();                                    // the host's MIDI of this block, at sample offsets
        for (const Note& n : song)
            for (int off = 0; off < 2; ++off) {
                const long long at = std::llround((off ? n.onset + n.duration : n.onset) / beatsPerSample);
                if (at >= frame && at < frame + block)
                    events.push_back({static_cast<int>(at - frame), off ? kel::MidiEvent::NoteOff : kel::MidiEvent::NoteOn,
                                      n.channel, n.pitch, off ? 0 : n.velocity});
            }
        std::stable_sort(events.begin(), events.end(), [](const kel::MidiEvent& a, const kel::MidiEvent& x) {
            return a.sampleOffset < x.sampleOffset;
        });
        kel::Transport transport;                          // the host's play head at the block start
        transport.qpm = 120.0;
        transport.ppq = static_cast<double>(frame) * beatsPerSample;
        transport.barIndex = static_cast<std::int64_t>(transport.ppq / 4.0);
        transport.barStartPpq = 4.0 * static_cast<double>(transport.barIndex);
        runtime->process(audio ? channels : nullptr, audio ? 2 : 0, block, events.data(),
                         static_cast<int>(events.size()), transport);
        printNewOutputs();
    }
    // The inference thread publishes the newest output of each model; a block may see none or skip some (a loaded
    // machine runs the thread late). Offline, finish() waits for every step handed to it: the last outputs follow.
    runtime->finish();
    printNewOutputs();
    const kel::Counters& counters = runtime->counters();
    std::printf("steps run: %lld, dropped: %lld\n", counters.steps.load(), counters.queueDrops.load());
    runtime->release();                                    // releaseResources
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return runPlugin(argc > 1 ? argv[1] : "."); }

#else
// ============================================================================ features only (no RTNeural)

namespace {

std::string readText(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

/// One exported model: its normalisation and (with RTNeural) the network. Loaded at prepare time.
struct LoadedModel {
    kel::Normaliser normaliser;
    int inputs = 0;
    int outputs = 0;

    bool load(const std::string& folder, const char* name, int inputSize, int outputSize) {
        const std::string path = folder + "/" + name + ".json";
        const std::string json = readText(path);
        std::string error;
        if (json.empty() || !kel::checkContractVersion(json, name, &error)
            || !normaliser.loadFromJson(json, inputSize, &error)) {
            std::fprintf(stderr, "%s: %s\n", path.c_str(), json.empty() ? "cannot read the file" : error.c_str());
            return false;
        }
        inputs = inputSize;
        outputs = outputSize;
        return true;
    }

    /// Normalise `features` in place and run one step; returns the outputs (nullptr without RTNeural).
    const float* step(float* features) {
        normaliser.apply(features);
        return nullptr;   // features only: the runtime path above runs the networks
    }

    void reset() {}
};

void printFeatures(const char* label, const float* x, int size) {
    std::printf("  %s features:", label);
    for (int i = 0; i < size && i < 8; ++i)
        std::printf(" %.3f", static_cast<double>(x[i]));
    std::printf(" ...\n");
}

}  // namespace

int main(int argc, char** argv) {
    namespace c = kel::contracts;
    const std::string folder = argc > 1 ? argv[1] : ".";
    LoadedModel emotion, melody, harmony, dynamics, groove;
    if (!emotion.load(folder, "EmotionRecognizer", c::emotion::kInputSize, c::emotion::kOutputSize)
        || !melody.load(folder, "MelodyTransformer", c::melody::kInputSize, c::melody::kOutputSize)
        || !harmony.load(folder, "HarmonyPredictor", c::harmony::kInputSize, c::harmony::kOutputSize)
        || !dynamics.load(folder, "DynamicsEngine", c::dynamics::kInputSize, c::dynamics::kOutputSize)
        || !groove.load(folder, "GroovePredictor", c::groove::kInputSize, c::groove::kOutputSize))
        return 2;
    std::printf("loaded 5 models (RTNeural: %s)\n", KEL_EXAMPLE_HAS_RTNEURAL ? "yes" : "no, features only");

    // EmotionRecognizer: the host's stereo blocks at 48 kHz -> one 128-vector per 0.5 s -> valence, arousal.
    const double rate = 48000.0;
    const int block = 256;
    auto audioFeatures = std::make_unique<kel::EmotionFeatures>();
    if (!audioFeatures->prepare(rate, block))
        return 1;
    std::vector<float> left(block), right(block);
    const float* channels[2] = {left.data(), right.data()};
    float vector128[c::emotion::kInputSize];
    long frame = 0;
    for (int b = 0; b < static_cast<int>(2.2 * rate) / block; ++b) {          // the audio callback
        for (int i = 0; i < block; ++i, ++frame) {
            const double t = static_cast<double>(frame) / rate;
            left[static_cast<std::size_t>(i)] = static_cast<float>(0.2 * std::sin(2 * 3.14159265358979 * 440.0 * t));
            right[static_cast<std::size_t>(i)] = static_cast<float>(0.2 * std::sin(2 * 3.14159265358979 * 660.0 * t));
        }
        audioFeatures->process(channels, 2, block);
        double time = 0.0;
        while (audioFeatures->popFeatures(vector128, &time)) {                 // the inference thread's side
            if (const float* grid = emotion.step(vector128)) {
                float valence = 0.0f, arousal = 0.0f;
                kel::decodeEmotion(grid, valence, arousal);
                std::printf("emotion at %.1f s: valence %+.3f arousal %+.3f\n", time, static_cast<double>(valence),
                            static_cast<double>(arousal));
            } else {
                printFeatures("emotion (normalised)", vector128, c::emotion::kInputSize);
            }
        }
    }

    // MelodyTransformer: the previous note and the next onset -> the next pitch.
    const kel::NoteEvent phrase[] = {{60, 0.0, 1.0, 90}, {62, 1.0, 1.0, 80}, {64, 2.0, 0.5, 85}, {65, 2.5, 0.5, 70},
                                     {67, 3.0, 1.0, 95}, {64, 4.0, 2.0, 75}};
    const int notes = static_cast<int>(sizeof(phrase) / sizeof(phrase[0]));
    kel::MelodyFeatures melodyFeatures;
    kel::BarContext bar;                                 // 4/4 from beat 0, as the host's play head reports it
    const kel::MelodyConditioning conditioning{0, true, 0.4f, 0.1f};  // C major, the plugin's own mood
    float x64[c::melody::kInputSize];
    for (int i = 0; i < notes; ++i) {
        bar.index = static_cast<std::int64_t>(phrase[i].onsetBeats / 4.0);
        bar.startBeats = 4.0 * static_cast<double>(bar.index);
        melodyFeatures.compute(x64, i == 0 ? nullptr : &phrase[i - 1], phrase[i].onsetBeats, bar, 120.0, conditioning);
        if (const float* next = melody.step(x64)) {
            int top[3];
            kel::decodeMelody(next, top, 3);
            std::printf("melody step %d: most likely next pitches %d %d %d\n", i, top[0], top[1], top[2]);
        } else {
            printFeatures("melody", x64, c::melody::kInputSize);
        }
    }

    // HarmonyPredictor: each beat's melody notes -> a chord name (one step per beat of the bar).
    kel::HarmonyFeatures harmonyFeatures;
    float x128[c::harmony::kInputSize];
    for (int i = 0; i < notes; ++i)
        harmonyFeatures.addNote(phrase[i]);
    for (int b = 0; b < 8; ++b) {
        harmonyFeatures.computeStep(x128, 1.0 * b, 1.0 * (b + 1));
        if (const float* chords = harmony.step(x128))
            std::printf("harmony beat %d: %s\n", b, kel::chordName(kel::decodeHarmony(chords)));
        else
            printFeatures("harmony (pitches 56..63)", x128 + 56, 8);
    }

    // DynamicsEngine: each onset group with the host's bar, tempo and pedal -> expected velocity.
    kel::DynamicsFeatures dynamicsFeatures;
    float x32[c::dynamics::kInputSize];
    for (int i = 0; i < notes; ++i) {
        kel::DynamicsContext context;
        context.bar.index = static_cast<std::int64_t>(phrase[i].onsetBeats / 4.0);
        context.bar.startBeats = 4.0 * static_cast<double>(context.bar.index);
        context.qpm = 120.0;
        dynamicsFeatures.computeGroup(&phrase[i], &context, 1, x32);
        if (const float* bins = dynamics.step(x32))
            std::printf("dynamics note %d: expected velocity %.1f\n", i, kel::decodeDynamics(bins));
        else
            printFeatures("dynamics (normalised)", x32, c::dynamics::kInputSize);
    }

    // GroovePredictor: one bar of drum hits -> micro-timing in ms and velocities per sixteenth.
    kel::GrooveFeatures grooveFeatures;
    for (int s = 0; s < 16; s += 2)
        grooveFeatures.addHit(42, s / 4.0, 80);                                  // closed hats on eighths
    grooveFeatures.addHit(36, 0.0, 110);
    grooveFeatures.addHit(38, 1.0, 100);
    grooveFeatures.addHit(36, 2.0, 105);
    grooveFeatures.addHit(38, 3.0, 100);
    float grid[c::groove::kInputSize];
    grooveFeatures.takeBar(grid);
    if (const float* humanised = groove.step(grid)) {
        float offsetsMs[16];
        int velocities[16];
        kel::decodeGroove(humanised, 120.0, offsetsMs, velocities);
        std::printf("groove step 0: %+.1f ms, velocity %d; step 4: %+.1f ms, velocity %d\n",
                    static_cast<double>(offsetsMs[0]), velocities[0], static_cast<double>(offsetsMs[4]), velocities[4]);
    } else {
        printFeatures("groove", grid, c::groove::kInputSize);
    }

    // A new song: reset every feature state and every network.
    audioFeatures->reset();
    melodyFeatures.reset();
    harmonyFeatures.reset();
    dynamicsFeatures.reset();
    grooveFeatures.reset();
    for (LoadedModel* model : {&emotion, &melody, &harmony, &dynamics, &groove})
        model->reset();
    return 0;
}
#endif  // KEL_EXAMPLE_HAS_RTNEURAL
