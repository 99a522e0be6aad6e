"""kel-plugin-pmemo: PMEmo2019 choruses + dynamic annotations as EmotionRecognizer features."""
import kelcore

from .dataset import PmemoDataset

__all__ = ["PmemoDataset"]


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("pmemo", PmemoDataset)
