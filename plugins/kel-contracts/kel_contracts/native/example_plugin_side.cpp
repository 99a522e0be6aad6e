// example_plugin_side.cpp -- what a plugin does with the folder `kelcore export --cpp` writes: load the five
// models, check each file's contract version, feed the features KelFeatures.h computes, normalise, run, decode.
//
// Build (in the exported folder; RTNeural's default Eigen backend):
//   g++ -std=c++17 -O2 -ffp-contract=off -I. -I$RTNEURAL_DIR -I$RTNEURAL_DIR/modules/Eigen
//       -DRTNEURAL_USE_EIGEN=1 -DRTNEURAL_DEFAULT_ALIGNMENT=16 -DEIGEN_STACK_ALLOCATION_LIMIT=0
//       example_plugin_side.cpp -o example_plugin_side          (one command line)
//   ./example_plugin_side .          (the folder with the five JSON files)
// Without RTNeural on the include path it still builds and prints the features it would feed.
//
// In a JUCE plugin the same calls sit in prepareToPlay (load, prepare: allocation allowed) and processBlock /
// the inference thread (process, pop, compute, forward, decode: no allocation, lock, exception or I/O).
#include "KelFeatures.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#if __has_include(<RTNeural/RTNeural.h>)
#include <RTNeural/RTNeural.h>
#define KEL_EXAMPLE_HAS_RTNEURAL 1
#else
#define KEL_EXAMPLE_HAS_RTNEURAL 0
#endif

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
#if KEL_EXAMPLE_HAS_RTNEURAL
    std::unique_ptr<RTNeural::Model<float>> network;
#endif
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
#if KEL_EXAMPLE_HAS_RTNEURAL
        std::ifstream stream(path);
        network = RTNeural::json_parser::parseJson<float>(stream, false);
        if (!network || network->getInSize() != inputSize || network->getOutSize() != outputSize) {
            std::fprintf(stderr, "%s: RTNeural could not load it as %d -> %d\n", path.c_str(), inputSize, outputSize);
            return false;
        }
        network->reset();
#endif
        return true;
    }

    /// Normalise `features` in place and run one step; returns the outputs (nullptr without RTNeural).
    const float* step(float* features) {
        normaliser.apply(features);
#if KEL_EXAMPLE_HAS_RTNEURAL
        network->forward(features);
        return network->getOutputs();
#else
        return nullptr;
#endif
    }

    void reset() {
#if KEL_EXAMPLE_HAS_RTNEURAL
        network->reset();
#endif
    }
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
