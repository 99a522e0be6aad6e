// ModelSpec.h -- the single source of truth for the five networks the plugin runs
// through RTNeural. The C++ plugin includes this header as it is; kelcore reads the
// numbers from it at run time (kelcore/spec/__init__.py), so no spec number is
// written anywhere else.
//
// Counting convention: paramCount is the number of TRAINABLE parameters as PyTorch
// counts them, sum(p.numel() for p in model.parameters()). Note that this differs
// from the number of values stored in an RTNeural JSON file: PyTorch's LSTM has two
// bias vectors (RTNeural stores their sum), and BatchNorm's running statistics are
// stored but not trainable.
#pragma once

#include <cstddef>

namespace kel {

struct ModelSpec {
    const char* name;
    size_t inputSize;
    size_t outputSize;
    size_t paramCount;
};

// name, inputSize, outputSize, paramCount
inline constexpr ModelSpec EmotionRecognizerSpec { "EmotionRecognizer", 128, 64, 497664 };
inline constexpr ModelSpec MelodyTransformerSpec { "MelodyTransformer", 64, 128, 412672 };
inline constexpr ModelSpec HarmonyPredictorSpec  { "HarmonyPredictor", 128, 64, 74048 };
inline constexpr ModelSpec DynamicsEngineSpec    { "DynamicsEngine", 32, 16, 13456 };
inline constexpr ModelSpec GroovePredictorSpec   { "GroovePredictor", 64, 32, 19040 };

inline constexpr ModelSpec kAllModelSpecs[] = {
    EmotionRecognizerSpec, MelodyTransformerSpec, HarmonyPredictorSpec,
    DynamicsEngineSpec, GroovePredictorSpec,
};

} // namespace kel
