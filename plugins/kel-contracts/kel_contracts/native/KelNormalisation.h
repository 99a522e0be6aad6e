// KelNormalisation.h -- the input normalisation of an exported model file (metadata.feature_contract.normalization),
// applied in the plugin.
// C++17, standard library only. Loading (prepare time) allocates and parses; apply() never allocates.
#pragma once

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace kel {

/// (x - mean) / std per input element, read from an exported file's `metadata.feature_contract.normalization`.
/// An identity contract's file holds mean 0 and std 1: apply() then leaves the vector as it is.
class Normaliser {
public:
    /// Parses the exported JSON text; false (and `error` says why) when the file has no usable
    /// metadata.normalization of `expectedSize` means and stds. Call at prepare time, never on the audio thread.
    bool loadFromJson(const std::string& json, int expectedSize, std::string* error = nullptr) {
        std::vector<double> mean, stdev;
        const std::size_t norm = findObject(json, "\"normalization\"", json.find("\"metadata\""));
        if (norm == std::string::npos)
            return fail(error, "no metadata.normalization in the file");
        if (!readArray(json, norm, "\"mean\"", mean) || !readArray(json, norm, "\"std\"", stdev))
            return fail(error, "metadata.normalization has no numeric mean and std arrays");
        if (static_cast<int>(mean.size()) != expectedSize || static_cast<int>(stdev.size()) != expectedSize)
            return fail(error, "metadata.normalization has " + std::to_string(mean.size()) + " means and "
                               + std::to_string(stdev.size()) + " stds; the model takes "
                               + std::to_string(expectedSize) + " inputs");
        for (double s : stdev)
            if (!(s > 0.0))
                return fail(error, "metadata.normalization.std holds a value that is not positive");
        mean_.assign(mean.begin(), mean.end());
        std_.assign(stdev.begin(), stdev.end());
        return true;
    }

    /// Identity of `size` elements (for tests and for contracts without normalisation).
    void setIdentity(int size) {
        mean_.assign(static_cast<std::size_t>(size), 0.0f);
        std_.assign(static_cast<std::size_t>(size), 1.0f);
    }

    int size() const noexcept { return static_cast<int>(mean_.size()); }

    /// In place, real-time safe. The same arithmetic as training: (x - mean) / std in float32.
    void apply(float* x) const noexcept {
        for (std::size_t i = 0; i < mean_.size(); ++i)
            x[i] = (x[i] - mean_[i]) / std_[i];
    }

private:
    static bool fail(std::string* error, const std::string& message) {
        if (error != nullptr)
            *error = message;
        return false;
    }

    /// The first `key` at or after `from` whose value is an object (elements also have a "normalization" string).
    static std::size_t findObject(const std::string& json, const char* key, std::size_t from) {
        while (from != std::string::npos) {
            from = json.find(key, from);
            if (from == std::string::npos)
                return from;
            from += std::strlen(key);
            std::size_t value = json.find_first_not_of(" \t\r\n", from);
            if (value != std::string::npos && json[value] == ':')
                value = json.find_first_not_of(" \t\r\n", value + 1);
            if (value != std::string::npos && json[value] == '{')
                return value;
        }
        return from;
    }

    static bool readArray(const std::string& json, std::size_t from, const char* key, std::vector<double>& out) {
        std::size_t at = json.find(key, from);
        if (at == std::string::npos)
            return false;
        at = json.find('[', at);
        const std::size_t end = at == std::string::npos ? at : json.find(']', at);
        if (end == std::string::npos)
            return false;
        const char* cursor = json.c_str() + at + 1;
        const char* stop = json.c_str() + end;
        while (cursor < stop) {
            while (cursor < stop && (std::isspace(static_cast<unsigned char>(*cursor)) || *cursor == ','))
                ++cursor;
            if (cursor >= stop)
                break;
            char* next = nullptr;
            const double value = std::strtod(cursor, &next);
            if (next == cursor)
                return false;
            out.push_back(value);
            cursor = next;
        }
        return true;
    }

    std::vector<float> mean_, std_;   // float32, as training applies them
};

} // namespace kel
