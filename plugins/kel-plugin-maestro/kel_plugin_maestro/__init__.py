"""kel-plugin-maestro: MAESTRO piano performances as MelodyTransformer or DynamicsEngine features."""
import kelcore

from .dataset import MaestroDataset

__all__ = ["MaestroDataset"]


@kelcore.hookimpl
def kelcore_register_datasets(register):
    register("maestro", MaestroDataset)
