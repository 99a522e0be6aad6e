"""The conformance suite every model plugin must pass against the C++ ModelSpec.

Three ways to run it:

* in a plugin's own tests::

      from kelcore.testing import parametrize_with_checks

      @parametrize_with_checks([MyModel])
      def test_conformance(model, check):
          check(model)

* ``pytest --kelcore-conformance=PLUGIN`` for any installed plugin (pytest11 entry point);
* ``kelcore check PLUGIN [--json]``.
"""
from __future__ import annotations

from typing import Any, Callable

from .checks import CHECKS, SPEC_CHECKS, ConformanceError, ConformanceSkip  # noqa: F401
from .checks import (check_export_round_trip, check_feature_contract, check_finite_outputs,  # noqa: F401
                     check_input_size, check_output_range, check_output_size, check_parameter_count,
                     check_reset_restores_initial_state, check_rtneural_layers, check_seeded_initialisation,
                     check_spec_exists, check_streaming_matches_sequence)
from .runner import CheckResult, models_of_plugin, run_all, run_check, target_id, unpack  # noqa: F401


def pytest_check(check: Callable[..., None]) -> Callable[[Any], None]:
    """Wrap a check for pytest: ``ConformanceSkip`` becomes a pytest skip."""
    import pytest

    def run(target: Any) -> None:
        cls, options = unpack(target)
        try:
            check(cls, options)
        except ConformanceSkip as skip:
            pytest.skip(str(skip))

    run.__name__ = check.__name__
    return run


def parametrize_with_checks(targets: list[Any]) -> Any:
    """A ``pytest.mark.parametrize`` over (model, check) with ids like ``GroovePredictor-check_parameter_count``.

    ``targets`` are model classes or ``(model class, options)`` pairs; the decorated
    test takes ``model`` and ``check`` and calls ``check(model)``.
    """
    import pytest

    cases = [(target, pytest_check(check)) for target in targets for check in CHECKS]
    ids = [f"{target_id(target)}-{check.__name__}" for target, check in cases]
    return pytest.mark.parametrize("model, check", cases, ids=ids)
