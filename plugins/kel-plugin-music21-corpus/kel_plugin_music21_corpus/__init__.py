"""kel-plugin-music21-corpus: music21's bundled corpus of real scores as MelodyTransformer or HarmonyPredictor
features (the same contracts as Lakh)."""
import kelcore

from .dataset import Music21CorpusDataset

__all__ = ["Music21CorpusDataset"]


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("music21corpus", Music21CorpusDataset)
