"""kel-plugin-groove: the GroovePredictor model (humanise one drum bar)."""
import kelcore

from .model import GroovePredictor

__all__ = ["GroovePredictor"]


@kelcore.hookimpl
def kelcore_register_models(register):
    register("groove", GroovePredictor)
