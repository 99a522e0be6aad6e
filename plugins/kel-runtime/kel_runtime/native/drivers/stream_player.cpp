// stream_player.cpp -- a host for kel::Runtime in tests: plays a song's events (at absolute sample positions) and
// audio into the runtime in blocks of a fixed size, with the transport (tempo, time signature, ppq at the block
// start, bar) a host computes from the song's tempo and bar maps, then stops the transport and writes the
// runtime's recording of every model step. Heap allocations on the thread that calls process() are counted
// (malloc family and operator new) from the first block on; the count must be 0.
//
// Usage: stream_player <stream.txt> <recording.txt>    (prints one "counters ..." line)
//        stream_player --bad-host ...                    (bad_host.h: a misbehaving host)
// Input (whitespace separated; reals as C hex floats):
//   kelstream 1
//   rate <real> block <frames> mode sync|threaded record <capacity>
//   models <k> then k paths
//   conditioning <tonic> <major 0|1> <valence> <arousal> <melody channel> <groove from all notes 0|1>
//   tempos <n>   then n x: <start beat> <start seconds> <qpm>     (the first starts at beat 0)
//   bars <n>     then n x: <start beat> <numerator> <denominator> <first bar index>
//   events <n>   then n x: <sample> <kind 0 on|1 off|2 cc> <channel> <number> <value>   (sorted by sample)
//   end <sample>
//   audio <channels> <path of interleaved float32 | ->
#include "KelRuntime.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "counting_allocator.h"
#include "bad_host.h"

