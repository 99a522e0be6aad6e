// kelcore host benchmark and verifier: loads exported RTNeural JSON files the way the plugin does,
// replays each file's metadata.reference step by step, and times one inference.
//
//   host verify FILE...   dynamic API (json_parser::parseJson) and compile-time ModelT (from KelModels.h)
//   host bench ITER FILE...  median and p99 microseconds per step for both APIs
//
// Build (see hostbench/run.py): g++ -std=c++17 -O2 -DRTNEURAL_USE_EIGEN=1 -DRTNEURAL_DEFAULT_ALIGNMENT=16
//   -DEIGEN_STACK_ALLOCATION_LIMIT=0 -I$RTNEURAL_DIR -I$RTNEURAL_DIR/modules/Eigen -I<export dir> host.cpp
#include <RTNeural/RTNeural.h>
#include "KelModels.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

using Json = nlohmann::json;
using Matrix = std::vector<std::vector<float>>;

struct Reference {
    Matrix inputs, outputs;
};

static Json readJson(const char* path) {
    std::ifstream stream(path);
    Json document;
    stream >> document;
    return document;
}

static Reference readReference(const Json& document) {
    const auto& ref = document.at("metadata").at("reference");
    return {ref.at("inputs").get<Matrix>(), ref.at("outputs").get<Matrix>()};
}

// Runs any model with forward(const float*) / getOutputs() over the reference; returns max |diff|.
template <typename Model>
static double replay(Model& model, const Reference& ref) {
    model.reset();
    double worst = 0.0;
    alignas(RTNEURAL_DEFAULT_ALIGNMENT) float input[1024];
    for (size_t t = 0; t < ref.inputs.size(); ++t) {
        std::copy(ref.inputs[t].begin(), ref.inputs[t].end(), input);
        model.forward(input);
        const float* out = model.getOutputs();
        for (size_t k = 0; k < ref.outputs[t].size(); ++k)
            worst = std::max(worst, (double)std::fabs(out[k] - ref.outputs[t][k]));
    }
    return worst;
}

template <typename Model>
static std::vector<double> timeSteps(Model& model, const Reference& ref, int iterations) {
    std::vector<double> micros;
    alignas(RTNEURAL_DEFAULT_ALIGNMENT) float input[1024];
    model.reset();
    for (int i = 0; i < iterations; ++i) {
        const auto& x = ref.inputs[i % ref.inputs.size()];
        std::copy(x.begin(), x.end(), input);
        auto start = std::chrono::steady_clock::now();
        model.forward(input);
        auto stop = std::chrono::steady_clock::now();
        micros.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
    }
    std::sort(micros.begin(), micros.end());
    return micros;
}

// The compile-time model named in metadata.model, loaded from the same file; null if not in KelModels.h.
struct StaticModel {
    virtual ~StaticModel() = default;
    virtual double replay(const Reference& ref) = 0;
    virtual std::vector<double> time(const Reference& ref, int iterations) = 0;
    virtual size_t bytes() const = 0;
};

template <typename M>
struct StaticModelOf : StaticModel {
    std::unique_ptr<M> model = std::make_unique<M>();
    explicit StaticModelOf(const Json& document) { model->parseJson(document, false); }
    double replay(const Reference& ref) override { return ::replay(*model, ref); }
    std::vector<double> time(const Reference& ref, int iterations) override { return timeSteps(*model, ref, iterations); }
    size_t bytes() const override { return sizeof(M); }
};

static std::unique_ptr<StaticModel> makeStatic(const Json& document) {
    const auto name = document.at("metadata").at("model").get<std::string>();
#define X(Name) if (name == #Name) return std::make_unique<StaticModelOf<kel::models::Name##Model>>(document);
    KEL_MODELS(X)
#undef X
    return nullptr;
}

static int verify(int argc, char** argv) {
    int failures = 0;
    for (int i = 2; i < argc; ++i) {
        const Json document = readJson(argv[i]);
        const Reference ref = readReference(document);
        auto dynamicModel = RTNeural::json_parser::parseJson<float>(document, false);
        const double dynamicError = dynamicModel ? replay(*dynamicModel, ref) : INFINITY;
        auto staticModel = makeStatic(document);
        const double staticError = staticModel ? staticModel->replay(ref) : NAN;
        const bool ok = dynamicError <= 1e-5 && (!staticModel || staticError <= 1e-5);
        failures += ok ? 0 : 1;
        std::printf("%s dynamic %.3g modelt %.3g %s\n", argv[i], dynamicError, staticError, ok ? "OK" : "FAIL");
    }
    return failures == 0 ? 0 : 1;
}

static int bench(int argc, char** argv) {
    const int iterations = std::atoi(argv[2]);
    for (int i = 3; i < argc; ++i) {
        const Json document = readJson(argv[i]);
        const Reference ref = readReference(document);
        auto dynamicModel = RTNeural::json_parser::parseJson<float>(document, false);
        auto staticModel = makeStatic(document);
        timeSteps(*dynamicModel, ref, iterations / 10 + 1);  // warm-up
        auto d = timeSteps(*dynamicModel, ref, iterations);
        std::vector<double> s;
        if (staticModel) {
            staticModel->time(ref, iterations / 10 + 1);
            s = staticModel->time(ref, iterations);
        }
        auto pct = [](const std::vector<double>& v, double q) { return v.empty() ? NAN : v[(size_t)(q * (v.size() - 1))]; };
        std::printf("%s dynamic_median_us %.2f dynamic_p99_us %.2f modelt_median_us %.2f modelt_p99_us %.2f modelt_bytes %zu\n",
                    argv[i], pct(d, 0.5), pct(d, 0.99), pct(s, 0.5), pct(s, 0.99), staticModel ? staticModel->bytes() : (size_t)0);
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc >= 3 && std::strcmp(argv[1], "verify") == 0)
        return verify(argc, argv);
    if (argc >= 4 && std::strcmp(argv[1], "bench") == 0)
        return bench(argc, argv);
    std::fprintf(stderr, "usage: host verify FILE... | host bench ITERATIONS FILE...\n");
    return 2;
}
