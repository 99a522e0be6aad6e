// midi_driver.cpp -- computes the MIDI feature contracts through KelMidiFeatures.h the way a plugin would
// (streaming, in time order, host-style bar/tempo/pedal state) from a parsed song that Python writes
// (kel_runtime.midi_parity.write_song), and writes the vectors out for an element-by-element comparison
// with the Python training features. Heap allocations are counted during the streaming part of each model
// (global operator new is replaced): everything is prepared before, so the count must be 0.
//
// Usage: midi_driver <song.txt> <out.txt>      (or: midi_driver --selftest)
// Input (whitespace separated; reals as C hex floats, exact; times as integer ticks on the contracts' grid,
// kel::timing, which the driver turns into beats exactly as a plugin does with its host's ppq position):
//   kelmidi 3
//   end <beats>
//   tempos <n>            then n x: <tick> <qpm>
//   segments <n>          then n x: <start tick> <bar length> <first bar index>     (time-signature bar map)
//   harmony_bars <n>      then n x: <start> <end>                                   (beats, as the host's bars)
//   pedal <n>             then n x: <tick> <value>
//   key <tonic> <major 0|1> <valence> <arousal>
//   tracks <n>            then per track: <is_drum 0|1> <notes m>, then m x: <pitch> <on tick> <off tick> <velocity>
//   melody <m>            then m x: <pitch> <on tick> <off tick> <velocity>      (the melody line)
//   models <k> <name>...  (melody harmony dynamics groove)
// Output per model: "model <name> rows <r> cols <c> allocations <a> dropped <d>" then r lines of c values (%.9g).
#include "KelMidiFeatures.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {
long long gAllocations = 0;
bool gCounting = false;
}  // namespace

void* operator new(std::size_t size) {
    if (gCounting)
        ++gAllocations;
    if (void* p = std::malloc(size == 0 ? 1 : size))
        return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    if (gCounting)
        ++gAllocations;
    return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return ::operator new(size, tag); }
// GCC flags free() on memory from a (replaced, inlined) operator new although this pair is consistent.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

struct Song {
    double end = 0.0;
    std::vector<double> tempoTimes, tempoQpm;
    std::vector<double> segmentStart, segmentLength;
    std::vector<long long> segmentFirstBar;
    std::vector<double> harmonyStart, harmonyEnd;
    std::vector<double> pedalTimes;
    std::vector<int> pedalValues;
    kel::MelodyConditioning conditioning;
    std::vector<std::vector<kel::NoteEvent>> tracks;
    std::vector<bool> drum;
    std::vector<kel::NoteEvent> melody;
    std::vector<std::string> models;
};

struct Reader {
    std::ifstream in;
    std::string token;
    bool ok = true;
    const std::string& next() {
        if (!(in >> token)) {
            ok = false;
            token.clear();
        }
        return token;
    }
    double real() { return std::strtod(next().c_str(), nullptr); }
    long long integer() { return std::strtoll(next().c_str(), nullptr, 10); }
    void expect(const char* word) {
        if (next() != word) {
            std::cerr << "midi_driver: expected '" << word << "', found '" << token << "'\n";
            std::exit(2);
        }
    }
};

kel::NoteEvent readNote(Reader& r) {
    const int pitch = static_cast<int>(r.integer());
    const long long on = r.integer();
    const long long off = r.integer();
    return kel::noteFromTicks(pitch, on, off, static_cast<int>(r.integer()));
}

double readTick(Reader& r) { return kel::timing::beatsFromTicks(r.integer()); }