namespace {

struct Reader {
    std::FILE* in = nullptr;
    char token[4096] = {};
    const char* next() {
        if (std::fscanf(in, "%4095s", token) != 1) {
            std::fprintf(stderr, "stream_player: truncated input\n");
            std::exit(2);
        }
        return token;
    }
    double real() { return std::strtod(next(), nullptr); }
    long long integer() { return std::strtoll(next(), nullptr, 10); }
    void expect(const char* word) {
        if (std::string(next()) != word) {
            std::fprintf(stderr, "stream_player: expected '%s', found '%s'\n", word, token);
            std::exit(2);
        }
    }
};

struct Tempo {
    double beat, seconds, qpm;
};
struct Bars {
    double start;
    int numerator, denominator;
    long long first;
};
struct Event {
    long long sample;
    kel::MidiEvent event;
};

/// The host's transport at an absolute sample: ppq from the tempo map, the bar from the bar map (as training's
/// kel_midi_features.song.BarMap.locate), tempo and time signature in force there.
kel::Transport transportAt(long long sample, double rate, const std::vector<Tempo>& tempos,
                           const std::vector<Bars>& bars) {
    const double seconds = static_cast<double>(sample) / rate;
    std::size_t t = 0;
    while (t + 1 < tempos.size() && tempos[t + 1].seconds <= seconds)
        ++t;
    kel::Transport transport;
    transport.playing = true;
    transport.qpm = tempos[t].qpm;
    transport.ppq = tempos[t].beat + (seconds - tempos[t].seconds) * tempos[t].qpm / 60.0;
    std::size_t k = 0;
    while (k + 1 < bars.size() && bars[k + 1].start <= transport.ppq)
        ++k;
    const double length = bars[k].numerator * 4.0 / bars[k].denominator;
    double j = std::floor((transport.ppq - bars[k].start) / length);
    if (bars[k].start + j * length > transport.ppq)
        j -= 1.0;
    if (bars[k].start + (j + 1.0) * length <= transport.ppq)
        j += 1.0;
    j = j < 0.0 ? 0.0 : j;
    transport.numerator = bars[k].numerator;
    transport.denominator = bars[k].denominator;
    transport.barStartPpq = bars[k].start + j * length;
    transport.barIndex = bars[k].first + static_cast<long long>(j);
    return transport;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "--bad-host")
        return bad_host::run(argc - 1, argv + 1);
    if (argc != 3) {
        std::fprintf(stderr, "usage: stream_player <stream.txt> <recording.txt>\n");
        return 2;
    }
    Reader r;
    r.in = std::fopen(argv[1], "r");
    if (r.in == nullptr) {
        std::fprintf(stderr, "stream_player: cannot open %s\n", argv[1]);
        return 2;
    }
    r.expect("kelstream");
    r.integer();
    r.expect("rate");
    const double rate = r.real();
    r.expect("block");
    const int block = static_cast<int>(r.integer());
    r.expect("mode");
    const std::string mode = r.next();
    r.expect("record");
    const long long capacity = r.integer();
    r.expect("models");
    kel::ModelFiles files;
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        const std::string path = r.next();
        for (int m = 0; m < kel::kModelCount; ++m)
            if (path.find(kel::modelName(static_cast<kel::Model>(m))) != std::string::npos)
                files.paths[static_cast<std::size_t>(m)] = path;
    }
    r.expect("conditioning");
    const int tonic = static_cast<int>(r.integer());
    const bool major = r.integer() != 0;
    const float valence = static_cast<float>(r.real());
    const float arousal = static_cast<float>(r.real());
    const int melodyChannel = static_cast<int>(r.integer());
    const bool grooveAll = r.integer() != 0;
    std::vector<Tempo> tempos;
    r.expect("tempos");
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        const double beat = r.real(), seconds = r.real();
        tempos.push_back({beat, seconds, r.real()});
    }
    std::vector<Bars> bars;
    r.expect("bars");
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        const double start = r.real();
        const int numerator = static_cast<int>(r.integer());
        const int denominator = static_cast<int>(r.integer());
        bars.push_back({start, numerator, denominator, r.integer()});
    }
    std::vector<Event> events;
    r.expect("events");
    for (long long i = 0, n = r.integer(); i < n; ++i) {
        Event e{};
        e.sample = r.integer();
        e.event.kind = static_cast<int>(r.integer());
        e.event.channel = static_cast<int>(r.integer());
        e.event.number = static_cast<int>(r.integer());
        e.event.value = static_cast<int>(r.integer());
        events.push_back(e);
    }
    r.expect("end");
    const long long endSample = r.integer();
    r.expect("audio");
    const int channels = static_cast<int>(r.integer());
    const std::string audioPath = r.next();
    std::fclose(r.in);
    if (tempos.empty() || bars.empty() || block < 1) {
        std::fprintf(stderr, "stream_player: no tempo, no bars or no block size\n");
        return 2;
    }
    std::vector<float> audio;
    if (audioPath != "-") {
        std::FILE* file = std::fopen(audioPath.c_str(), "rb");
        if (file == nullptr) {
            std::fprintf(stderr, "stream_player: cannot open %s\n", audioPath.c_str());
            return 2;
        }
        float chunk[4096];
        std::size_t got = 0;
        while ((got = std::fread(chunk, sizeof(float), 4096, file)) > 0)
            audio.insert(audio.end(), chunk, chunk + got);
        std::fclose(file);
    }

    auto runtime = std::make_unique<kel::Runtime>();
    kel::Runtime::Options options;
    options.mode = mode == "sync" ? kel::Runtime::Mode::Synchronous : kel::Runtime::Mode::Threaded;
    options.recordCapacity = static_cast<int>(capacity);
    options.queueCapacity = 1 << 16;
    const kel::PrepareStatus status = runtime->prepare(rate, block, files, options);
    for (const kel::Refusal& refusal : status.refusals)
        std::fprintf(stderr, "refused %s: %s: %s\n", refusal.file.c_str(), refusal.field.c_str(), refusal.reason.c_str());
    if (!status.ok())
        return 3;
    runtime->setKey(tonic, major);
    runtime->setMood(valence, arousal);
    runtime->setMelodyChannel(melodyChannel);
    runtime->setGrooveFromAllNotes(grooveAll);
    runtime->startRecording();

    const int planarChannels = channels > 0 ? channels : 1;
    std::vector<std::vector<float>> planar(static_cast<std::size_t>(planarChannels),
                                           std::vector<float>(static_cast<std::size_t>(block), 0.0f));
    std::vector<const float*> pointers(static_cast<std::size_t>(planarChannels));
    for (int c = 0; c < planarChannels; ++c)
        pointers[static_cast<std::size_t>(c)] = planar[static_cast<std::size_t>(c)].data();
    std::vector<kel::MidiEvent> blockEvents;
    blockEvents.reserve(events.size() + 1);
    const long long audioFrames = channels > 0 ? static_cast<long long>(audio.size()) / channels : 0;

    counting::audio = true;   // the audio thread, after prepare
    std::size_t next = 0;
    for (long long start = 0; start < endSample; start += block) {
        const int frames = static_cast<int>(std::min<long long>(block, endSample - start));
        blockEvents.clear();
        for (; next < events.size() && events[next].sample < start + frames; ++next) {
            kel::MidiEvent e = events[next].event;
            e.sampleOffset = static_cast<int>(events[next].sample - start);
            blockEvents.push_back(e);
        }
        for (int c = 0; c < channels; ++c)
            for (int i = 0; i < frames; ++i) {
                const long long frame = start + i;
                planar[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)] =
                    frame < audioFrames ? audio[static_cast<std::size_t>(frame * channels + c)] : 0.0f;
            }
        runtime->process(channels > 0 ? pointers.data() : nullptr, channels, frames, blockEvents.data(),
                         static_cast<int>(blockEvents.size()), transportAt(start, rate, tempos, bars));
        for (int m = 0; m < kel::kModelCount; ++m)
            (void)runtime->output(static_cast<kel::Model>(m)).step;   // the plugin reads its outputs
    }
    kel::Transport stopped = transportAt(endSample, rate, tempos, bars);
    stopped.playing = false;
    runtime->process(nullptr, 0, 0, nullptr, 0, stopped);
    counting::audio = false;
    runtime->finish();
    if (!runtime->writeRecording(argv[2])) {
        std::fprintf(stderr, "stream_player: cannot write %s\n", argv[2]);
        return 2;
    }
    const kel::Counters& c = runtime->counters();
    std::printf("counters blocks %lld steps %lld recorded %zu audio_thread_allocations %lld allocation_counting %d "
                "queue_drops %lld recording_drops %lld notes_dropped %lld notes_forced %lld note_off_without_note_on "
                "%lld relocations %lld invalid_tempo %lld events_out_of_order %lld events_outside_block %lld\n",
                c.blocks.load(), c.steps.load(), runtime->recordedSteps(), counting::allocations,
#if defined(KEL_NO_MALLOC_HOOKS)
                0,
#else
                1,
#endif
                c.queueDrops.load(), c.recordingDrops.load(), c.notesDropped.load(), c.notesForced.load(),
                c.noteOffWithoutNoteOn.load(), c.relocations.load(), c.invalidTempo.load(), c.eventsOutOfOrder.load(),
                c.eventsOutsideBlock.load());
    return 0;
}
