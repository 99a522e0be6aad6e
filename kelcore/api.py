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
    :func:`get_spec`, :class:`ModelSpec`, :data:`SPEC_HEADER`.
Helpers
    models (:func:`build_model`, :func:`count_parameters`, loss/metric helpers), datasets (parallel extraction,
    splits, normalisation), files (:func:`atomic_write`), progress bars, errors.

Only what plugins use is here: names the core and its own tests need stay in their modules.
"""
from __future__ import annotations

from typing import Any

from .components import (EXPORT_TOLERANCE, Command, Dataset, DatasetOptions, DatasetProblem,  # noqa: F401
                         ExportContext, ExportError, Exporter, ExportResult, FeatureContract, FeatureElement, FileCheck,
                         LoadedModel, Options, PreparedData, RunContext, Sequence, SequenceModel, Trainer, TrainResult,
                         ValidationReport, export_normalisation_problem)
from .data import (Extracted, IndexedDataset, Track, apply_normalization, cache_dir_of, extract_tracks,  # noqa: F401
                   fit_normalization, parallel_map, split_by_group)
from .errors import KelcoreError, describe_exception  # noqa: F401
from .hookspecs import hookimpl  # noqa: F401
from .io import atomic_write, claim_output_folder, write_json_atomic, write_text_atomic  # noqa: F401
from .layers import ACTIVATION_MODULES, RECURRENT_MODULES, TRAIN_ONLY_MODULES, ChainModel  # noqa: F401
from .metrics import class_nll, log_probs, pearson, perplexity, rmse, stack_targets, topk_accuracy  # noqa: F401
from .progress import track  # noqa: F401
from .runs import build_model, count_parameters  # noqa: F401
from .spec import HEADER_PATH as SPEC_HEADER  # noqa: F401
from .spec import ModelSpec, SpecError, get_spec  # noqa: F401
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
__all__ = [
    # components
    "SequenceModel", "ChainModel", "Dataset", "IndexedDataset", "Trainer", "Exporter", "Command", "Options",
    "DatasetOptions",
    # data they exchange
    "Sequence", "PreparedData", "Track", "Extracted", "DatasetProblem", "ValidationReport", "RunContext",
    "TrainResult", "ExportContext", "ExportResult", "FileCheck", "LoadedModel", "FeatureContract", "FeatureElement",
    # constants
    "EXPORT_TOLERANCE", "ACTIVATION_MODULES", "RECURRENT_MODULES", "TRAIN_ONLY_MODULES", "SPEC_HEADER",
    # registration, the ModelSpec, the contracts
    "hookimpl", "get_spec", "ModelSpec", "SpecError", "component_of", "export_normalisation_problem",
    # training randomness drawn on the host
    "HostDropout", "host_uniform",
    # helpers
    "ExportError", "KelcoreError", "apply_normalization", "atomic_write", "build_model", "cache_dir_of",
    "claim_output_folder", "class_nll", "count_parameters", "describe_exception", "extract_tracks",
    "fit_normalization", "log_probs", "parallel_map", "pearson", "perplexity", "rmse", "split_by_group",
    "stack_targets", "topk_accuracy", "track", "write_json_atomic", "write_text_atomic"]
