"""Hook specifications: how a plugin adds components to kelcore.

Every hook takes a ``register`` callback (the register-callback style of
simonw/llm) so a plugin can add any number of components by name. A plugin
module implements the hooks it needs with ``@kelcore.hookimpl``::

    import kelcore

    @kelcore.hookimpl
    def kelcore_register_models(register):
        register("groove", GroovePredictor)

and declares itself in its ``pyproject.toml``::

    [project.entry-points.kelcore]
    groove = "kel_plugin_groove"
"""
from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("kelcore")
hookimpl = pluggy.HookimplMarker("kelcore")

Register = Callable[[str, object], None]


@hookspec
def kelcore_register_datasets(register: Register) -> None:
    """Register dataset plugins.

    :param register: ``register(name, cls)`` where ``cls`` subclasses
        :class:`kelcore.api.Dataset`. ``name`` is what a pipeline's
        ``dataset = "..."`` and ``kelcore data ... NAME`` refer to.
    """


@hookspec
def kelcore_register_models(register: Register) -> None:
    """Register model plugins.

    :param register: ``register(name, cls)`` where ``cls`` subclasses
        :class:`kelcore.api.SequenceModel` and names its C++ ``ModelSpec`` in
        ``spec_name``. ``name`` is what a pipeline's ``model = "..."`` and
        ``kelcore check NAME`` refer to.
    """


@hookspec
def kelcore_register_trainers(register: Register) -> None:
    """Register trainers.

    :param register: ``register(name, cls)`` where ``cls`` subclasses
        :class:`kelcore.api.Trainer`. The built-in one is ``"default"``.
    """


@hookspec
def kelcore_register_exporters(register: Register) -> None:
    """Register exporters.

    :param register: ``register(name, cls)`` where ``cls`` subclasses
        :class:`kelcore.api.Exporter`. A pipeline job lists exporter names in
        ``exporters = [...]``.
    """


@hookspec
def kelcore_register_commands(register: Register) -> None:
    """Register ``kelcore`` sub-commands.

    :param register: ``register(name, command)`` where ``command`` is an
        instance of :class:`kelcore.api.Command`; ``kelcore NAME ...`` then
        calls ``command.run(args)`` and exits with its return code.
    """
