"""kel-plugin-lakh: the Lakh MIDI Dataset as MelodyTransformer or HarmonyPredictor features."""
import kelcore

from .dataset import LakhDataset

__all__ = ["LakhDataset"]


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("lakh", LakhDataset)
