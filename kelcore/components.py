"""Where the component classes and data types live, re-exported in one place for the core's modules (plugins
import them through :mod:`kelcore.api`): :mod:`kelcore.datatypes` (the data components exchange),
:mod:`kelcore.bases` (the base classes plugins implement) and :mod:`kelcore.demo` (demo corpora and provenance).
"""
from __future__ import annotations

from .bases import (Command, Dataset, DatasetOptions, Exporter, ExportError, FromContract, SequenceModel,  # noqa: F401
                    Trainer, contract_of)
from .datatypes import (EXPORT_TOLERANCE, PROBLEM_KINDS, SPLITS, UNFITTED_RUN_IDS, DatasetProblem,  # noqa: F401
                        ExportContext, ExportResult, FeatureContract, FeatureElement, FileCheck, LoadedModel, Options,
                        OutputActivation, PreparedData, RunContext, Sequence, TrainResult, ValidationReport,
                        export_normalisation_problem)
from .demo import DEMO_MARKER, SYNTHETIC_DEMO, mark_demo, marking_demo, provenance_of  # noqa: F401

__all__ = [
    "Options", "DatasetOptions", "FeatureElement", "FeatureContract", "FromContract", "Sequence", "PreparedData",
    "DatasetProblem", "ValidationReport", "SequenceModel", "Dataset", "Trainer",
    "TrainResult", "Exporter", "ExportContext", "ExportResult", "ExportError", "LoadedModel",
    "Command", "RunContext", "OutputActivation", "SPLITS", "EXPORT_TOLERANCE", "FileCheck", "PROBLEM_KINDS",
    "DEMO_MARKER", "SYNTHETIC_DEMO", "mark_demo", "provenance_of", "contract_of",
    "export_normalisation_problem", "UNFITTED_RUN_IDS",
]
