"""The component base classes of kelcore: what every plugin implements or receives.

Plugins import these through :mod:`kelcore.api` (or ``kelcore``), never from here. Four component kinds exist; each is a class with a pydantic
``Options`` model (``extra="forbid"``) and is registered by name through a hook:

* :class:`SequenceModel` -- a torch network fixed by a C++ ``ModelSpec``.
* :class:`Dataset` -- a real dataset layout turned into feature sequences.
* :class:`Trainer` -- fits a model to prepared data inside a run directory.
* :class:`Exporter` -- writes a model to a file a host loads, and proves it.

plus :class:`Command`, a ``kelcore`` sub-command a plugin adds to the CLI.
"""
from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import torch
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from torch import nn

__all__ = [
    "Options", "DatasetOptions", "FeatureElement", "FeatureContract", "FromContract", "Sequence", "PreparedData",
    "DatasetProblem", "ValidationReport", "SequenceModel", "Dataset", "Trainer",
    "TrainResult", "Exporter", "ExportContext", "ExportResult", "ExportError", "LoadedModel",
    "Command", "RunContext", "OutputActivation", "SPLITS", "EXPORT_TOLERANCE", "FileCheck", "PROBLEM_KINDS",
    "DEMO_MARKER", "SYNTHETIC_DEMO", "mark_demo", "provenance_of", "contract_of",
    "export_normalisation_problem", "UNFITTED_RUN_IDS",
]

OutputActivation = Literal["softmax", "tanh", "sigmoid", "relu", "linear"]
#: The split names a dataset may give a track (``Track.split``); anything else is a counted problem.
SPLITS = ("train", "validation", "test")
#: The five kinds of unusable track; ``listed = usable + missing + corrupt + unlabelled + unsupported``.
PROBLEM_KINDS = ("missing", "corrupt", "unlabelled", "unsupported")
#: The file every demo corpus's root holds (written by ``kelcore data demo`` and every ``write_demo``): a run on
#: that root reports its data as :data:`SYNTHETIC_DEMO` unless the dataset says otherwise (``provenance()``).
DEMO_MARKER = ".kelcore-demo"
SYNTHETIC_DEMO = "synthetic demo corpus"
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
    #: e.g. "standardised with training mean/std"; the British spelling ``normalisation=`` is accepted too.
    normalization: str = Field("", validation_alias=AliasChoices("normalization", "normalisation"))

    @property
    def normalisation(self) -> str:
        """The old spelling of :attr:`normalization`."""
        return self.normalization


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


# --------------------------------------------------------------------------- #
# Components
# --------------------------------------------------------------------------- #
class _EmptyOptions(Options):
    pass


