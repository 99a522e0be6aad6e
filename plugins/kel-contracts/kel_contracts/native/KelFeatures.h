// KelFeatures.h -- the plugin's side of every kelcore feature contract, C++17, standard library only.
//
// For each model it turns what a plugin has at run time into the model's input vector (exactly the numbers
// training computed; `kelcore native-check` proves it on your files), applies the exported file's input
// normalisation and decodes the model's output:
//   EmotionRecognizer  kel::EmotionFeatures (audio blocks -> one 128-vector per 0.5 s), kel::decodeEmotion
//   MelodyTransformer  kel::MelodyFeatures, kel::decodeMelody
//   HarmonyPredictor   kel::HarmonyFeatures, kel::chordName
//   DynamicsEngine     kel::DynamicsFeatures, kel::decodeDynamics
//   GroovePredictor    kel::GrooveFeatures, kel::decodeGroove
// Real-time safe: after construction / prepare() nothing here allocates, locks, throws or does I/O.
// The constants come from KelContracts.h, generated from the single Python definition (kel_contracts).
// Build with -ffp-contract=off (GCC/Clang contract a*b+c into FMA by default at -march levels with FMA, which
// changes the last bits of a few features). See docs/NATIVE.md.
#pragma once

#include "KelContracts.h"
#include "KelNormalisation.h"
#include "KelAudioFeatures.h"
#include "KelMidiFeatures.h"

#include <cstring>
#include <string>

namespace kel {

/// The contract version these headers compute for `model` ("EmotionRecognizer", ...), or nullptr.
inline const char* contractVersion(const char* model) noexcept {
    struct Entry { const char* model; const char* version; };
    static constexpr Entry entries[] = {
        {"EmotionRecognizer", contracts::emotion::kVersion}, {"MelodyTransformer", contracts::melody::kVersion},
        {"HarmonyPredictor", contracts::harmony::kVersion}, {"DynamicsEngine", contracts::dynamics::kVersion},
        {"GroovePredictor", contracts::groove::kVersion}};
    for (const Entry& entry : entries)
        if (std::strcmp(entry.model, model) == 0)
            return entry.version;
    return nullptr;
}

/// True when the exported file's `metadata.feature_contract.version` is the version these headers compute;
/// otherwise `error` says which versions disagree (a model trained on other features must not be run).
/// Call at load time.
inline bool checkContractVersion(const std::string& json, const char* model, std::string* error = nullptr) {
    const char* expected = contractVersion(model);
    const std::size_t contract = json.find("\"feature_contract\"");
    const std::size_t key = contract == std::string::npos ? contract : json.find("\"version\"", contract);
    const std::size_t open = key == std::string::npos ? key : json.find('"', json.find(':', key));
    const std::size_t close = open == std::string::npos ? open : json.find('"', open + 1);
    std::string found = close == std::string::npos ? std::string("none") : json.substr(open + 1, close - open - 1);
    if (expected != nullptr && found == expected)
        return true;
    if (error != nullptr)
        *error = std::string(model) + ": the file was trained on feature contract " + found + ", these headers "
                 "compute " + (expected != nullptr ? expected : "no such model") + ": re-export a model trained "
                 "with this kelcore";
    return false;
}

} // namespace kel
