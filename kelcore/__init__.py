"""kelcore: train, export and prove the networks a real-time music plugin runs.

Public API for plugin authors: :mod:`kelcore.api` (component base classes),
:data:`hookimpl`, :func:`kelcore.spec.get_spec`, :mod:`kelcore.data` helpers
and :mod:`kelcore.testing` (the conformance suite).
"""
from .api import (  # noqa: F401
    Command, Dataset, DatasetOptions, DatasetProblem, ExportContext, ExportError, Exporter, ExportResult,
    FeatureContract, FeatureElement, Options, PreparedData, RunContext, Sequence,
    SequenceModel, Trainer, TrainResult, ValidationReport,
)
from .hookspecs import hookimpl  # noqa: F401
from .spec import ModelSpec, get_spec, load_specs  # noqa: F401

__version__ = "0.1.0"