class FromContract:
    """A model class attribute read from its feature contract (``feature_contract().<name>``), so a model plugin
    does not restate it; a class whose contract leaves it unset (None) sets the attribute itself."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type) -> Any:
        value = getattr(owner.feature_contract(), self.name, None)
        if value is None:
            raise AttributeError(f"{owner.__qualname__}.{self.name}: its feature contract does not state "
                                 f"{self.name}: state it there (FeatureContract({self.name}=...)) or on the class")
        return value


class SequenceModel(nn.Module, ABC):
    """A network the C++ plugin runs through RTNeural, one time step per call.

    Class attributes a model plugin sets:

    * ``spec_name`` -- the C++ ``ModelSpec`` name, e.g. ``"GroovePredictor"``;
      input size, output size and parameter count come from the header.
    * ``Options`` -- pydantic options (``kelcore.api.Options`` subclass).
    * ``primary_metric`` / ``higher_is_better`` -- how "beats the baseline" is judged.

    ``target_size`` (width of the per-step target vector datasets provide) and ``output_activation`` (what the
    last layer applies, so checks can verify the range: softmax rows sum to 1, tanh in [-1, 1], ...) are read
    from :meth:`feature_contract` (:class:`FromContract`); a model sets them only when its contract does not.

    ``forward`` and ``step`` return what RTNeural computes (after the final
    activation), so streaming, whole-sequence and exported outputs compare 1:1.
    """

    spec_name: ClassVar[str]
    Options: ClassVar[type[Options]] = _EmptyOptions
    target_size: ClassVar[int] = FromContract()  # type: ignore[assignment]
    output_activation: ClassVar[OutputActivation] = FromContract()  # type: ignore[assignment]
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = False

    def __init__(self, options: Options | None = None) -> None:
        super().__init__()
        self.options = options if options is not None else self.Options()
        self._stream_state: Any = None

    # -- inference ------------------------------------------------------- #
    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole sequence: ``x[B, T, in] -> y[B, T, out]`` from a fresh state."""

    @abstractmethod
    def initial_state(self, batch_size: int = 1) -> Any:
        """The state a freshly reset host starts from (e.g. zero LSTM h/c)."""

    @abstractmethod
    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One time step: ``x[B, in] -> (y[B, out], new_state)``."""

    def reset(self) -> None:
        """Forget the streaming state, like RTNeural's ``model.reset()``."""
        self._stream_state = None

    def stream(self, x: torch.Tensor) -> torch.Tensor:
        """Stateful one-step call, as the plugin does: ``x[B, in] -> y[B, out]``."""
        if self._stream_state is None:
            self._stream_state = self.initial_state(x.shape[0])
        y, self._stream_state = self.step(x, self._stream_state)
        return y

    # -- contract, training and judging ---------------------------------- #
    @classmethod
    @abstractmethod
    def feature_contract(cls) -> FeatureContract:
        """Every input and output element's meaning, order, scale, normalisation."""

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Task loss on valid steps: ``outputs[N, out]``, ``targets[N, target_size]``."""

    @abstractmethod
    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Task metrics over a whole split's valid steps (same shapes as ``loss``)."""

    @classmethod
    @abstractmethod
    def baseline_metrics(cls, train: list[Sequence], evaluate: list[Sequence]) -> dict[str, float]:
        """The design's baseline, fitted on ``train``, scored on ``evaluate``,
        with the same metric names as :meth:`metrics`. The docstring's first line
        names the baseline in the console table and the reports."""

    def plot_test(self, outputs: torch.Tensor, targets: torch.Tensor, figure: Any) -> str | None:
        """Optional: draw what the model does on the test split into the matplotlib ``figure``
        (``outputs[N, out]``, ``targets[N, target_size]`` of every valid step, CPU float32) and
        return a one-line caption for the job's ``report.md``. The default draws nothing and
        returns None: the report then draws a generic picture (confusion matrix, or
        predicted against target)."""
        return None


class DatasetOptions(Options):
    """Options every dataset plugin shares; a plugin's ``Options`` subclasses this."""

    root: Path = Field(description="folder holding the dataset's files (for a published dataset: where its archive "
                                   "was extracted)")
    cache_dir: Path | None = Field(None, description="feature cache (default $KELCORE_CACHE_DIR or ~/.cache/kelcore)")
    workers: int | None = Field(None, ge=1, description="parallel processes (default: all cores)")
    max_tracks: int | None = Field(None, ge=1, description="use only the first N tracks of the index")


