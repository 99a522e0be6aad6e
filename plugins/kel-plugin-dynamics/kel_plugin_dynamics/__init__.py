"""kel-plugin-dynamics: the DynamicsEngine model (expressive velocity per note)."""
import kelcore

from .model import DynamicsEngine

__all__ = ["DynamicsEngine"]


@kelcore.hookimpl
def kelcore_register_models(register):
    register("dynamics", DynamicsEngine)
