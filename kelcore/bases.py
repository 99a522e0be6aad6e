"""The component base classes: what every plugin implements. Four component kinds exist; each is a class with a
pydantic ``Options`` model (``extra="forbid"``) and is registered by name through a hook:

* :class:`SequenceModel` -- a torch network fixed by a C++ ``ModelSpec``.
* :class:`Dataset` -- a real dataset layout turned into feature sequences.
* :class:`Trainer` -- fits a model to prepared data inside a run directory.
* :class:`Exporter` -- writes a model to a file a host loads, and proves it.

plus :class:`Command`, a ``kelcore`` sub-command a plugin adds to the CLI.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from .datatypes import (EXPORT_TOLERANCE, ExportContext, ExportResult, FeatureContract, FileCheck, LoadedModel,
                        Options, OutputActivation, PreparedData, RunContext, Sequence, TrainResult, ValidationReport)
from .demo import DEMO_MARKER, SYNTHETIC_DEMO, marking_demo

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
        with the same metric names as :meth:`metrics`. The docstring's first paragraph
        (joined into one line) names the baseline in the console table and the reports."""

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

    def check_structure(self) -> list[str]:
        """Cheap structural checks (the index file present and readable, ...) that ``kelcore check-config`` and
        ``kelcore run`` make before anything runs (exit 2): one message per problem. Default: none."""
        return []

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
        """Explicitly, at class creation: a subclass's own ``write_demo`` is replaced by
        ``marking_demo(write_demo)`` (:mod:`kelcore.demo`), so it leaves a :data:`DEMO_MARKER` in the folder it
        wrote (unless the class is ``real``), however it is called: ``kelcore data demo``, a test or a benchmark.
        The replacement keeps the name, signature and docstring (``functools.wraps``); nothing else is changed."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("write_demo")
        if isinstance(own, classmethod) and not getattr(own.__func__, "_marks_demo", False):
            cls.write_demo = classmethod(marking_demo(own.__func__))


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
