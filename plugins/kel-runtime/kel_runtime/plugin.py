"""kelcore entry point of kel-runtime: the ``native-check`` command."""
import kelcore

from .native_check import NativeCheckCommand


@kelcore.hookimpl
def kelcore_register_commands(register):
    register("native-check", NativeCheckCommand())