Song readSong(const char* path) {
    Reader r;
    r.in.open(path);
    if (!r.in) {
        std::cerr << "midi_driver: cannot open " << path << "\n";
        std::exit(2);
    }
    Song s;
    r.expect("kelmidi");
    if (r.integer() != 3) {
        std::cerr << "midi_driver: unsupported input version\n";
        std::exit(2);
    }
    r.expect("end");
    s.end = r.real();
    r.expect("tempos");
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        s.tempoTimes.push_back(readTick(r));
        s.tempoQpm.push_back(r.real());
    }
    r.expect("segments");
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        s.segmentStart.push_back(readTick(r));
        s.segmentLength.push_back(r.real());
        s.segmentFirstBar.push_back(r.integer());
    }
    r.expect("harmony_bars");
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        s.harmonyStart.push_back(r.real());
        s.harmonyEnd.push_back(r.real());
    }
    r.expect("pedal");
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        s.pedalTimes.push_back(readTick(r));
        s.pedalValues.push_back(static_cast<int>(r.integer()));
    }
    r.expect("key");
    s.conditioning.keyTonic = static_cast<int>(r.integer());
    s.conditioning.major = r.integer() != 0;
    s.conditioning.valence = static_cast<float>(r.real());
    s.conditioning.arousal = static_cast<float>(r.real());
    r.expect("tracks");
    for (long long t = 0, n = r.integer(); t < n; ++t) {
        s.drum.push_back(r.integer() != 0);
        s.tracks.emplace_back();
        for (long long i = 0, m = r.integer(); i < m; ++i)
            s.tracks.back().push_back(readNote(r));
    }
    r.expect("melody");
    for (long long i = 0, m = r.integer(); i < m; ++i)
        s.melody.push_back(readNote(r));
    r.expect("models");
    for (long long i = 0, k = r.integer(); i < k; ++i)
        s.models.push_back(r.next());
    if (!r.ok) {
        std::cerr << "midi_driver: truncated input\n";
        std::exit(2);
    }
    return s;
}

/// What a host reports as the song plays: tempo, bar and pedal at a time that only moves forward.
class HostClock {
public:
    explicit HostClock(const Song& song) : song_(song) {}

    double qpm(double t) noexcept {
        while (tempo_ < song_.tempoTimes.size() && song_.tempoTimes[tempo_] <= t)
            ++tempo_;
        return tempo_ == 0 ? kel::contracts::timing::kDefaultQpm : song_.tempoQpm[tempo_ - 1];
    }

    kel::BarContext bar(double t) noexcept {
        while (segment_ + 1 < song_.segmentStart.size() && song_.segmentStart[segment_ + 1] <= t)
            ++segment_;
        return kel::timing::barContaining(t, song_.segmentStart[segment_], song_.segmentLength[segment_],
                                          song_.segmentFirstBar[segment_]);
    }

    bool pedalDown(double t) noexcept {
        while (pedal_ < song_.pedalTimes.size() && song_.pedalTimes[pedal_] <= t)
            ++pedal_;
        return pedal_ > 0 && song_.pedalValues[pedal_ - 1] >= kel::contracts::dynamics::kPedalDown;
    }

private:
    const Song& song_;
    std::size_t tempo_ = 0, segment_ = 0, pedal_ = 0;
};

struct Result {
    std::string name;
    int cols = 0;
    std::vector<float> values;
    long long rows = 0;
    long long allocations = 0;
    long long dropped = 0;
};

void startCounting() {
    gAllocations = 0;
    gCounting = true;
}
long long stopCounting() {
    gCounting = false;
    return gAllocations;
}

Result runMelody(const Song& s) {
    Result r{"melody", kel::MelodyFeatures::kSize, {}, 0, 0, 0};
    r.values.assign(s.melody.size() * static_cast<std::size_t>(r.cols), 0.0f);
    kel::MelodyFeatures features;   // construction: prepare time
    HostClock clock(s);
    startCounting();
    features.reset();
    for (std::size_t i = 0; i < s.melody.size(); ++i) {
        const double onset = s.melody[i].onsetBeats;
        features.compute(r.values.data() + i * static_cast<std::size_t>(r.cols), i ? &s.melody[i - 1] : nullptr,
                         onset, clock.bar(onset), clock.qpm(onset), s.conditioning);
    }
    r.allocations = stopCounting();
    r.rows = static_cast<long long>(s.melody.size());
    return r;
}

