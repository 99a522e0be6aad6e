// bad_host.h -- kel::Runtime against a host that misbehaves: every kind of bad input the runtime defines
// (docs/NATIVE.md "Bad host input"), in both modes, with allocations on the audio thread counted. Prints one
// "counter <name> <value>" line per counter, "allocations <n>", "outputs finite <0|1>", and the refusals of a
// prepare() on the folder given second (files that must be refused), as "refused <file> <field>".
//
// Usage (compiled into stream_player.cpp, one build for both):
//   stream_player --bad-host <models folder> <folder of bad files> <sync|threaded>
#pragma once

#include "KelRuntime.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace bad_host {

inline kel::Transport playingAt(double ppq, double qpm = 120.0) {
    kel::Transport t;
    t.playing = true;
    t.qpm = qpm;
    t.ppq = ppq;
    t.barStartPpq = std::floor(ppq / 4.0) * 4.0;
    t.barIndex = static_cast<std::int64_t>(ppq / 4.0);
    return t;
}

inline kel::MidiEvent note(int offset, int kind, int channel, int pitch, int value) {
    kel::MidiEvent e;
    e.sampleOffset = offset;
    e.kind = kind;
    e.channel = channel;
    e.number = pitch;
    e.value = value;
    return e;
}

/// argv: <models folder> <bad files folder> <sync|threaded>; needs counting_allocator.h in the program.
inline int run(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: stream_player --bad-host <models folder> <bad files folder> <sync|threaded>\n");
        return 2;
    }
    const double rate = 48000.0;
    const int block = 512;
    auto runtime = std::make_unique<kel::Runtime>();
    kel::Runtime::Options options;
    options.mode = std::string(argv[3]) == "sync" ? kel::Runtime::Mode::Synchronous : kel::Runtime::Mode::Threaded;
    options.queueCapacity = 64;   // small: a burst of steps overflows it (counted)
    options.recordCapacity = 16;
    const kel::PrepareStatus good = runtime->prepare(rate, block, kel::ModelFiles::inFolder(argv[1]), options);
    if (!good.ok() || good.loaded != 5) {
        for (const auto& r : good.refusals)
            std::fprintf(stderr, "unexpected refusal %s %s %s\n", r.file.c_str(), r.field.c_str(), r.reason.c_str());
        return 3;
    }
    runtime->startRecording();
    std::vector<float> left(static_cast<std::size_t>(8 * block)), right(left.size());   // the oversized block too
    for (std::size_t i = 0; i < left.size(); ++i) {
        left[i] = static_cast<float>(0.3 * std::sin(0.05 * static_cast<double>(i)));
        right[i] = -left[i];
    }
    const float* audio[2] = {left.data(), right.data()};
    std::vector<kel::MidiEvent> events;
    events.reserve(8192);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double beatsPerBlock = block * (120.0 / 60.0) / rate;

    counting::audio = true;
    double ppq = 0.0;
    auto play = [&](const kel::Transport& t, int frames) {
        runtime->process(audio, 2, frames, events.data(), static_cast<int>(events.size()), t);
        for (int m = 0; m < kel::kModelCount; ++m)
            (void)runtime->output(static_cast<kel::Model>(m));
        events.clear();
    };
    // a normal start, then every kind of bad input
    events.push_back(note(0, kel::MidiEvent::NoteOn, 0, 60, 90));
    play(playingAt(ppq), block);
    ppq += beatsPerBlock;
    events.push_back(note(300, kel::MidiEvent::NoteOn, 0, 64, 90));
    events.push_back(note(100, kel::MidiEvent::NoteOff, 0, 60, 0));    // out of order
    events.push_back(note(-7, kel::MidiEvent::NoteOn, 1, 48, 70));     // before the block
    events.push_back(note(99999, kel::MidiEvent::NoteOff, 1, 48, 0));  // after the block
    events.push_back(note(10, kel::MidiEvent::NoteOn, 23, 48, 70));    // no such channel
    events.push_back(note(10, 7, 1, 48, 70));                          // no such kind
    events.push_back(note(11, kel::MidiEvent::NoteOff, 2, 50, 0));     // note-off without note-on
    play(playingAt(ppq), block);
    ppq += beatsPerBlock;
    for (double qpm : {nan, -90.0, 0.0, 10000.0, std::numeric_limits<double>::infinity()}) {
        events.push_back(note(5, kel::MidiEvent::NoteOn, 1, 52, 80));
        events.push_back(note(6, kel::MidiEvent::NoteOff, 1, 52, 0));
        play(playingAt(ppq, qpm), block);
        ppq += beatsPerBlock;
    }
    events.push_back(note(0, kel::MidiEvent::NoteOn, 1, 53, 80));     // a zero-frame block with an event
    play(playingAt(ppq), 0);
    kel::Transport odd = playingAt(ppq);
    odd.numerator = 0;                                                 // no such time signature
    odd.denominator = 3;
    play(odd, block);
    ppq += beatsPerBlock;
    kel::Transport other = playingAt(ppq);
    other.sampleRate = 96000.0;                                        // a rate change without prepare
    events.push_back(note(3, kel::MidiEvent::NoteOn, 1, 55, 80));
    play(other, block);
    ppq += block * (120.0 / 60.0) / 96000.0;
    for (int i = 0; i < 6; ++i)                                        // the same note six times at once
        events.push_back(note(i, kel::MidiEvent::NoteOn, 3, 70, 80));
    play(playingAt(ppq), block);
    ppq += beatsPerBlock;
    for (int round = 0; round < 6; ++round) {                          // thousands of notes that never end
        for (int i = 0; i < 1000; ++i)
            events.push_back(note(i % block, kel::MidiEvent::NoteOn, 4 + i % 5, i % 128, 64));
        play(playingAt(ppq), block);
        ppq += beatsPerBlock;
    }
    play(playingAt(ppq + 100.0), block);                               // the play head jumps: a new song
    kel::Transport stopped = playingAt(ppq + 100.0);
    stopped.playing = false;
    play(stopped, block);
    play(stopped, 4096);                                               // more frames than prepared, stopped
    counting::audio = false;
    runtime->finish();

    bool finite = true;
    for (int m = 0; m < kel::kModelCount; ++m) {
        const kel::ModelOutput& out = runtime->output(static_cast<kel::Model>(m));
        for (int k = 0; k < out.size; ++k)
            finite = finite && std::isfinite(out.raw[static_cast<std::size_t>(k)]);
    }
    const kel::Counters& c = runtime->counters();
    const std::pair<const char*, long long> counters[] = {
        {"blocks", c.blocks.load()}, {"steps", c.steps.load()},
        {"eventsOutsideBlock", c.eventsOutsideBlock.load()}, {"eventsOutOfOrder", c.eventsOutOfOrder.load()},
        {"eventsInvalid", c.eventsInvalid.load()}, {"eventsWhileStopped", c.eventsWhileStopped.load()},
        {"invalidTempo", c.invalidTempo.load()}, {"invalidTimeSignature", c.invalidTimeSignature.load()},
        {"sampleRateChanges", c.sampleRateChanges.load()}, {"relocations", c.relocations.load()},
        {"noteOffWithoutNoteOn", c.noteOffWithoutNoteOn.load()}, {"notesDropped", c.notesDropped.load()},
        {"notesForced", c.notesForced.load()}, {"queueDrops", c.queueDrops.load()},
        {"recordingDrops", c.recordingDrops.load()}};
    for (const auto& [name, value] : counters)
        std::printf("counter %s %lld\n", name, value);
    std::printf("allocations %lld\n", counting::allocations);
    std::printf("outputs finite %d\n", finite ? 1 : 0);
    runtime->release();

    // refusals: the files in the second folder are each wrong in one field
    kel::Runtime refusing;
    kel::ModelFiles files = kel::ModelFiles::inFolder(argv[2]);
    files[kel::Model::Groove] = std::string(argv[2]) + "/missing.json";
    const kel::PrepareStatus bad = refusing.prepare(rate, block, files, options);
    for (const auto& r : bad.refusals)
        std::printf("refused %s %s | %s\n", r.file.c_str(), r.field.empty() ? "-" : r.field.c_str(), r.reason.c_str());
    std::printf("loaded %d\n", bad.loaded);
    refusing.release();
    return 0;
}

}  // namespace bad_host
