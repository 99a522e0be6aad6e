"""The conformance suites every plugin runs against the core's contracts: models (against the C++ ModelSpec),
datasets (against their model's contract) and exporters (a round trip).

Three ways to run them:

* in a plugin's own tests::

      from kelcore.testing import parametrize_with_checks

      @parametrize_with_checks([MyModel])          # or a Dataset / Exporter class
      def test_conformance(model, check):
          check(model)

* ``pytest --kelcore-conformance=PLUGIN`` for any installed plugin (pytest11 entry point);
* ``kelcore check PLUGIN [--json]``.
"""
from __future__ import annotations

from typing import Any, Callable

from .checks import CHECKS, ConformanceError, ConformanceSkip  # noqa: F401
from .checks import (check_deterministic_forward, check_export_round_trip, check_feature_contract,  # noqa: F401
                     check_finite_outputs, check_input_size, check_output_activation, check_output_range,
                     check_output_size, check_parameter_count, check_reset_restores_initial_state,
                     check_seeded_initialisation, check_spec_exists, check_streaming_matches_sequence, describe,
                     distribution_of, kept_dir, model_checks)
from .runner import (CheckResult, checks_for, components_of_plugin, run_all,  # noqa: F401
                     run_check, target_id, unpack)
from .suites import DATASET_CHECKS, EXPORTER_CHECKS  # noqa: F401
from .suites import (check_dataset_counts_a_corrupt_file, check_dataset_declares_contract,  # noqa: F401
                     check_dataset_demo_prepares, check_exporter_files_match_pytorch, check_exporter_round_trip)


def __getattr__(name: str) -> Any:
    # A format's own model checks (e.g. check_rtneural_layers) come from its installed exporter plugin.
    for check in model_checks():
        if check.__name__ == name:
            return check
    raise AttributeError(f"module 'kelcore.testing' has no attribute {name!r}")


def kind_of(cls: type) -> str:
    from ..components import Dataset, Exporter

    return "datasets" if issubclass(cls, Dataset) else "exporters" if issubclass(cls, Exporter) else "models"


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
    """A ``pytest.mark.parametrize`` over (component, check) with ids like
    ``kel-plugin-groove.GroovePredictor-check_parameter_count``.

    ``targets`` are model, dataset or exporter classes, or ``(class, options)`` pairs; the decorated test takes
    ``model`` and ``check`` and calls ``check(model)``.
    """
    import pytest

    cases = [(target, pytest_check(check)) for target in targets for check in checks_for(kind_of(unpack(target)[0]))]
    ids = [f"{target_id(target)}-{check.__name__}" for target, check in cases]
    return pytest.mark.parametrize("model, check", cases, ids=ids)