Result runHarmony(const Song& s) {
    Result r{"harmony", kel::HarmonyFeatures::kSize, {}, 0, 0, 0};
    std::size_t steps = 0;   // the steps of every bar, as the plugin derives them from the host's bar
    for (std::size_t b = 0; b < s.harmonyStart.size(); ++b)
        steps += static_cast<std::size_t>(kel::HarmonyFeatures::stepsOfBar(s.harmonyStart[b], s.harmonyEnd[b]));
    r.values.assign(steps * static_cast<std::size_t>(r.cols), 0.0f);
    static kel::HarmonyFeatures features;   // construction: prepare time (large: not on the stack)
    startCounting();
    features.reset();
    std::size_t next = 0, row = 0;
    for (std::size_t b = 0; b < s.harmonyStart.size(); ++b) {
        const int n = kel::HarmonyFeatures::stepsOfBar(s.harmonyStart[b], s.harmonyEnd[b]);
        for (int k = 0; k < n; ++k, ++row) {
            double start = 0.0, end = 0.0;
            kel::HarmonyFeatures::stepBounds(s.harmonyStart[b], s.harmonyEnd[b], k, start, end);
            while (next < s.melody.size() && s.melody[next].onsetBeats < end)
                features.addNote(s.melody[next++]);
            features.computeStep(r.values.data() + row * static_cast<std::size_t>(r.cols), start, end);
        }
    }
    r.allocations = stopCounting();
    r.rows = static_cast<long long>(steps);
    r.dropped = features.dropped();
    return r;
}

Result runDynamics(const Song& s) {
    Result r{"dynamics", kel::DynamicsFeatures::kSize, {}, 0, 0, 0};
    std::vector<kel::NoteEvent> notes;   // what the plugin plays: every pitched note, by onset then pitch
    for (std::size_t t = 0; t < s.tracks.size(); ++t)
        if (!s.drum[t])
            notes.insert(notes.end(), s.tracks[t].begin(), s.tracks[t].end());
    std::stable_sort(notes.begin(), notes.end(), [](const kel::NoteEvent& a, const kel::NoteEvent& b) {
        return a.onsetBeats < b.onsetBeats || (a.onsetBeats == b.onsetBeats && a.pitch < b.pitch);
    });
    r.values.assign(notes.size() * static_cast<std::size_t>(r.cols), 0.0f);
    std::vector<kel::DynamicsContext> contexts(notes.size());
    static kel::DynamicsFeatures features;
    HostClock clock(s);
    startCounting();
    features.reset();
    std::size_t first = 0;
    while (first < notes.size()) {
        const std::int64_t key = kel::DynamicsFeatures::groupKey(notes[first].onsetBeats);
        std::size_t last = first;
        while (last < notes.size() && kel::DynamicsFeatures::groupKey(notes[last].onsetBeats) == key) {
            const double onset = notes[last].onsetBeats;
            contexts[last].bar = clock.bar(onset);
            contexts[last].qpm = clock.qpm(onset);
            contexts[last].pedalDown = clock.pedalDown(onset);
            ++last;
        }
        features.computeGroup(notes.data() + first, contexts.data() + first, static_cast<int>(last - first),
                               r.values.data() + first * static_cast<std::size_t>(r.cols));
        first = last;
    }
    r.allocations = stopCounting();
    r.rows = static_cast<long long>(notes.size());
    r.dropped = features.overflows();
    return r;
}

Result runGroove(const Song& s) {
    Result r{"groove", kel::GrooveFeatures::kSize, {}, 0, 0, 0};
    std::vector<kel::NoteEvent> hits;
    for (std::size_t t = 0; t < s.tracks.size(); ++t)
        if (s.drum[t])
            hits.insert(hits.end(), s.tracks[t].begin(), s.tracks[t].end());
    std::stable_sort(hits.begin(), hits.end(), [](const kel::NoteEvent& a, const kel::NoteEvent& b) {
        return a.onsetBeats < b.onsetBeats;
    });
    std::int64_t bars = 0;
    for (const auto& h : hits)
        bars = std::max(bars, kel::GrooveFeatures::barOf(h.onsetBeats) + 1);
    r.values.assign(static_cast<std::size_t>(bars) * static_cast<std::size_t>(r.cols), 0.0f);
    kel::GrooveFeatures features;
    startCounting();
    features.reset();
    std::int64_t row = 0;
    for (const auto& h : hits) {
        while (kel::GrooveFeatures::barOf(h.onsetBeats) > features.currentBar() + 1)
            features.takeBar(r.values.data() + (row++) * r.cols);
        if (!features.addHit(h.pitch, h.onsetBeats, h.velocity))
            ++r.dropped;
    }
    while (row < bars)
        features.takeBar(r.values.data() + (row++) * r.cols);
    r.allocations = stopCounting();
    r.rows = row;
    return r;
}

