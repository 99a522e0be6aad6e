"""kel-midi-features: MIDI parsing with guards and the MIDI feature contracts' training side, a library for kelcore's
MIDI dataset plugins (lakh, maestro, groove-midi, music21corpus); ``compose`` writes the demo corpora's songs."""
from .compose import compose
from .features import (MODELS, chord_labels, dynamics_features, emotion_proxy, estimate_key, groove_features,
                       harmony_bars, harmony_features, harmony_steps, melody_features, melody_part, training_features)
from .song import BarMap, MidiError, Part, Song, TooShort, load_song
from .tunes import group_by_tune, tune_patterns


def feature_config(dataset) -> dict:
    """A MIDI dataset's feature configuration (the feature cache key): kelcore's default plus the produced
    contract's ``cache_key()``, so that a changed contract (version or constants) never serves stale features."""
    from kelcore.api import IndexedDataset
    from kel_contracts import contract

    from .features import MELODY_NAMES, SKYLINE_TOLERANCE
    from .song import MAX_BEATS, MAX_FILE_BYTES, MAX_NOTE_BEATS, MAX_NOTES, MAX_QPM

    return {**IndexedDataset.feature_config(dataset), "contract_key": contract(dataset.produces).cache_key(),
            "midi_features": {"melody_names": list(MELODY_NAMES), "skyline_tolerance": SKYLINE_TOLERANCE,
                              "limits": [MAX_FILE_BYTES, MAX_BEATS, MAX_NOTES, MAX_NOTE_BEATS, MAX_QPM]}}


def extracted(features, *args):
    """Run a feature function on a file's song; map its failures to a counted reason.

    ``features(song, *args) -> (inputs, targets)``; the first argument is the MIDI path.
    """
    from kelcore.api import Extracted

    path, rest = args[0], args[1:]
    try:
        inputs, targets = features(load_song(path), *rest)
    except TooShort as exc:
        return Extracted(kind="unsupported", reason=str(exc))
    except MidiError as exc:
        return Extracted(kind="corrupt", reason=str(exc))
    return Extracted(inputs, targets)


def parses(path):
    """Validation: ``Extracted()`` if the file parses, else the reason it is corrupt."""
    return extracted(lambda song: (None, None), path)


def check_midi(track, config):
    """Dataset validation function (``IndexedDataset.check``): the track's MIDI file parses."""
    return parses(track.path)

__all__ = ["compose", "feature_config", "BarMap", "emotion_proxy", "harmony_bars", "extracted", "parses", "check_midi",
           "TooShort", "MidiError", "Part", "Song", "load_song", "melody_features", "melody_part", "harmony_features",
           "dynamics_features", "groove_features", "estimate_key", "chord_labels", "harmony_steps", "group_by_tune",
           "tune_patterns", "MODELS", "training_features"]
