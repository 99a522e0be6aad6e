// Generated from kel_contracts by `python -m kel_contracts.render`: do not edit by hand.
// The feature contracts' constants and element offsets, for KelFeatures.h.
#pragma once

namespace kel::contracts {

namespace emotion {
inline constexpr const char* kVersion = "2.0.0";
inline constexpr int kInputSize = 128;
inline constexpr int kOutputSize = 64;
inline constexpr double kNativeTolerance = 0.001;
inline constexpr bool kStandardisedInputs = true;
inline constexpr int kInLogMel = 0;  // 128 elements
inline constexpr int kOutGrid = 0;  // 64 elements
inline constexpr int kSampleRate = 22050;
inline constexpr int kNFft = 2048;
inline constexpr int kHop = 512;
inline constexpr int kNMels = 128;
inline constexpr double kFmin = 0.0;
inline constexpr double kFmax = 11025.0;
inline constexpr double kDbFloor = 1e-10;
inline constexpr double kMelLinearHzPerMel = 66.66666666666667;
inline constexpr double kMelLogStartHz = 1000.0;
inline constexpr double kMelLogStepRatio = 6.4;
inline constexpr double kMelLogStepMels = 27.0;
inline constexpr double kWindowSeconds = 0.5;
inline constexpr double kSilence = 0.0001;
inline constexpr int kResamplerZeroCrossings = 32;
inline constexpr double kResamplerRolloff = 0.95;
inline constexpr double kResamplerKaiserBeta = 8.6;
inline constexpr int kMaxResamplerPhases = 2048;
inline constexpr int kHostRates[4] = {44100, 48000, 88200, 96000};
inline constexpr int kGridBins = 8;
inline constexpr double kGridLow = -1.0;
inline constexpr double kGridHigh = 1.0;
} // namespace emotion

namespace melody {
inline constexpr const char* kVersion = "2.2.0";
inline constexpr int kInputSize = 64;
inline constexpr int kOutputSize = 128;
inline constexpr double kNativeTolerance = 1e-06;
inline constexpr bool kStandardisedInputs = false;
inline constexpr int kInPrevPitchClass = 0;  // 12 elements
inline constexpr int kInPrevOctave = 12;  // 11 elements
inline constexpr int kInRest = 23;
inline constexpr int kInPrevDuration = 24;  // 8 elements
inline constexpr int kInPosition = 32;  // 16 elements
inline constexpr int kInKey = 48;  // 12 elements
inline constexpr int kInMode = 60;
inline constexpr int kInValence = 61;
inline constexpr int kInArousal = 62;
inline constexpr int kInTempo = 63;
inline constexpr int kOutPitch = 0;  // 128 elements
inline constexpr const char* kPitchClassNames[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
inline constexpr int kOctaves = 11;
inline constexpr double kDurationClasses[8] = {0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0};
inline constexpr int kPositions = 16;
inline constexpr double kRestBeats = 1.0;
inline constexpr double kTempoScale = 200.0;
inline constexpr double kMinDuration = 0.001;
inline constexpr double kProxyValenceMajor = 0.5;
inline constexpr double kProxyValenceMinor = -0.5;
inline constexpr double kProxyTempoCentre = 100.0;
inline constexpr double kProxyTempoScale = 60.0;
inline constexpr double kProxyVelocityCentre = 64.0;
inline constexpr double kProxyVelocityScale = 64.0;
inline constexpr double kMajorProfile[12] = {6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88};
inline constexpr double kMinorProfile[12] = {6.33, 2.68, 3.52, 5.38, 2.6, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17};
inline constexpr int kMinSteps = 8;
inline constexpr const char* kMelodyNames[13] = {"melody", "vocal", "voice", "lead", "sing", "solo", "soprano", "sopran", "cantus", "canto", "superius", "treble", "descant"};
inline constexpr double kDoublingShare = 0.6;
} // namespace melody

namespace harmony {
inline constexpr const char* kVersion = "3.4.0";
inline constexpr int kInputSize = 128;
inline constexpr int kOutputSize = 64;
inline constexpr double kNativeTolerance = 1e-06;
inline constexpr bool kStandardisedInputs = false;
inline constexpr int kInMelodyPitch = 0;  // 128 elements
inline constexpr int kOutChord = 0;  // 64 elements
inline constexpr const char* kPitchClassNames[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
inline constexpr int kQualitiesMaj[3] = {0, 4, 7};
inline constexpr int kQualitiesMin[3] = {0, 3, 7};
inline constexpr int kQualities7[4] = {0, 4, 7, 10};
inline constexpr int kQualitiesMin7[4] = {0, 3, 7, 10};
inline constexpr int kQualitiesDim[3] = {0, 3, 6};
inline constexpr int kNoChord = 60;
inline constexpr int kAugmented = 61;
inline constexpr int kSuspended = 62;
inline constexpr int kOther = 63;
inline constexpr int kAugmentedIntervals[3] = {0, 4, 8};
inline constexpr int kSuspendedIntervals[3] = {0, 5, 7};
inline constexpr const char* kChordNames[64] = {"C:maj", "C#:maj", "D:maj", "Eb:maj", "E:maj", "F:maj", "F#:maj", "G:maj", "Ab:maj", "A:maj", "Bb:maj", "B:maj", "C:min", "C#:min", "D:min", "Eb:min", "E:min", "F:min", "F#:min", "G:min", "Ab:min", "A:min", "Bb:min", "B:min", "C:7", "C#:7", "D:7", "Eb:7", "E:7", "F:7", "F#:7", "G:7", "Ab:7", "A:7", "Bb:7", "B:7", "C:min7", "C#:min7", "D:min7", "Eb:min7", "E:min7", "F:min7", "F#:min7", "G:min7", "Ab:min7", "A:min7", "Bb:min7", "B:min7", "C:dim", "C#:dim", "D:dim", "Eb:dim", "E:dim", "F:dim", "F#:dim", "G:dim", "Ab:dim", "A:dim", "Bb:dim", "B:dim", "N", "aug", "sus", "other"};
inline constexpr double kOffPenalty = 0.4;
inline constexpr double kNotePenalty = 0.05;
inline constexpr double kOtherBelow = 0.4;
inline constexpr double kSeventhPenalty = 0.2;
inline constexpr double kBassRootBonus = 0.1;
inline constexpr double kBassToneBonus = 0.0;
inline constexpr double kSpecialPenalty = 10.0;
inline constexpr double kChangeCost = 0.1;
inline constexpr double kHeldChangeCost = 0.3;
inline constexpr int kRestCarrySteps = 2;
inline constexpr double kStepBeats = 1.0;
inline constexpr int kMinBars = 4;
} // namespace harmony

namespace dynamics {
inline constexpr const char* kVersion = "2.1.0";
inline constexpr int kInputSize = 32;
inline constexpr int kOutputSize = 16;
inline constexpr double kNativeTolerance = 1e-06;
inline constexpr bool kStandardisedInputs = true;
inline constexpr int kInPitch = 0;
inline constexpr int kInLogDuration = 1;
inline constexpr int kInLogIoiPrevious = 2;
inline constexpr int kInLogDurationPrevious = 3;
inline constexpr int kInBeatPosition = 4;
inline constexpr int kInStrength = 5;  // 4 elements
inline constexpr int kInDensity = 9;
inline constexpr int kInPhrasePosition = 10;
inline constexpr int kInGroupSize = 11;
inline constexpr int kInGroupHighest = 12;
inline constexpr int kInGroupLowest = 13;
inline constexpr int kInPedal = 14;
inline constexpr int kInTempo = 15;
inline constexpr int kInPitchClass = 16;  // 12 elements
inline constexpr int kInRegister = 28;
inline constexpr int kInInterval = 29;
inline constexpr int kInSinceRest = 30;
inline constexpr int kInBarPosition = 31;
inline constexpr int kOutVelocityBin = 0;  // 16 elements
inline constexpr const char* kPitchClassNames[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
inline constexpr double kDurationOffset = 0.03125;
inline constexpr double kDensityBeats = 4.0;
inline constexpr int kGroupGrid = 16;
inline constexpr double kStrengthTolerance = 0.06;
inline constexpr double kPhraseRestBeats = 1.0;
inline constexpr double kPhraseScaleBeats = 16.0;
inline constexpr int kPhraseBars = 4;
inline constexpr double kRegisterCentre = 60.0;
inline constexpr double kRegisterScale = 24.0;
inline constexpr double kIntervalScale = 12.0;
inline constexpr int kPedalDown = 64;
inline constexpr int kVelocityBins = 16;
inline constexpr int kBinWidth = 8;
inline constexpr int kMaxNotes = 4000;
inline constexpr int kMinSteps = 8;
} // namespace dynamics

namespace groove {
inline constexpr const char* kVersion = "2.1.0";
inline constexpr int kInputSize = 64;
inline constexpr int kOutputSize = 32;
inline constexpr double kNativeTolerance = 1e-06;
inline constexpr bool kStandardisedInputs = false;
inline constexpr int kInHitKick = 0;  // 16 elements
inline constexpr int kInHitSnare = 16;  // 16 elements
inline constexpr int kInHitHats = 32;  // 16 elements
inline constexpr int kInHitOther = 48;  // 16 elements
inline constexpr int kOutTiming = 0;  // 16 elements
inline constexpr int kOutVelocity = 16;  // 16 elements
inline constexpr int kSteps = 16;
inline constexpr double kBarBeats = 4.0;
inline constexpr double kOffsetScale = 2.0;
inline constexpr const char* kVoiceGroups[4] = {"kick", "snare", "hats", "other"};
inline constexpr int kDrumGroupsKick[2] = {35, 36};
inline constexpr int kDrumGroupsSnare[3] = {37, 38, 40};
inline constexpr int kDrumGroupsHats[5] = {22, 26, 42, 44, 46};
} // namespace groove

namespace timing {
inline constexpr double kDefaultQpm = 120.0;
inline constexpr double kDefaultBarBeats = 4.0;
inline constexpr int kTicksPerBeat = 960;
inline constexpr double kMaxNoteBeats = 512.0;
inline constexpr double kMicrosecondsPerMinute = 60000000.0;
inline constexpr double kSecondsPerMinute = 60.0;
inline constexpr const char* kTimingRules[6] = {"Time grid: every time is an integer number of ticks, 960 per beat (quarter note): tick = round-half-even(ppq x 960) in double arithmetic, where ppq is the position in quarter notes as a double. In training it is the file's tick / its ticks per quarter note; in the plugin the host's ppq position at the block start + the event's sample offset x qpm / 60 / sample rate (kel::timing). Nothing else: no parser's own (float32) times are used. A host places events on samples: the grid absorbs that rounding whenever a file's ticks per quarter note divide 960 (96, 120, 192, 240, 480, 960).", "Beats = tick / 960 (a double). A note's duration is (note-off tick - note-on tick) / 960, cut to 512 beats (a longer note is a missing note-off).", "Bars: every time signature starts a bar at its own time and lasts numerator x 4 / denominator beats; 4/4 from beat 0 until the first time signature (a file without one is 4/4 throughout). The plugin gets the same from its host (bar start and time signature, e.g. JUCE's AudioPlayHead::PositionInfo).", "Tempo: qpm = 60,000,000 / microseconds per quarter note (a double), the tempo in force at the note's onset: the last tempo event at or before it, 120 before the first.", "Tempo or time signature changing inside an audio block: a host reports one ppq position, tempo and time signature per block, at its start; training computes the file's maps at the exact onset. A plugin equals training when it resolves each block from the next block's play head (one block of latency): kel::timing::tempoChangeOffset and ResolvedBlock give back where the tempo changed from the ppq advance, and an event at or after the next block's last bar start takes the next block's time signature from that bar; exact with at most one change of each per block. With the block-start tempo and bar for the whole block (ppqAtOffset alone), a note that starts with a tempo change inside a block gets the old tempo. benchmarks/tempo_per_block.py measures both on real files.", "Rounding to a grid is round-half-to-even (numpy.round, std::nearbyint)."};
} // namespace timing

} // namespace kel::contracts
