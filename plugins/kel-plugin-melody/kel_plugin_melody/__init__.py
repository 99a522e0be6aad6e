"""kel-plugin-melody: the MelodyTransformer model (the next note of a melody)."""
import kelcore

from .model import MelodyTransformer

__all__ = ["MelodyTransformer"]


@kelcore.hookimpl
def kelcore_register_models(register):
    register("melody", MelodyTransformer)
