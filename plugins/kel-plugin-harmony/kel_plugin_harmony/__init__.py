"""kel-plugin-harmony: the HarmonyPredictor model (a chord for each bar of a melody)."""
import kelcore

from .model import HarmonyPredictor
from .vocabulary import CHORD_NAMES, chord_templates

__all__ = ["HarmonyPredictor", "CHORD_NAMES", "chord_templates"]


@kelcore.hookimpl
def kelcore_register_models(register):
    register("harmony", HarmonyPredictor)
