"""A plugin that registers a model name another plugin already uses."""
import kelcore
from kel_test_plugin import ToyDynamics


@kelcore.hookimpl
def kelcore_register_models(register):
    register("toy-dynamics", ToyDynamics)