class Dataset(ABC):
    """A dataset plugin: a folder of files -> sequences following one model's feature contract.

    ``Options`` (default :class:`DatasetOptions`) must have a ``root`` field: the folder holding the dataset.
    ``produces`` names the ModelSpec whose feature contract the sequences follow, checked against the model at
    config time. ``write_demo`` is optional (default: the dataset has no demo corpus).
    """

    Options: ClassVar[type[Options]] = DatasetOptions

    def __init__(self, options: Options) -> None:
        self.options = options

    @property
    @abstractmethod
    def produces(self) -> str:
        """ModelSpec name whose contract these features follow."""

    @property
    @abstractmethod
    def input_size(self) -> int | None:
        """Width of every ``Sequence.inputs`` row, or None when only the prepared features can tell (then
        ``prepare`` must check the produced width against the spec, as ``IndexedDataset`` does)."""

    def contract(self) -> FeatureContract:
        """The feature contract of the ModelSpec this dataset ``produces``: by default the contract of the
        registered model(s) of that spec (:func:`contract_of`); a dataset that imports the contract itself (say,
        from a contracts package) may return it directly."""
        return contract_of(self.produces)

    @property
    def target_size(self) -> int:
        """Width of every ``Sequence.targets`` row: the contract's ``target_size``."""
        size = self.contract().target_size
        if size is None:
            raise AttributeError(f"{type(self).__qualname__}.target_size: the feature contract of "
                                 f"{self.produces} does not state target_size (state it there, or on the dataset)")
        return size

    @property
    def standardised(self) -> bool:
        """Whether :meth:`prepare` standardises the inputs with the training split's mean/std: the contract's
        ``standardised``. Never override it to disagree with the contract (check-config and the suite refuse)."""
        return self.contract().standardised

    @abstractmethod
    def prepare(self, context: RunContext) -> PreparedData:
        """Parse (or read from cache), split, normalise. Saves the split to
        ``context.run_dir / "split.json"``. Corrupt files are skipped and counted."""

    @abstractmethod
    def validate(self, progress: bool = False) -> ValidationReport:
        """Count listed, usable, missing, corrupt and unlabelled tracks."""

    @classmethod
    def write_demo(cls, path: Path, seed: int = 0) -> None:
        """Write a small deterministic corpus in this dataset's real layout (optional: the default says there
        is none, and ``kelcore data demo`` exits 2)."""
        raise NotImplementedError(f"{cls.__name__} has no demo corpus: point `root` at your own files")

    #: True when the dataset's data is real music whatever folder it is read from (its demo included): its
    #: ``write_demo`` then leaves no :data:`DEMO_MARKER`.
    real: ClassVar[bool] = False

    def provenance(self) -> str:
        """What the data is, for the run report (``report.json``, the results table, ``report.md``): by default
        :data:`SYNTHETIC_DEMO` when ``root`` holds a :data:`DEMO_MARKER`, else ``"real"``. A dataset that knows
        better (say, ``"real: music21 corpus (chorales)"``) overrides it."""
        root = getattr(self.options, "root", None)
        if root is not None and (Path(root) / DEMO_MARKER).is_file():
            return SYNTHETIC_DEMO
        return "real"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's own ``write_demo`` leaves a :data:`DEMO_MARKER` in the folder it wrote (unless the
        class is ``real``), however it is called: ``kelcore data demo``, a test or a benchmark."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("write_demo")
        if isinstance(own, classmethod) and not getattr(own.__func__, "_marks_demo", False):
            cls.write_demo = classmethod(_marking(own.__func__))


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


def contract_of(spec_name: str) -> FeatureContract:
    """The feature contract of a ModelSpec, from the registered models of that spec (their ``feature_contract()``);
    :class:`LookupError` naming the spec when no installed model has it, or when two disagree on a shape fact."""
    from .plugins import get_registry

    found: list[tuple[str, FeatureContract]] = []
    for name, component in sorted(get_registry().components["models"].items()):
        if getattr(component.obj, "spec_name", None) == spec_name:
            found.append((f"{component.distribution} {name}", component.obj.feature_contract()))
    if not found:
        raise LookupError(f"no installed model plugin provides the feature contract of ModelSpec {spec_name!r} "
                          "(install the model plugin of that spec)")
    stated = [(who, c) for who, c in found if c.target_size is not None] or found
    facts = {(c.version, c.target_size, c.standardised) for _, c in stated}
    if len(facts) > 1:
        raise LookupError(f"the installed models of ModelSpec {spec_name!r} disagree on its contract: "
                          + "; ".join(f"{who}: version {c.version}, target_size {c.target_size}, standardised "
                                      f"{c.standardised}" for who, c in stated))
    return stated[0][1]


def mark_demo(path: Path, text: str = "") -> Path:
    """Write ``path / DEMO_MARKER`` (``path`` is a demo corpus's root): runs on it report synthetic data."""
    marker = Path(path) / DEMO_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(text or "kelcore demo corpus: synthetic (written by write_demo / kelcore data demo)\n",
                      encoding="utf-8")
    return marker


