// audio_driver.cpp -- runs kel::EmotionFeatures over a PCM file the way a host would, for comparisons
// with the Python features (kel_runtime.audio_parity.compare_audio).
//
//   audio_driver IN.pcm OUT.vec (--seed S | --block N | --whole)
//
// IN.pcm:  "KELPCM01", int32 rate, int32 channels, int64 frames, then float32 interleaved samples.
// OUT.vec: "KELVEC01", int32 count, int32 size (128), then per vector float64 time and `size` float32.
// Blocks: pseudo-random sizes 1..4096 from seed S, a fixed size N, or the whole file at once; then finish().
// Prints "vectors N", "prepare_allocations N" (operator new calls in prepare: shows the counter works),
// "allocations N" (operator new calls inside reset/process/popFeatures/finish after prepare; must be 0) and
// "dropped N" (vectors the FIFO dropped; 0 when popped after every block).
#include "KelAudioFeatures.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* allocate(std::size_t size) {
    if (g_counting.load(std::memory_order_relaxed))
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = std::malloc(size == 0 ? 1 : size);
    if (p == nullptr)
        throw std::bad_alloc();
    return p;
}
} // namespace

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {
struct Vector {
    double time;
    float values[kel::EmotionFeatures::kSize];
};

int fail(const std::string& message) {
    std::fprintf(stderr, "audio_driver: %s\n", message.c_str());
    return 2;
}

std::uint64_t next(std::uint64_t& state) {   // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
}
} // namespace

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5)
        return fail("usage: audio_driver IN.pcm OUT.vec (--seed S | --block N | --whole)");
    const std::string mode = argv[3];
    long parameter = argc == 5 ? std::strtol(argv[4], nullptr, 10) : 0;
    if (mode != "--whole" && (argc != 5 || (mode != "--seed" && mode != "--block")))
        return fail("the third argument is --seed S, --block N or --whole");
    if (mode == "--block" && (parameter < 1 || parameter > 4096))
        return fail("--block takes 1..4096");

    std::FILE* in = std::fopen(argv[1], "rb");
    if (in == nullptr)
        return fail(std::string("cannot open ") + argv[1]);
    char magic[8];
    std::int32_t rate = 0, channels = 0;
    std::int64_t frames = 0;
    if (std::fread(magic, 1, 8, in) != 8 || std::memcmp(magic, "KELPCM01", 8) != 0
        || std::fread(&rate, 4, 1, in) != 1 || std::fread(&channels, 4, 1, in) != 1
        || std::fread(&frames, 8, 1, in) != 1 || channels < 1 || frames < 0) {
        std::fclose(in);
        return fail("not a KELPCM01 file");
    }
    std::vector<float> interleaved(static_cast<std::size_t>(frames * channels));
    const bool complete = std::fread(interleaved.data(), 4, interleaved.size(), in) == interleaved.size();
    std::fclose(in);
    if (!complete)
        return fail("the file ends before its frames");
    std::vector<std::vector<float>> planes(static_cast<std::size_t>(channels),
                                           std::vector<float>(static_cast<std::size_t>(frames)));
    for (std::int64_t i = 0; i < frames; ++i)
        for (int c = 0; c < channels; ++c)
            planes[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)]
                = interleaved[static_cast<std::size_t>(i * channels + c)];
    std::vector<const float*> pointers(static_cast<std::size_t>(channels));

    const int maxBlock = mode == "--whole" ? static_cast<int>(std::max<std::int64_t>(frames, 1)) : 4096;
    kel::EmotionFeatures features;
    g_counting = true;                     // prepare() allocates: this shows the counter counts
    const bool prepared = features.prepare(static_cast<double>(rate), maxBlock);
    g_counting = false;
    const long prepareAllocations = g_allocations.exchange(0);
    if (!prepared)
        return fail("unsupported sample rate " + std::to_string(rate));
    std::vector<Vector> vectors;
    vectors.reserve(static_cast<std::size_t>(frames / rate * 2 + 16));
    std::uint64_t state = 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint64_t>(parameter);
    if (state == 0)
        state = 1;

    Vector current{};
    long outsideAllocations = 0;
    g_counting = true;
    features.reset();
    std::int64_t position = 0;
    bool finished = false;
    while (!finished) {
        if (position < frames) {
            std::int64_t size = frames - position;
            if (mode == "--seed")
                size = std::min<std::int64_t>(size, static_cast<std::int64_t>(next(state) % 4096) + 1);
            else if (mode == "--block")
                size = std::min<std::int64_t>(size, parameter);
            for (int c = 0; c < channels; ++c)
                pointers[static_cast<std::size_t>(c)] = planes[static_cast<std::size_t>(c)].data() + position;
            features.process(pointers.data(), channels, static_cast<int>(size));
            position += size;
        } else {
            features.finish();
            finished = true;
        }
        while (features.popFeatures(current.values, &current.time)) {
            g_counting = false;            // storing the result is the driver's business, not the plugin's
            const long before = g_allocations.load();
            vectors.push_back(current);
            outsideAllocations += g_allocations.load() - before;
            g_counting = true;
        }
    }
    g_counting = false;
    const long allocations = g_allocations.load() - outsideAllocations;

    std::FILE* out = std::fopen(argv[2], "wb");
    if (out == nullptr)
        return fail(std::string("cannot write ") + argv[2]);
    const std::int32_t count = static_cast<std::int32_t>(vectors.size()), size = kel::EmotionFeatures::kSize;
    std::fwrite("KELVEC01", 1, 8, out);
    std::fwrite(&count, 4, 1, out);
    std::fwrite(&size, 4, 1, out);
    for (const Vector& v : vectors) {
        std::fwrite(&v.time, 8, 1, out);
        std::fwrite(v.values, 4, static_cast<std::size_t>(size), out);
    }
    std::fclose(out);
    std::printf("vectors %d\nprepare_allocations %ld\nallocations %ld\ndropped %lld\n", count, prepareAllocations,
                allocations, static_cast<long long>(features.droppedVectors()));
    return 0;
}