int selftest() {
    int failures = 0;
    auto check = [&](bool ok, const char* what) {
        if (!ok) {
            std::printf("FAIL %s\n", what);
            ++failures;
        }
    };
    float melody[128] = {};
    melody[60] = 0.5f;
    melody[67] = 0.3f;
    melody[64] = 0.2f;
    int top[3] = {};
    check(kel::decodeMelody(melody, top, 3) == 3 && top[0] == 60 && top[1] == 67 && top[2] == 64, "decodeMelody");
    check(kel::decodeMelodyArgmax(melody) == 60, "decodeMelodyArgmax");
    check(std::string(kel::chordName(0)) == "C:maj" && std::string(kel::chordName(21)) == "A:min"
              && std::string(kel::chordName(60)) == "N" && std::string(kel::chordName(99)) == "?",
          "chordName");
    const kel::Chord chord = kel::decodeChord(12 * 3 + 2);
    check(chord.root == 2 && chord.quality == 3 && std::string(chord.name) == "D:min7", "decodeChord");
    check(kel::decodeChord(61).root == -1, "decodeChord special");
    float harmony[64] = {};
    harmony[7] = 0.9f;
    check(kel::decodeHarmony(harmony) == 7, "decodeHarmony");
    float dynamics[16] = {};
    dynamics[10] = 0.5f;
    dynamics[12] = 0.5f;
    check(std::fabs(kel::decodeDynamics(dynamics) - 91.5) < 1e-9, "decodeDynamics");
    float groove[32] = {};
    groove[0] = 0.5f;     // +1/4 sixteenth
    groove[16] = 1.0f;    // velocity 127
    groove[17] = -1.0f;   // velocity 0
    float ms[16];
    int velocity[16];
    kel::decodeGroove(groove, 120.0, ms, velocity);
    check(std::fabs(ms[0] - 31.25f) < 1e-4f && velocity[0] == 127 && velocity[1] == 0 && velocity[2] == 64,
          "decodeGroove");
    kel::GrooveFeatures g;
    g.reset();
    float grid[64];
    check(g.addHit(35, 3.95, 100) && kel::GrooveFeatures::voiceOf(35) == 0, "groove kick 35, next bar");
    g.takeBar(grid);
    check(grid[0] == 0.0f, "groove bar 0 empty");
    g.takeBar(grid);
    check(grid[0] == 1.0f, "groove bar 1 step 0 kick");
    startCounting();   // the counter itself: one vector allocation must be seen
    {
        std::vector<int> probe(16, 1);
        check(probe[15] == 1, "probe");
    }
    check(stopCounting() == 1, "allocation counter counts operator new");
    std::printf("selftest %s\n", failures ? "failed" : "ok");
    return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--selftest")
        return selftest();
    if (argc != 3) {
        std::cerr << "usage: midi_driver <song.txt> <out.txt> | --selftest\n";
        return 2;
    }
    const Song song = readSong(argv[1]);
    std::vector<Result> results;
    for (const std::string& model : song.models) {
        if (model == "melody")
            results.push_back(runMelody(song));
        else if (model == "harmony")
            results.push_back(runHarmony(song));
        else if (model == "dynamics")
            results.push_back(runDynamics(song));
        else if (model == "groove")
            results.push_back(runGroove(song));
        else {
            std::cerr << "midi_driver: unknown model " << model << "\n";
            return 2;
        }
    }
    std::FILE* out = std::fopen(argv[2], "w");
    if (out == nullptr) {
        std::cerr << "midi_driver: cannot write " << argv[2] << "\n";
        return 2;
    }
    for (const Result& r : results) {
        std::fprintf(out, "model %s rows %lld cols %d allocations %lld dropped %lld\n", r.name.c_str(), r.rows, r.cols,
                     r.allocations, r.dropped);
        for (long long i = 0; i < r.rows; ++i) {
            for (int c = 0; c < r.cols; ++c)
                std::fprintf(out, c ? " %.9g" : "%.9g",
                             static_cast<double>(r.values[static_cast<std::size_t>(i * r.cols + c)]));
            std::fputc('\n', out);
        }
    }
    std::fclose(out);
    return 0;
}
