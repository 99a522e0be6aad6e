"""The data kelcore's components exchange: options, feature contracts, sequences, reports, run and export records,
and the constants they refer to. No behaviour beyond small helpers on the records themselves."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

OutputActivation = Literal["softmax", "tanh", "sigmoid", "relu", "linear"]
#: The split names a dataset may give a track (``Track.split``); anything else is a counted problem.
SPLITS = ("train", "validation", "test")
#: The five kinds of unusable track; ``listed = usable + missing + corrupt + unlabelled + unsupported``.
PROBLEM_KINDS = ("missing", "corrupt", "unlabelled", "unsupported")
#: Max |exported file - PyTorch| an exporter accepts (the conformance suite and ``kelcore validate`` use it too).
EXPORT_TOLERANCE = 1e-5


class Options(BaseModel):
    """Base for every component's ``Options``: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- #
# Feature contracts
# --------------------------------------------------------------------------- #
class FeatureElement(BaseModel):
    """One element of a model's input or output vector."""

    model_config = ConfigDict(extra="forbid")
    index: int
    name: str
    meaning: str
    scale: str = ""            # e.g. "0..1", "MIDI velocity / 127", "log-mel dB"
    normalization: str = ""    # e.g. "standardised with training mean/std"


class FeatureContract(BaseModel):
    """The exact meaning of every input and output element of a model.

    Versioned: bump ``version`` whenever meaning, order, scale or normalisation
    of any element changes, since the C++ host builds inputs from it.
    """

    model_config = ConfigDict(extra="forbid")
    model: str                  # ModelSpec name, e.g. "GroovePredictor"
    version: str                # semantic version of the contract
    inputs: list[FeatureElement]
    outputs: list[FeatureElement]
    targets: str = ""           # what the per-step training target vector holds
    notes: str = ""             # host-side instructions (reset per song, mappings, ...)
    #: The shape facts a model and its datasets take from here instead of restating them (None: not stated, the
    #: model class states it): the width of the per-step target vector, whether the inputs are standardised with
    #: the training split's mean/std (else identity), and what the last layer applies.
    target_size: int | None = None
    standardised: bool = False
    output_activation: OutputActivation | None = None

    def normalisation_problem(self, normalization: dict[str, list[float]] | None) -> str | None:
        """Why ``normalization`` (an export's, a prepared dataset's) breaks this contract, or None: a contract that
        standardises its inputs must ship the training split's mean/std, not the identity (mean 0, std 1)."""
        if not self.standardised:
            return None
        mean, std = (list((normalization or {}).get(key) or []) for key in ("mean", "std"))
        if len(mean) != len(self.inputs) or len(std) != len(self.inputs):
            return (f"{self.model}'s contract standardises its inputs, but the normalisation holds "
                    f"{len(mean)} means and {len(std)} stds for {len(self.inputs)} inputs")
        if all(m == 0.0 for m in mean) and all(s == 1.0 for s in std):
            return (f"{self.model}'s contract standardises its inputs, but the normalisation is the identity "
                    "(mean 0, std 1): the dataset did not standardise. An IndexedDataset does it by itself; a "
                    "Dataset with its own prepare() must return PreparedData(normalization=fit_normalization(train)) "
                    "and apply it (apply_normalization)")
        return None


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #
@dataclass
class Sequence:
    """One track's features: ``inputs[T, input_size]``, ``targets[T, target_size]``.

    Both are float32. Steps are fed to the model in order from a fresh state. From ``prepare_dataset`` both are
    read-only views into the preparation's packed store (``kelcore.data.store``): copy one to change it.
    """

    track_id: str
    inputs: np.ndarray
    targets: np.ndarray
    group: str = ""             # piece/song id used for leak-free splitting


@dataclass
class DatasetProblem:
    """A file or track that could not be used, and why.

    ``kind`` is one of :data:`PROBLEM_KINDS`; ``checksum`` (bytes differ from the release) counts as corrupt.
    """

    path: str
    kind: Literal["missing", "corrupt", "unlabelled", "checksum", "unsupported"]
    reason: str

    @property
    def counted_as(self) -> str:
        return "corrupt" if self.kind == "checksum" else self.kind if self.kind in PROBLEM_KINDS else "corrupt"