def _marking(write_demo: Any) -> Any:
    import functools

    @functools.wraps(write_demo)
    def wrapper(cls: Any, path: Path, *args: Any, **kwargs: Any) -> Any:
        result = write_demo(cls, path, *args, **kwargs)
        if not getattr(cls, "real", False):
            mark_demo(path, f"kelcore demo corpus written by {cls.__name__}.write_demo: synthetic\n")
        return result

    wrapper._marks_demo = True  # type: ignore[attr-defined]
    return wrapper


def provenance_of(dataset: Any) -> str:
    """``dataset.provenance()`` (the base class's marker rule for any :class:`Dataset`); for an object without
    one, the same rule on its ``options.root``; never raises (the report must not fail a run)."""
    try:
        method = getattr(dataset, "provenance", None)
        if callable(method):
            return str(method())
        return Dataset.provenance(dataset)
    except Exception as exc:  # noqa: BLE001
        return f"unknown ({type(exc).__name__}: {exc})"


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


class Trainer(ABC):
    """Fits a model to prepared data, writing checkpoints and metrics to the run."""

    Options: ClassVar[type[Options]] = _EmptyOptions

    def __init__(self, options: Options) -> None:
        self.options = options

    @abstractmethod
    def fit(self, model: SequenceModel, data: PreparedData, context: RunContext) -> TrainResult:
        """Train (resuming from ``context.run_dir`` checkpoints if ``context.resume``)."""


class ExportError(Exception):
    """An export that a host could not load as trained, or that did not verify."""


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


class Exporter(ABC):
    """Writes a model to a file and proves the file reproduces PyTorch.

    Required: :meth:`export` and :meth:`load` (the file read back through the format's own engine or runtime:
    the exporter suite runs every file it exports through ``load`` and compares with PyTorch itself, so an
    exporter's own error figure is never taken on trust).

    Optional parts, all used by the core's ``kelcore export`` / ``kelcore validate`` / ``kelcore check``:
    :meth:`add_arguments` and :meth:`finish` (format-specific ``kelcore export`` options and work after every
    model is written, e.g. RTNeural's ``--cpp``), :meth:`check_file` (``kelcore validate``) and
    ``model_checks`` (conformance checks every model must pass to be exportable in this format).
    """

    Options: ClassVar[type[Options]] = _EmptyOptions
    suffix: ClassVar[str] = ".json"
    tolerance: ClassVar[float] = EXPORT_TOLERANCE
    model_checks: ClassVar[tuple[Any, ...]] = ()

    def __init__(self, options: Options | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def export(self, model: SequenceModel, path: Path, context: ExportContext) -> ExportResult:
        """Write ``model`` to ``path``, re-read it from disk, run it through a
        reference of the host's semantics and raise :class:`ExportError` if any
        output differs from PyTorch by more than ``tolerance``."""

    @classmethod
    def load(cls, path: Path) -> LoadedModel:
        """Read ``path`` back as the host would run it: an object whose ``run(inputs[T, in])`` returns
        ``outputs[T, out]`` (float32) from a fresh state. The default says the exporter has none, which fails the
        exporter suite."""
        raise NotImplementedError(f"the {cls.__name__} exporter has no load(path): every exporter must read its "
                                  "files back through its format's engine (see docs/PLUGINS.md, Exporters)")

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        """Add this format's own ``kelcore export`` options (an argparse argument group)."""

    def finish(self, out: Path, results: list[ExportResult], args: Any) -> list[Path]:
        """Called once after ``kelcore export`` wrote every model into ``out``; returns extra files written."""
        return []

    @classmethod
    def check_file(cls, path: Path, check_specs: bool = False) -> FileCheck:
        """Check one exported file (``kelcore validate``); the default says the format has no validator."""
        raise NotImplementedError(f"the {cls.__name__} exporter has no file validator")

    @classmethod
    def can_check_files(cls) -> bool:
        return cls.check_file.__func__ is not Exporter.check_file.__func__  # type: ignore[attr-defined]


class Command(ABC):
    """A ``kelcore`` sub-command contributed by a plugin (argparse based)."""

    help: ClassVar[str] = ""

    @abstractmethod
    def add_arguments(self, parser: Any) -> None:
        """Add arguments to this command's ``argparse.ArgumentParser``."""

    @abstractmethod
    def run(self, args: Any) -> int:
        """Run; return the process exit code."""
