// KelRuntimeJuce.h -- a thin JUCE adapter for kel::Runtime: AudioBuffer, MidiBuffer and AudioPlayHead onto
// Runtime::process(). JUCE 7 or later (AudioPlayHead::getPosition); include after the JUCE module headers.
//
//   kel::JuceRuntime ml;                                           // a member of the AudioProcessor
//   void prepareToPlay(double rate, int block) override {
//       for (const auto& r : ml.prepare(rate, block, modelsFolder).refusals)
//           DBG(r.file + ": " + r.field + ": " + r.reason);
//   }
//   void processBlock(juce::AudioBuffer<float>& audio, juce::MidiBuffer& midi) override {
//       ml.process(audio, midi, getPlayHead());
//       const auto& chord = ml.runtime().output(kel::Model::Harmony);   // decoded, lock-free
//   }
//   void releaseResources() override { ml.runtime().release(); }
#pragma once

#include "KelRuntime.h"

#include <juce_audio_basics/juce_audio_basics.h>
#include <juce_audio_processors/juce_audio_processors.h>

#include <vector>

namespace kel {

class JuceRuntime {
public:
    static constexpr int kMaxEventsPerBlock = 4096;   ///< more MIDI events in one block are not passed on

    /// prepareToPlay: loads every export in `folder` (kelcore export names), checks and allocates.
    PrepareStatus prepare(double sampleRate, int maxBlockSize, const juce::File& folder,
                          const Runtime::Options& options = Runtime::Options{}) {
        events_.clear();
        events_.reserve(kMaxEventsPerBlock);
        return runtime_.prepare(sampleRate, maxBlockSize,
                                ModelFiles::inFolder(folder.getFullPathName().toStdString()), options);
    }

    /// processBlock: the block's audio, its MIDI (note on/off, CC) and the play head's position.
    void process(const juce::AudioBuffer<float>& audio, const juce::MidiBuffer& midi,
                 juce::AudioPlayHead* playHead) noexcept {
        events_.clear();
        for (const auto metadata : midi) {
            if (static_cast<int>(events_.size()) == kMaxEventsPerBlock)
                break;
            const juce::MidiMessage message = metadata.getMessage();
            MidiEvent event;
            event.sampleOffset = metadata.samplePosition;
            event.channel = message.getChannel() - 1;
            if (message.isNoteOn()) {
                event.kind = MidiEvent::NoteOn;
                event.number = message.getNoteNumber();
                event.value = message.getVelocity();
            } else if (message.isNoteOff()) {
                event.kind = MidiEvent::NoteOff;
                event.number = message.getNoteNumber();
            } else if (message.isController()) {
                event.kind = MidiEvent::Controller;
                event.number = message.getControllerNumber();
                event.value = message.getControllerValue();
            } else {
                continue;
            }
            events_.push_back(event);
        }
        runtime_.process(audio.getArrayOfReadPointers(), audio.getNumChannels(), audio.getNumSamples(),
                         events_.data(), static_cast<int>(events_.size()), transportOf(playHead));
    }

    Runtime& runtime() noexcept { return runtime_; }

    /// The host's play head as kel::Transport (stopped when the host reports no position).
    static Transport transportOf(juce::AudioPlayHead* playHead) noexcept {
        Transport transport;
        transport.playing = false;
        if (playHead == nullptr)
            return transport;
        const auto position = playHead->getPosition();
        if (!position.hasValue())
            return transport;
        transport.playing = position->getIsPlaying();
        if (const auto bpm = position->getBpm())
            transport.qpm = *bpm;
        if (const auto signature = position->getTimeSignature()) {
            transport.numerator = signature->numerator;
            transport.denominator = signature->denominator;
        }
        if (const auto ppq = position->getPpqPosition())
            transport.ppq = *ppq;
        transport.barStartPpq = transport.ppq;
        if (const auto barStart = position->getPpqPositionOfLastBarStart())
            transport.barStartPpq = *barStart;
        if (const auto bars = position->getBarCount())
            transport.barIndex = *bars;
        return transport;
    }

private:
    Runtime runtime_;
    std::vector<MidiEvent> events_;
};

}  // namespace kel
