"""kel-plugin-groove-midi: the Groove MIDI Dataset v1.0.0 as GroovePredictor features."""
import kelcore

from .dataset import GrooveMidiDataset

__all__ = ["GrooveMidiDataset"]


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("groove-midi", GrooveMidiDataset)
