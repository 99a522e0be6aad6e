// KelMidiFeatures.h -- the MIDI feature contracts (MelodyTransformer, HarmonyPredictor, DynamicsEngine,
// GroovePredictor; their versions are contracts::<model>::kVersion in KelContracts.h) computed in the plugin from
// what it has at run time: notes on the contracts' time grid (kel::timing: the host's ppq position and sample
// offsets as doubles, rounded to 960 ticks per beat), the bar (start, length, index) and tempo the host reports at
// each onset, the sustain pedal, the key.
//
// C++17, header-only, standard library only. Every constant and element offset comes from KelContracts.h
// (generated from kel_contracts). Real-time safe: no allocation, lock, exception or I/O anywhere; all state is
// fixed-capacity and lives inside the objects (construct them off the audio thread: some are tens of kB).
// The Python training features (kel_midi_features) are the reference; tests compare the two element by
// element through native/drivers/midi_driver.cpp. Build with -ffp-contract=off (no fused multiply-add), as
// training's numpy does not fuse either.
#pragma once

#include "KelContracts.h"

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace kel {

/// The bar a time lies in, as the host reports it (JUCE: PositionInfo's bar count, ppqPositionOfLastBarStart and
/// time signature): bars follow every time signature (kel::contracts::timing).
struct BarContext {
    std::int64_t index = 0;          ///< bars since the start of the song, from 0
    double startBeats = 0.0;         ///< the bar's first beat
    double lengthBeats = contracts::timing::kDefaultBarBeats;   ///< numerator x 4 / denominator
};

/// The contracts' musical clock (kel::contracts::timing, docs/CONTRACTS.md "Timing"): every time is an integer
/// number of ticks, kTicksPerBeat per beat, rounded from the ppq position a host reports; training computes the same
/// ticks from a file (its tick / its ticks per quarter note is the ppq). Use these and nothing else for note times,
/// so that the features equal training's bit for bit.
namespace timing {

inline constexpr int kTicksPerBeat = contracts::timing::kTicksPerBeat;

/// The ppq position of an event `offsetSamples` into a block that starts at the host's `blockPpq` with the block's
/// tempo `qpm`: a tempo change inside the block is seen at the next block (the host reports one tempo per block).
inline double ppqAtOffset(double blockPpq, double offsetSamples, double qpm, double sampleRate) noexcept {
    return blockPpq + offsetSamples * (qpm / contracts::timing::kSecondsPerMinute) / sampleRate;
}

/// Where in a block of `frames` frames (host ppq `blockPpq`, tempo `blockQpm`) the tempo changed, in samples, from
/// the next block's ppq position and tempo: one change per block is recovered exactly; `frames` when the tempo did
/// not change. For a runtime that can hold a block's MIDI until the next block arrives (one block of latency).
inline double tempoChangeOffset(double blockPpq, double blockQpm, int frames, double nextPpq, double nextQpm,
                                double sampleRate) noexcept {
    const double n = static_cast<double>(frames);
    if (blockQpm == nextQpm)
        return n;
    const double advance = (nextPpq - blockPpq) * contracts::timing::kSecondsPerMinute * sampleRate;
    const double offset = std::nearbyint((advance - n * nextQpm) / (blockQpm - nextQpm));
    return offset < 0.0 ? 0.0 : (offset > n ? n : offset);
}

/// A block whose tempo change (if any) is known: events before `change` samples run at `qpm`, from it at
/// `nextQpm` (tempoChangeOffset). ppqAt and qpmAt give an event's position and tempo.
struct ResolvedBlock {
    double ppq = 0.0;
    double qpm = contracts::timing::kDefaultQpm;
    double change = 0.0;
    double nextQpm = contracts::timing::kDefaultQpm;
    double sampleRate = 48000.0;

    double ppqAt(double offset) const noexcept {
        if (offset < change)
            return ppqAtOffset(ppq, offset, qpm, sampleRate);
        return ppqAtOffset(ppqAtOffset(ppq, change, qpm, sampleRate), offset - change, nextQpm, sampleRate);
    }
    double qpmAt(double offset) const noexcept { return offset < change ? qpm : nextQpm; }
};

/// Grid ticks of a ppq position: round-half-even(ppq x kTicksPerBeat).
inline std::int64_t ticksFromPpq(double ppq) noexcept {
    return static_cast<std::int64_t>(std::nearbyint(ppq * kTicksPerBeat));
}

/// Beats (quarter notes) of grid ticks: the only beat values the features see.
inline double beatsFromTicks(std::int64_t ticks) noexcept {
    return static_cast<double>(ticks) / kTicksPerBeat;
}

/// The bar that contains `beats` in a run of bars of `lengthBeats` each, starting at `segmentStartBeats` with bar
/// index `firstBar`: a time signature's segment of the song, or the host's bar at the block start continued to a
/// later event of the block (the block's time signature holds for the whole block). Training's BarMap.locate.
inline BarContext barContaining(double beats, double segmentStartBeats, double lengthBeats,
                                std::int64_t firstBar) noexcept {
    double j = std::floor((beats - segmentStartBeats) / lengthBeats);
    if (segmentStartBeats + j * lengthBeats > beats)   // guard the division's rounding, both ways
        j -= 1.0;
    if (segmentStartBeats + (j + 1.0) * lengthBeats <= beats)
        j += 1.0;
    BarContext bar;
    bar.index = firstBar + static_cast<std::int64_t>(j);
    bar.startBeats = segmentStartBeats + j * lengthBeats;
    bar.lengthBeats = lengthBeats;
    return bar;
}

/// Tempo in quarter notes per minute of a MIDI set-tempo value (microseconds per quarter note).
inline double qpmFromMicroseconds(double microsecondsPerQuarter) noexcept {
    return contracts::timing::kMicrosecondsPerMinute / microsecondsPerQuarter;
}

}  // namespace timing

/// One note: pitch 0..127, onset and duration in beats (quarter notes) from the start of the song,
/// on the contracts' time grid: make it with noteFromTicks.
struct NoteEvent {
    int pitch = 0;
    double onsetBeats = 0.0;
    double durationBeats = 0.0;
    int velocity = 0;
};

/// A note from its note-on and note-off grid ticks (timing::ticksFromPpq): duration cut to kMaxNoteBeats (a longer
/// note is a missing note-off), both in beats as training computes them.
inline NoteEvent noteFromTicks(int pitch, std::int64_t onTick, std::int64_t offTick, int velocity) noexcept {
    const std::int64_t longest = timing::ticksFromPpq(contracts::timing::kMaxNoteBeats);
    const std::int64_t length = offTick - onTick < longest ? offTick - onTick : longest;
    NoteEvent note;
    note.pitch = pitch;
    note.onsetBeats = timing::beatsFromTicks(onTick);
    note.durationBeats = timing::beatsFromTicks(length);
    note.velocity = velocity;
    return note;
}

namespace detail {

inline void clear(float* out, int size) noexcept {
    for (int i = 0; i < size; ++i)
        out[i] = 0.0f;
}

/// numpy.mod for a positive divisor (x >= 0 here: fmod is exact and agrees).
inline double positiveMod(double x, double divisor) noexcept {
    const double r = std::fmod(x, divisor);
    return r < 0.0 ? r + divisor : r;
}

inline std::int64_t floorDiv(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace detail

// ============================================================================================ MelodyTransformer
/// Emotion and key conditioning of the melody model (the plugin's own key, mode, valence and arousal).
struct MelodyConditioning {
    int keyTonic = 0;        ///< pitch class of the tonic, C = 0
    bool major = true;
    float valence = 0.0f;    ///< -1..1
    float arousal = 0.0f;    ///< -1..1
};

/// One MelodyTransformer input per note to predict. Stateless: the plugin passes the previous melody note.
class MelodyFeatures {
public:
    static constexpr int kSize = contracts::melody::kInputSize;
    static constexpr double kSixteenthsPerBeat = 4.0;   // position: round(4 x beats since the bar start) mod 16

    MelodyFeatures() noexcept {
        for (int c = 0; c < kClasses; ++c)
            logClasses_[static_cast<std::size_t>(c)] = std::log2(contracts::melody::kDurationClasses[c]);
    }

    void reset() noexcept {}

    /// `previous`: the melody note before the one to predict (nullptr at the first step); `onsetBeats`: onset of
    /// the note to predict; `bar`: the bar at that onset; `qpm`: the tempo there.
    void compute(float* out, const NoteEvent* previous, double onsetBeats, const BarContext& bar, double qpm,
                 const MelodyConditioning& conditioning) const noexcept {
        namespace m = contracts::melody;
        detail::clear(out, kSize);
        if (previous == nullptr) {
            out[m::kInRest] = 1.0f;
        } else {
            const int pitch = previous->pitch;
            out[m::kInPrevPitchClass + ((pitch % 12) + 12) % 12] = 1.0f;
            int octave = pitch / 12;
            octave = octave < 0 ? 0 : (octave > m::kOctaves - 1 ? m::kOctaves - 1 : octave);
            out[m::kInPrevOctave + octave] = 1.0f;
            const double gap = onsetBeats - (previous->onsetBeats + previous->durationBeats);
            out[m::kInRest] = gap >= m::kRestBeats ? 1.0f : 0.0f;
            out[m::kInPrevDuration + durationClass(previous->durationBeats)] = 1.0f;
        }
        const double sixteenths = std::nearbyint(kSixteenthsPerBeat * (onsetBeats - bar.startBeats));
        const std::int64_t position = static_cast<std::int64_t>(sixteenths) % m::kPositions;
        out[m::kInPosition + static_cast<int>(position < 0 ? position + m::kPositions : position)] = 1.0f;
        out[m::kInKey + ((conditioning.keyTonic % 12) + 12) % 12] = 1.0f;
        out[m::kInMode] = conditioning.major ? 1.0f : 0.0f;
        out[m::kInValence] = conditioning.valence;
        out[m::kInArousal] = conditioning.arousal;
        const double tempo = qpm / m::kTempoScale;
        out[m::kInTempo] = static_cast<float>(tempo < 1.0 ? tempo : 1.0);
    }

    /// The duration class of a note (nearest in log2, the first on a tie).
    int durationClass(double durationBeats) const noexcept {
        const double d = durationBeats > contracts::melody::kMinDuration ? durationBeats
                                                                          : contracts::melody::kMinDuration;
        const double logDuration = std::log2(d);
        int best = 0;
        double bestDistance = std::fabs(logDuration - logClasses_[0]);
        for (int c = 1; c < kClasses; ++c) {
            const double distance = std::fabs(logDuration - logClasses_[static_cast<std::size_t>(c)]);
            if (distance < bestDistance) {
                best = c;
                bestDistance = distance;
            }
        }
        return best;
    }

private:
    static constexpr int kClasses =
        static_cast<int>(sizeof(contracts::melody::kDurationClasses) / sizeof(contracts::melody::kDurationClasses[0]));
    std::array<double, kClasses> logClasses_{};
};

/// The `k` most probable next pitches of a MelodyTransformer output (128 probabilities), most probable first;
/// returns how many were written (min(k, 128)). topK[0] is the argmax.
inline int decodeMelody(const float* probabilities, int* topK, int k) noexcept {
    constexpr int n = contracts::melody::kOutputSize;
    k = k < 0 ? 0 : (k > n ? n : k);
    for (int i = 0; i < k; ++i) {
        int best = -1;
        for (int p = 0; p < n; ++p) {
            bool taken = false;
            for (int j = 0; j < i; ++j)
                taken = taken || topK[j] == p;
            if (!taken && (best < 0 || probabilities[p] > probabilities[best]))
                best = p;
        }
        topK[i] = best;
    }
    return k;
}

/// The most probable next pitch.
inline int decodeMelodyArgmax(const float* probabilities) noexcept {
    int best = 0;
    decodeMelody(probabilities, &best, 1);
    return best;
}

// ============================================================================================ HarmonyPredictor
/// Accumulates the melody notes as they arrive and gives each step's 128-vector (duration-weighted pitch activity
/// in [start, end), divided by the step's maximum). A step is one beat of the bar (kel::contracts::harmony, version
/// 3): the bar [b, b + L) from the host's play head gives steps [b + k, min(b + k + 1, b + L)), k = 0, 1, ...
/// (stepsOfBar / stepBounds). Notes that end by a computed step's end are forgotten.
class HarmonyFeatures {
public:
    static constexpr int kSize = contracts::harmony::kInputSize;
    static constexpr int kCapacity = 2048;   ///< notes still sounding or not yet in a computed step
    static constexpr double kStepBeats = contracts::harmony::kStepBeats;  ///< one step per beat of the bar

    /// How many steps the bar [barStartBeats, barEndBeats) has (the last one may be short; at least one).
    static int stepsOfBar(double barStartBeats, double barEndBeats) noexcept {
        const int n = static_cast<int>(std::ceil((barEndBeats - barStartBeats) / kStepBeats - 1e-9));
        return n > 1 ? n : 1;
    }

    /// [start, end) of step `k` of the bar [barStartBeats, barEndBeats).
    static void stepBounds(double barStartBeats, double barEndBeats, int k, double& start, double& end) noexcept {
        start = barStartBeats + static_cast<double>(k) * kStepBeats;
        end = start + kStepBeats < barEndBeats ? start + kStepBeats : barEndBeats;
    }

    void reset() noexcept {
        count_ = 0;
        dropped_ = 0;
    }

    /// Adds a melody note (in onset order); false (and counted) when kCapacity notes are already held.
    bool addNote(const NoteEvent& note) noexcept {
        if (count_ == kCapacity) {
            ++dropped_;
            return false;
        }
        notes_[static_cast<std::size_t>(count_++)] = Held{note.pitch, note.onsetBeats,
                                                          note.onsetBeats + note.durationBeats};
        return true;
    }

    /// The step [startBeats, endBeats)'s input vector; call once per step, in order, after adding every note that
    /// starts before endBeats (stepBounds gives the bounds from the host's bar).
    void computeStep(float* out, double startBeats, double endBeats) noexcept {
        std::array<double, kSize> activity{};
        for (int i = 0; i < count_; ++i) {
            const Held& n = notes_[static_cast<std::size_t>(i)];
            const double overlap = (n.end < endBeats ? n.end : endBeats)
                                   - (n.onset > startBeats ? n.onset : startBeats);
            if (overlap > 0.0 && n.pitch >= 0 && n.pitch < kSize)
                activity[static_cast<std::size_t>(n.pitch)] += overlap;
        }
        double peak = 0.0;
        for (double a : activity)
            peak = a > peak ? a : peak;
        for (int p = 0; p < kSize; ++p)
            out[p] = peak > 0.0 ? static_cast<float>(activity[static_cast<std::size_t>(p)] / peak) : 0.0f;
        int kept = 0;   // forget notes that end by this step's end (stable: keeps the summation order)
        for (int i = 0; i < count_; ++i)
            if (notes_[static_cast<std::size_t>(i)].end > endBeats)
                notes_[static_cast<std::size_t>(kept++)] = notes_[static_cast<std::size_t>(i)];
        count_ = kept;
    }

    int held() const noexcept { return count_; }
    std::int64_t dropped() const noexcept { return dropped_; }

private:
    struct Held {
        int pitch;
        double onset;
        double end;
    };
    std::array<Held, kCapacity> notes_{};
    int count_ = 0;
    std::int64_t dropped_ = 0;
};

/// Root and quality of a chord class (kel::contracts::harmony): class 12 q + r is root r with quality q
/// (0 maj, 1 min, 2 7, 3 min7, 4 dim); the specials (N, aug, sus, other) have root -1 and quality -1.
struct Chord {
    int root = -1;
    int quality = -1;
    const char* name = "?";
};

inline const char* chordName(int chordClass) noexcept {
    return chordClass >= 0 && chordClass < contracts::harmony::kOutputSize ? contracts::harmony::kChordNames[chordClass]
                                                                           : "?";
}

inline Chord decodeChord(int chordClass) noexcept {
    Chord chord;
    chord.name = chordName(chordClass);
    if (chordClass >= 0 && chordClass < contracts::harmony::kNoChord) {
        chord.root = chordClass % 12;
        chord.quality = chordClass / 12;
    }
    return chord;
}

/// The most probable chord class of a HarmonyPredictor output (64 probabilities).
inline int decodeHarmony(const float* probabilities) noexcept {
    int best = 0;
    for (int c = 1; c < contracts::harmony::kOutputSize; ++c)
        if (probabilities[c] > probabilities[best])
            best = c;
    return best;
}

// ============================================================================================ DynamicsEngine
/// What the host reports at a note's onset.
struct DynamicsContext {
    BarContext bar;
    double qpm = contracts::timing::kDefaultQpm;
    bool pedalDown = false;    ///< sustain pedal (CC64 >= kPedalDown) down at the onset
};

/// Causal DynamicsEngine inputs: feed each onset group (notes whose round(onset x 16) agree) together, in onset
/// order; earlier notes are remembered in fixed-capacity state. Outputs are raw (apply kel::Normaliser after).
class DynamicsFeatures {
public:
    static constexpr int kSize = contracts::dynamics::kInputSize;
    static constexpr int kHistory = 4096;   ///< onsets remembered for the trailing density window

    void reset() noexcept {
        hasPrevious_ = false;
        previous_ = NoteEvent{};
        latestEnd_ = 0.0;
        phraseStart_ = 0.0;
        head_ = 0;
        size_ = 0;
        overflows_ = 0;
    }

    /// The group's onset key: notes with the same key form one onset group.
    static std::int64_t groupKey(double onsetBeats) noexcept {
        return static_cast<std::int64_t>(std::nearbyint(onsetBeats * contracts::dynamics::kGroupGrid));
    }

    /// One onset group: `notes` sorted by onset then pitch, `contexts[i]` the host's bar, tempo and pedal at
    /// notes[i]'s onset; writes count x kSize floats to `out` (note i at out + i x kSize).
    void computeGroup(const NoteEvent* notes, const DynamicsContext* contexts, int count, float* out) noexcept {
        namespace d = contracts::dynamics;
        if (count <= 0)
            return;
        int highest = notes[0].pitch, lowest = notes[0].pitch;
        for (int i = 1; i < count; ++i) {
            highest = notes[i].pitch > highest ? notes[i].pitch : highest;
            lowest = notes[i].pitch < lowest ? notes[i].pitch : lowest;
        }
        for (int i = 0; i < count; ++i) {
            const NoteEvent& note = notes[i];
            const DynamicsContext& context = contexts[i];
            float* x = out + static_cast<std::ptrdiff_t>(i) * kSize;
            detail::clear(x, kSize);
            const double onset = note.onsetBeats;
            const double inBar = onset - context.bar.startBeats;
            x[d::kInPitch] = static_cast<float>(note.pitch);
            x[d::kInLogDuration] = static_cast<float>(logBeats(note.durationBeats));
            if (hasPrevious_) {
                x[d::kInLogIoiPrevious] = static_cast<float>(logBeats(onset - previous_.onsetBeats));
                x[d::kInLogDurationPrevious] = static_cast<float>(logBeats(previous_.durationBeats));
                x[d::kInInterval] = static_cast<float>(static_cast<double>(note.pitch - previous_.pitch)
                                                       / d::kIntervalScale);
            }
            const double beat = detail::positiveMod(onset, 1.0);
            x[d::kInBeatPosition] = static_cast<float>(beat);
            const int strength = near(inBar) ? 0 : near(beat) ? 1 : near(detail::positiveMod(onset, 0.5)) ? 2 : 3;
            x[d::kInStrength + strength] = 1.0f;
            x[d::kInDensity] = static_cast<float>(static_cast<double>(density(notes, count, onset)) / d::kDensityBeats);
            const double barInPhrase = static_cast<double>(((context.bar.index % d::kPhraseBars) + d::kPhraseBars)
                                                           % d::kPhraseBars);
            x[d::kInPhrasePosition] = static_cast<float>((barInPhrase + inBar / context.bar.lengthBeats)
                                                         / d::kPhraseBars);
            x[d::kInGroupSize] = static_cast<float>(count);
            x[d::kInGroupHighest] = note.pitch == highest ? 1.0f : 0.0f;
            x[d::kInGroupLowest] = note.pitch == lowest ? 1.0f : 0.0f;
            x[d::kInPedal] = context.pedalDown ? 1.0f : 0.0f;
            x[d::kInTempo] = static_cast<float>(context.qpm);
            x[d::kInPitchClass + ((note.pitch % 12) + 12) % 12] = 1.0f;
            x[d::kInRegister] = static_cast<float>((static_cast<double>(note.pitch) - d::kRegisterCentre)
                                                   / d::kRegisterScale);
            if (!hasPrevious_ || onset - latestEnd_ >= d::kPhraseRestBeats)
                phraseStart_ = onset;
            const double sinceRest = (onset - phraseStart_) / d::kPhraseScaleBeats;
            x[d::kInSinceRest] = static_cast<float>(sinceRest < 1.0 ? sinceRest : 1.0);
            x[d::kInBarPosition] = static_cast<float>(inBar / context.bar.lengthBeats);
            const double end = onset + note.durationBeats;
            latestEnd_ = (!hasPrevious_ || end > latestEnd_) ? end : latestEnd_;
            previous_ = note;
            hasPrevious_ = true;
        }
        for (int i = 0; i < count; ++i)
            remember(notes[i].onsetBeats);
    }

    /// Notes dropped from the density history because more than kHistory fell in one window.
    std::int64_t overflows() const noexcept { return overflows_; }

private:
    static double logBeats(double beats) noexcept { return std::log2(beats + contracts::dynamics::kDurationOffset); }
    static bool near(double value) noexcept { return std::fabs(value) <= contracts::dynamics::kStrengthTolerance; }

    /// Notes with onsets in (onset - kDensityBeats, onset]: earlier groups from the history, plus this group's.
    int density(const NoteEvent* group, int count, double onset) noexcept {
        const double from = onset - contracts::dynamics::kDensityBeats;
        while (size_ > 0 && history_[static_cast<std::size_t>(head_)] <= from) {
            head_ = (head_ + 1) % kHistory;
            --size_;
        }
        int inGroup = 0;
        for (int j = 0; j < count; ++j)
            inGroup += (group[j].onsetBeats <= onset && group[j].onsetBeats > from) ? 1 : 0;
        return size_ + inGroup;
    }

    void remember(double onset) noexcept {
        if (size_ == kHistory) {
            head_ = (head_ + 1) % kHistory;
            --size_;
            ++overflows_;
        }
        history_[static_cast<std::size_t>((head_ + size_) % kHistory)] = onset;
        ++size_;
    }

    bool hasPrevious_ = false;
    NoteEvent previous_{};
    double latestEnd_ = 0.0;
    double phraseStart_ = 0.0;
    std::array<double, kHistory> history_{};
    int head_ = 0;
    int size_ = 0;
    std::int64_t overflows_ = 0;
};

/// Expected MIDI velocity of a DynamicsEngine output (16 probabilities): sum_k p_k (8 k + 3.5).
inline double decodeDynamics(const float* probabilities) noexcept {
    namespace d = contracts::dynamics;
    double velocity = 0.0;
    for (int k = 0; k < d::kVelocityBins; ++k)
        velocity += static_cast<double>(probabilities[k]) * (d::kBinWidth * k + (d::kBinWidth - 1) / 2.0);
    return velocity;
}

// ============================================================================================ GroovePredictor
/// One bar's 64-element grid of drum hits. A hit at onset t (beats from the performance's start) lands on global
/// sixteenth g = round(4 t): bar g div 16, step g mod 16, so a hit just before a bar line belongs to the NEXT bar's
/// step 0. The object holds the current bar and the next one: add hits in time order, then take the current bar
/// once the time has passed its last sixteenth's rounding boundary (lastCompleteBar()).
class GrooveFeatures {
public:
    static constexpr int kSize = contracts::groove::kInputSize;
    static constexpr int kSteps = contracts::groove::kSteps;
    static constexpr double kStepsPerBeat = contracts::groove::kSteps / contracts::groove::kBarBeats;

    void reset() noexcept {
        current_ = 0;
        grids_ = {};
    }

    static std::int64_t sixteenthOf(double onsetBeats) noexcept {
        return static_cast<std::int64_t>(std::nearbyint(onsetBeats * kStepsPerBeat));
    }
    static std::int64_t barOf(double onsetBeats) noexcept { return detail::floorDiv(sixteenthOf(onsetBeats), kSteps); }

    /// The last bar that no hit at or after `nowBeats` can still land in.
    static std::int64_t lastCompleteBar(double nowBeats) noexcept { return barOf(nowBeats) - 1; }

    /// Voice group of a General MIDI drum note (0 kick, 1 snare, 2 hats, 3 other).
    static int voiceOf(int note) noexcept {
        namespace g = contracts::groove;
        for (int n : g::kDrumGroupsKick)
            if (note == n)
                return 0;
        for (int n : g::kDrumGroupsSnare)
            if (note == n)
                return 1;
        for (int n : g::kDrumGroupsHats)
            if (note == n)
                return 2;
        return 3;
    }

    /// The bar whose grid takeBar() writes next.
    std::int64_t currentBar() const noexcept { return current_; }

    /// Adds a hit of the current bar or the next one; false (ignored) for any other bar.
    bool addHit(int note, double onsetBeats, int /*velocity*/) noexcept {
        const std::int64_t g = sixteenthOf(onsetBeats);
        const std::int64_t bar = detail::floorDiv(g, kSteps);
        if (bar != current_ && bar != current_ + 1)
            return false;
        const int step = static_cast<int>(g - bar * kSteps);
        const auto slot = static_cast<std::size_t>(voiceOf(note) * kSteps + step);
        grids_[static_cast<std::size_t>(bar - current_)][slot] = 1.0f;
        return true;
    }

    /// Writes the current bar's input vector and moves on to the next bar.
    void takeBar(float* out) noexcept {
        for (int i = 0; i < kSize; ++i)
            out[i] = grids_[0][static_cast<std::size_t>(i)];
        grids_[0] = grids_[1];
        grids_[1] = {};
        ++current_;
    }

private:
    std::int64_t current_ = 0;
    std::array<std::array<float, kSize>, 2> grids_{};
};

/// A GroovePredictor output (32 tanh values) as micro-timing offsets in ms at `qpm` and MIDI velocities 0..127
/// (0: the model expects no hit there), per sixteenth step.
inline void decodeGroove(const float* outputs, double qpm, float* offsetsMs, int* velocities) noexcept {
    namespace g = contracts::groove;
    constexpr double kMsPerMinute = 60000.0;
    constexpr double kMaxVelocity = 127.0;
    const double sixteenthMs = kMsPerMinute / qpm / GrooveFeatures::kStepsPerBeat;
    for (int s = 0; s < g::kSteps; ++s) {
        offsetsMs[s] = static_cast<float>(outputs[g::kOutTiming + s] / g::kOffsetScale * sixteenthMs);
        const double v = std::nearbyint(kMaxVelocity * (outputs[g::kOutVelocity + s] + 1.0) / 2.0);
        velocities[s] = static_cast<int>(v < 0.0 ? 0.0 : (v > kMaxVelocity ? kMaxVelocity : v));
    }
}

}  // namespace kel
