"""THE public API of kelcore: everything a plugin may import from the core, in one place.

A plugin imports ``kelcore`` or ``kelcore.api`` and nothing else of the core (a test enforces it for the in-repo
plugins); everything here is documented in docs/PLUGINS.md and stays compatible within a major version.
``kelcore.testing`` (the conformance suites) is the one other public module, for a plugin's *tests*.

Component base classes and data types
    :class:`SequenceModel` (and :class:`ChainModel`), :class:`Dataset` (and :class:`IndexedDataset`, :class:`Track`,
    :class:`Extracted`), :class:`Trainer`, :class:`Exporter`, :class:`Command`, their ``Options`` and the data
    they exchange.
Registration
    :data:`hookimpl` (hooks in :mod:`kelcore.hookspecs`).
The C++ ModelSpec
    :func:`get_spec`, :func:`load_specs`, :class:`ModelSpec`, :data:`SPEC_HEADER`.
Helpers
    models (:func:`build_model`, :func:`count_parameters`, loss/metric helpers), datasets (parallel extraction,
    feature cache, splits, normalisation), files (:func:`atomic_write`), progress bars, errors.
"""
from __future__ import annotations

from typing import Any

from .components import (DEMO_MARKER, EXPORT_TOLERANCE, PROBLEM_KINDS, SPLITS, SYNTHETIC_DEMO,  # noqa: F401
                         Command, Dataset, DatasetOptions, DatasetProblem, mark_demo, provenance_of, ExportContext, ExportError, Exporter, ExportResult, FeatureContract,
                         FromContract, LoadedModel, UNFITTED_RUN_IDS, contract_of, export_normalisation_problem,
                         FeatureElement, FileCheck, Options, OutputActivation, PreparedData, RunContext, Sequence,
                         SequenceModel, Trainer, TrainResult, ValidationReport)
from .data import (Extracted, FeatureCache, IndexedDataset, Track, apply_normalization, cache_dir_of,  # noqa: F401
                   default_workers, extract_tracks, fit_normalization,
                   load_or_draw_split, parallel_map, prepare_dataset, split_by_group, validate_tracks)
from .errors import KelcoreError, UsageError, WorkError, describe_exception  # noqa: F401
from .hookspecs import hookimpl  # noqa: F401
from .io import (OUTPUT_MARKER, ForeignFilesError, atomic_write, claim_output_folder, config_digest,  # noqa: F401
                 file_digest, mark_output_folder, write_json_atomic, write_text_atomic)
from .layers import ACTIVATION_MODULES, RECURRENT_MODULES, TRAIN_ONLY_MODULES, ChainModel  # noqa: F401
from .metrics import class_nll, log_probs, pearson, perplexity, rmse, stack_targets, topk_accuracy  # noqa: F401
from .progress import track  # noqa: F401
from .runs import build_model, count_parameters  # noqa: F401
from .spec import HEADER_PATH as SPEC_HEADER  # noqa: F401
from .spec import ModelSpec, SpecError, get_spec, load_specs  # noqa: F401
from .training.randomness import HostDropout, host_uniform  # noqa: F401


def component_of(obj: Any) -> dict[str, str] | None:
    """``{"kind", "name", "distribution", "version"}`` of a registered class (or instance's class), or None.

    Exporters use it to record which plugin a model came from."""
    from .plugins import get_registry

    cls = obj if isinstance(obj, type) else type(obj)
    for kind, components in get_registry().components.items():
        for name, component in components.items():
            if component.obj is cls:
                return {"kind": kind, "name": name, "distribution": component.distribution,
                        "version": component.version}
    return None


# Every public name, listed (not computed from dir(): a test runner may add its own names to the module).
__all__ = ["ACTIVATION_MODULES", "ChainModel", "Command", "DEMO_MARKER", "Dataset", "DatasetOptions",
    "DatasetProblem", "EXPORT_TOLERANCE", "ExportContext", "ExportError", "ExportResult", "Exporter", "Extracted", "FeatureCache", "ForeignFilesError", "OUTPUT_MARKER",
    "FeatureContract", "FeatureElement", "FileCheck", "FromContract", "HostDropout", "LoadedModel", "UNFITTED_RUN_IDS",
    "contract_of", "export_normalisation_problem", "IndexedDataset", "KelcoreError", "ModelSpec", "Options",
    "OutputActivation", "PROBLEM_KINDS", "PreparedData", "RECURRENT_MODULES", "RunContext",
    "SPEC_HEADER", "SPLITS", "SYNTHETIC_DEMO", "Sequence", "SequenceModel", "SpecError", "TRAIN_ONLY_MODULES", "Track", "TrainResult",
    "Trainer", "UsageError", "ValidationReport", "WorkError", "apply_normalization", "atomic_write", "build_model",
    "cache_dir_of", "claim_output_folder", "class_nll", "component_of", "config_digest", "count_parameters",
    "default_workers", "describe_exception", "extract_tracks", "file_digest",
    "fit_normalization", "get_spec", "hookimpl", "host_uniform", "load_or_draw_split", "load_specs", "log_probs", "mark_demo", "mark_output_folder",
    "parallel_map", "pearson", "perplexity", "prepare_dataset", "provenance_of", "rmse", "split_by_group", "stack_targets",
    "topk_accuracy", "track", "validate_tracks", "write_json_atomic", "write_text_atomic"]