@dataclass
class ValidationReport:
    """One set of counts, the same in ``kelcore data validate``, a run's log and ``report.json``:
    ``listed = usable + missing + corrupt + unlabelled + unsupported``."""

    dataset: str
    root: str
    listed: int = 0
    usable: int = 0
    missing: int = 0
    corrupt: int = 0
    unlabelled: int = 0
    unsupported: int = 0
    problems: list[DatasetProblem] = field(default_factory=list)

    def count(self, usable: int) -> "ValidationReport":
        """Set ``usable`` and the four problem counts from :attr:`problems`."""
        self.usable = usable
        for kind in PROBLEM_KINDS:
            setattr(self, kind, sum(p.counted_as == kind for p in self.problems))
        return self

    @property
    def adds_up(self) -> bool:
        return self.listed == self.usable + sum(getattr(self, kind) for kind in PROBLEM_KINDS)

    def counts_line(self) -> str:
        """``60 listed, 52 usable, 0 missing, 0 corrupt, 0 unlabelled, 8 unsupported``."""
        return (f"{self.listed} listed, {self.usable} usable, {self.missing} missing, {self.corrupt} corrupt, "
                f"{self.unlabelled} unlabelled, {self.unsupported} unsupported")

    def counts(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in ("listed", "usable", *PROBLEM_KINDS)}

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "root": self.root, **self.counts(),
                "problems": [p.__dict__ for p in self.problems]}


@dataclass
class PreparedData:
    """Splits of feature sequences, ready for a trainer.

    ``normalization`` holds the statistics applied to the inputs (computed on
    the training split only), e.g. ``{"mean": [...], "std": [...]}``; exporters
    embed it so the host can normalise the same way.
    """

    train: list[Sequence]
    validation: list[Sequence]
    test: list[Sequence]
    normalization: dict[str, list[float]] = field(default_factory=dict)
    report: ValidationReport | None = None


# --------------------------------------------------------------------------- #
# Run context
# --------------------------------------------------------------------------- #
@dataclass
class RunContext:
    """Where a job writes and how it reports.

    ``run_dir`` is ``runs/<name>-<timestamp>/<job>/`` for a pipeline job;
    ``progress`` is True only when stderr is a terminal.
    """

    run_dir: Path
    seed: int = 0
    job: str = ""
    run_id: str = ""
    config_hash: str = ""
    progress: bool = False
    resume: bool = False

    def log(self, message: str) -> None:
        """One plain progress line on stderr."""
        print(message, file=sys.stderr, flush=True)


@dataclass
class TrainResult:
    """What a trainer returns; ``report`` goes to the run's report.json."""

    epochs: int
    best_epoch: int
    stopped_reason: str
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    beats_baseline: bool
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportContext:
    """Provenance an exporter embeds: normalisation, run id, config hash."""

    normalization: dict[str, list[float]] = field(default_factory=dict)
    run_id: str = ""
    config_hash: str = ""
    seed: int = 0


@dataclass
class ExportResult:
    """A written, re-read and verified export."""

    path: Path
    max_abs_error: float        # exported-file engine vs PyTorch over the reference snapshot
    #: the activation the written file ends with (``softmax``, ``tanh``, ..., ``linear``), when the format has one:
    #: the conformance suite checks it is the model's declared ``output_activation``.
    output_activation: str | None = None


@dataclass
class FileCheck:
    """What an exporter's :meth:`Exporter.check_file` found in one file (``kelcore validate``).

    ``status``: 0 valid, 1 invalid, 2 unreadable. ``summary`` follows ``PATH: `` on a valid file's line;
    ``problems`` are printed one per line; ``data`` is the ``--json`` record.
    """

    path: Path
    status: int
    summary: str = "OK"
    problems: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


class LoadedModel(Protocol):
    """An exported file read back as its host runs it (what :meth:`Exporter.load` returns)."""

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """From a freshly reset state, stream ``inputs[T, in]`` one step at a time: ``outputs[T, out]``."""
        ...


#: The run ids of exports made without training data (``kelcore export --untrained``, the conformance suites):
#: their normalisation is the identity by design.
UNFITTED_RUN_IDS = ("untrained", "conformance")


def export_normalisation_problem(feature_contract: dict[str, Any], run_id: str) -> str | None:
    """For an exported file's metadata (its ``feature_contract`` dict with the shipped ``normalization``, and its
    ``run_id``): why the shipped normalisation breaks the contract (:meth:`FeatureContract.normalisation_problem`),
    or None. Every exporter's validator reports it."""
    if run_id in UNFITTED_RUN_IDS:
        return None
    try:
        contract = FeatureContract.model_validate({k: v for k, v in feature_contract.items()
                                                   if k in FeatureContract.model_fields})
    except ValueError as exc:
        return f"the feature contract cannot be read: {exc}"
    return contract.normalisation_problem(feature_contract.get("normalization"))
