"""kel-plugin-deam: DEAM audio + dynamic annotations as EmotionRecognizer features."""
import kelcore

from .dataset import DeamDataset

__all__ = ["DeamDataset"]


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("deam", DeamDataset)
