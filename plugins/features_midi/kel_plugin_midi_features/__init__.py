"""Shared MIDI parsing and feature extraction for kelcore's MIDI dataset plugins (lakh, maestro, groove)."""
from .features import (chord_labels, dynamics_features, estimate_key, groove_features, harmony_features,
                       melody_features, melody_part)
from .song import MidiError, Part, Song, load_song

__all__ = ["MidiError", "Part", "Song", "load_song", "melody_features", "melody_part", "harmony_features",
           "dynamics_features", "groove_features", "estimate_key", "chord_labels"]
