"""kelcore: train, export and prove the networks a real-time music plugin runs.

The public API for plugin authors is :mod:`kelcore.api`, re-exported here (``kelcore.X`` is ``kelcore.api.X``);
:mod:`kelcore.testing` holds the conformance suites for a plugin's tests. See docs/PLUGINS.md.
"""
from .api import *  # noqa: F401,F403
from .api import __all__ as _api_all

__all__ = list(_api_all)
__version__ = "0.1.0"
