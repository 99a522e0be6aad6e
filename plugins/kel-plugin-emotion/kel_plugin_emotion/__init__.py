"""kel-plugin-emotion: the EmotionRecognizer model (audio frames to a valence x arousal grid)."""
import kelcore

from .model import EmotionRecognizer, grid_centres

__all__ = ["EmotionRecognizer", "grid_centres"]


@kelcore.hookimpl
def kelcore_register_models(register):
    register("emotion", EmotionRecognizer)
