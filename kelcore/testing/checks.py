"""The conformance checks: plain functions, one property each, against the C++ ModelSpec.

Each ``check_*(model_cls, options=None)`` returns None when the model conforms,
raises :class:`ConformanceError` (an ``AssertionError``) with a message naming
the model, the check, expected and actual values and the likely cause, or
raises :class:`ConformanceSkip` when the check cannot run yet (and says why).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..components import EXPORT_TOLERANCE, ExportContext, ExportError, Options, SequenceModel
from ..layers import ACTIVATION_MODULES, RECURRENT_MODULES, TRAIN_ONLY_MODULES
from ..runs import build_model, count_parameters
from ..spec import SpecError, get_spec

STREAM_ATOL = 1e-6
RANGE_ATOL = 1e-5


class ConformanceError(AssertionError):
    """A model does not conform; the message says what, by how much and the likely cause."""


class ConformanceSkip(Exception):
    """A check that cannot run yet (e.g. no exporter installed); the message says why."""


def distribution_of(cls: type) -> str:
    """The installed distribution that provides ``cls`` (registry first, then the import package's metadata)."""
    from ..plugins import BUILTIN_DIST, provider_of

    name = provider_of(cls)["name"]
    return "kelcore" if name == BUILTIN_DIST else name


def describe(cls: type) -> str:
    """``kel-plugin-groove GroovePredictor (ModelSpec GroovePredictor)``: distribution, class and spec."""
    spec = getattr(cls, "spec_name", None)
    return f"{distribution_of(cls)} {cls.__qualname__}" + (f" (ModelSpec {spec})" if spec else "")


def _fail(cls: type[SequenceModel], check: str, message: str) -> ConformanceError:
    return ConformanceError(f"{describe(cls)}: {check}: {message}")


def kept_dir(cls: type, label: str) -> Path:
    """A folder that survives the check (``$KELCORE_CONFORMANCE_DIR`` or ``<tmp>/kelcore-conformance``), for
    files a failed check keeps for inspection; emptied at the start of the check."""
    base = Path(os.environ.get("KELCORE_CONFORMANCE_DIR") or Path(tempfile.gettempdir()) / "kelcore-conformance")
    folder = base / distribution_of(cls) / cls.__qualname__ / label
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _spec(cls: type[SequenceModel]):
    try:
        return get_spec(cls.spec_name)
    except (SpecError, AttributeError) as exc:
        raise _fail(cls, "C++ ModelSpec", str(exc)) from None


def _model(cls: type[SequenceModel], options: Options | dict[str, Any] | None, seed: int = 0) -> SequenceModel:
    return build_model(cls, options, seed=seed)


def _inputs(size: int, steps: int = 12, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, steps, size, generator=torch.Generator().manual_seed(seed))


def check_spec_exists(cls: type[SequenceModel], options: Any = None) -> None:
    """The model names a ModelSpec that exists in the C++ header."""
    _spec(cls)


def check_input_size(cls: type[SequenceModel], options: Any = None) -> None:
    """The first layer takes exactly the ModelSpec's input size."""
    spec = _spec(cls)
    first = _first_weighted_layer(_model(cls, options))
    actual = _in_features(first) if first is not None else None
    if actual != spec.input_size:
        raise _fail(cls, "input size", f"{actual} != C++ ModelSpec {spec.input_size}: the first "
                    f"layer ({type(first).__name__}) must take the spec's input width")


def check_output_size(cls: type[SequenceModel], options: Any = None) -> None:
    """One step of the model yields exactly the ModelSpec's output size."""
    spec = _spec(cls)
    model = _model(cls, options)
    try:
        with torch.no_grad():
            actual = model(torch.zeros(1, 1, spec.input_size)).shape[-1]
    except RuntimeError as exc:
        raise _fail(cls, "output size", f"the model fails on {spec.input_size} inputs: {exc}") from None
    if actual != spec.output_size:
        raise _fail(cls, "output size", f"{actual} != C++ ModelSpec {spec.output_size} "
                    f"({actual - spec.output_size:+}): the last layer has the wrong width?")


def check_parameter_count(cls: type[SequenceModel], options: Any = None) -> None:
    """Trainable parameters (PyTorch's count) equal the ModelSpec's paramCount exactly."""
    spec = _spec(cls)
    model = _model(cls, options)
    actual = count_parameters(model)
    if actual != spec.param_count:
        diff = actual - spec.param_count
        raise _fail(cls, "parameter count", f"{actual:,} != C++ ModelSpec {spec.param_count:,} "
                    f"({diff:+,}): {likely_cause(model, diff)}")


def likely_cause(model: nn.Module, diff: int) -> str:
    """A guess at why a model is ``diff`` parameters off its spec, from its own layers."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if module.bias is not None and diff == module.out_features:
                return "an extra bias vector?"
            if module.bias is None and diff == -module.out_features:
                return "a missing bias vector?"
            if abs(diff) == module.weight.numel() + (module.out_features if module.bias is not None else 0):
                return f"a dense layer {'too many' if diff > 0 else 'missing'}?"
        if isinstance(module, nn.LSTM) and abs(diff) == 4 * module.hidden_size:
            return "an LSTM bias vector counted differently (PyTorch has b_ih and b_hh)?"
        if isinstance(module, nn.GRU) and abs(diff) == 3 * module.hidden_size:
            return "a GRU bias vector counted differently (PyTorch has b_ih and b_hh)?"
        if isinstance(module, nn.BatchNorm1d) and abs(diff) == 2 * module.num_features:
            return f"a BatchNorm1d layer {'too many' if diff > 0 else 'missing'}?"
    if abs(diff) == 1:
        return ("one parameter off: a layer width or a bias flag differs from the design the spec was counted "
                "from (ModelSpec.h holds only the total: count each layer, as the model plugin's docstring does)?")
    return ("a layer width differs from the design the spec was counted from (ModelSpec.h holds only the "
            "total: count each layer's parameters, as the model plugin's docstring does)?")


def check_deterministic_forward(cls: type[SequenceModel], options: Any = None) -> None:
    """In eval mode the same input gives the same output, twice (no random numbers drawn in ``forward``)."""
    spec = _spec(cls)
    model = _model(cls, options)
    x = _inputs(spec.input_size)
    with torch.no_grad():
        first, second = model(x), model(x)
    if not torch.equal(first, second):
        error = float((first - second).abs().max())
        raise _fail(cls, "deterministic forward", f"two eval-mode forward passes on the same input differ by up to "
                    f"{error:.3g}: forward() draws random numbers (torch.rand*, dropout with training=True, noise) "
                    "or keeps state between calls; a host replays a file deterministically, so the model must too")


def check_streaming_matches_sequence(cls: type[SequenceModel], options: Any = None) -> None:
    """``step`` one time step at a time equals the whole-sequence ``forward`` (atol 1e-6)."""
    spec = _spec(cls)
    model = _model(cls, options)
    x = _inputs(spec.input_size)
    with torch.no_grad():
        if not torch.equal(model(x), model(x)):
            raise _fail(cls, "streaming equals whole-sequence", "cannot compare: forward() is not deterministic "
                        "(see check_deterministic_forward)")
        whole = model(x)
        model.reset()
        streamed = torch.stack([model.stream(x[:, t]) for t in range(x.shape[1])], dim=1)
    error = float((whole - streamed).abs().max())
    if error > STREAM_ATOL:
        raise _fail(cls, "streaming equals whole-sequence", f"max |step - forward| = {error:.3g} > {STREAM_ATOL}: "
                    "forward() and step() compute different things: does step() carry each recurrent layer's "
                    "state from the previous call, and does initial_state() match what forward() starts from?")


def check_reset_restores_initial_state(cls: type[SequenceModel], options: Any = None) -> None:
    """After ``reset()`` the model answers like a fresh one."""
    spec = _spec(cls)
    model = _model(cls, options)
    x = _inputs(spec.input_size, steps=6)
    with torch.no_grad():
        fresh = [model.stream(x[:, t]) for t in range(6)]
        model.reset()
        again = [model.stream(x[:, t]) for t in range(6)]
    error = max(float((a - b).abs().max()) for a, b in zip(fresh, again))
    if error > 0:
        raise _fail(cls, "reset() restores the initial state", f"outputs after reset differ by {error:.3g}: "
                    "reset() leaves state behind")


def check_seeded_initialisation(cls: type[SequenceModel], options: Any = None) -> None:
    """The same seed gives the same initial weights; another seed different ones."""
    first, second, other = (_model(cls, options, seed) for seed in (0, 0, 1))
    a, b, c = (m.state_dict() for m in (first, second, other))
    for key in a:
        if not torch.equal(a[key], b[key]):
            raise _fail(cls, "seeded initialisation", f"{key} differs between two builds with seed 0: the model "
                        "draws weights from an unseeded source")
    if all(torch.equal(a[k], c[k]) for k in a):
        raise _fail(cls, "seeded initialisation", "seeds 0 and 1 give identical weights: the seed is ignored")


def check_finite_outputs(cls: type[SequenceModel], options: Any = None) -> None:
    """Finite outputs for all-zero inputs and for large inputs (±1e3)."""
    spec = _spec(cls)
    model = _model(cls, options)
    signs = torch.where(_inputs(spec.input_size, steps=8) > 0, 1.0, -1.0)
    for label, x in (("zeros", torch.zeros(2, 8, spec.input_size)), ("±1e3", 1e3 * signs)):
        with torch.no_grad():
            y = model(x)
        if not torch.isfinite(y).all():
            raise _fail(cls, "finite outputs", f"non-finite outputs for {label} inputs: an unbounded activation "
                        "or a division?")


def check_output_range(cls: type[SequenceModel], options: Any = None) -> None:
    """The declared ``output_activation`` range holds (softmax rows sum to 1, tanh in [-1, 1], ...)."""
    spec = _spec(cls)
    model = _model(cls, options)
    with torch.no_grad():
        y = model(3 * _inputs(spec.input_size))
    kind = cls.output_activation
    problems = {
        "softmax": lambda: float((y.sum(-1) - 1).abs().max()) > RANGE_ATOL or bool((y < 0).any()),
        "tanh": lambda: bool((y.abs() > 1).any()),
        "sigmoid": lambda: bool(((y < 0) | (y > 1)).any()),
        "relu": lambda: bool((y < 0).any()),
        "linear": lambda: False,
    }
    if kind not in problems:
        raise _fail(cls, "output range", f"unknown output_activation {kind!r}")
    if problems[kind]():
        raise _fail(cls, "output range", f"outputs leave the {kind} range (min {float(y.min()):.4g}, "
                    f"max {float(y.max()):.4g}, max |row sum - 1| {float((y.sum(-1) - 1).abs().max()):.3g}): "
                    "is the last layer the declared activation?")


def last_module(model: nn.Module) -> nn.Module | None:
    """The model's last module that acts in eval mode (train-only modules such as dropout skipped)."""
    chain = list(getattr(model, "layers", [])) or [m for m in model.modules() if not list(m.children())]
    chain = [m for m in chain if not isinstance(m, TRAIN_ONLY_MODULES)]
    return chain[-1] if chain else None


def check_output_activation(cls: type[SequenceModel], options: Any = None) -> None:
    """The declared ``output_activation`` is the model's last module (``linear``: no activation at the end)."""
    declared = getattr(cls, "output_activation", None)
    last = last_module(_model(cls, options))
    actual = ACTIVATION_MODULES.get(type(last), "linear") if last is not None else None
    if actual != declared:
        where = f"the last module is {type(last).__name__}" if last is not None else "the model has no modules"
        modules = {"softmax": "nn.Softmax(dim=-1)", "tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()", "relu": "nn.ReLU()"}
        fix = (f"end the chain with {modules.get(str(declared), str(declared))}" if declared != "linear"
               else "remove the final activation")
        raise _fail(cls, "output activation", f"output_activation = {declared!r} but {where} ({actual}): {fix}, "
                    f"or declare output_activation = {actual!r}")


def check_feature_contract(cls: type[SequenceModel], options: Any = None) -> None:
    """One contract entry per input and output element, indices 0..n-1 in order."""
    spec = _spec(cls)
    contract = cls.feature_contract()
    for side, elements, size in (("inputs", contract.inputs, spec.input_size),
                                 ("outputs", contract.outputs, spec.output_size)):
        indices = [e.index for e in elements]
        if indices != list(range(size)):
            raise _fail(cls, "feature contract", f"{side}: {len(elements)} entries with indices "
                        f"{_summary(indices)}, expected {size} entries indexed 0..{size - 1} in order")
    if contract.model != spec.name:
        raise _fail(cls, "feature contract", f"contract is for {contract.model!r}, expected {spec.name!r}")
    for fact in ("target_size", "output_activation"):  # the contract owns them: a restated one must agree
        stated = getattr(contract, fact)
        own = next((vars(k)[fact] for k in cls.__mro__ if fact in vars(k)), None)
        if stated is not None and isinstance(own, (int, str)) and own != stated:
            raise _fail(cls, "feature contract", f"the class sets {fact} = {own!r} but its feature contract says "
                        f"{stated!r}: remove the class attribute (the contract's is used)")


def check_export_round_trip(cls: type[SequenceModel], options: Any = None) -> None:
    """Every registered exporter writes a file whose re-read outputs match PyTorch (in eval mode) within the
    exporter's tolerance, ending in the declared output activation; the file is also read back through the
    exporter's own ``load`` and run on fresh inputs (the exporter's reported error is not taken on trust).

    The model is handed over in training mode, as a trainer leaves it: train-only modules (dropout) must
    be the identity in the file, so the exporter has to compare against the eval-mode model. Files of a failed
    export are kept in a folder that survives (:func:`kept_dir`), named in the message."""
    from ..plugins import get_registry

    exporters = get_registry().components["exporters"]
    if not exporters:
        raise ConformanceSkip("no exporter is registered (install one, e.g. kel-plugin-rtneural)")
    spec = _spec(cls)
    model = _model(cls, options)
    x = _inputs(spec.input_size)
    with torch.no_grad():
        first, second = model.eval()(x), model(x)
    if not torch.equal(first, second):
        raise _fail(cls, "export round trip", "the model in eval mode is not deterministic (see "
                    "check_deterministic_forward); an exported file could not equal it")
    model.train()
    identity = {"mean": [0.0] * spec.input_size, "std": [1.0] * spec.input_size}
    for name, component in sorted(exporters.items()):
        exporter = component.obj()
        folder = kept_dir(cls, f"export-{name}")
        path = folder / f"{spec.name}{exporter.suffix}"
        label = f"export round trip ({name}, {component.distribution})"
        try:
            result = exporter.export(model, path, ExportContext(normalization=identity))
        except ExportError as exc:
            raise _fail(cls, label, f"{exc} (files kept in {folder})") from None
        if not result.max_abs_error <= exporter.tolerance:
            raise _fail(cls, label, f"max |file - PyTorch| = {result.max_abs_error:.3g} > {exporter.tolerance} "
                        f"(files kept in {folder})")
        independent = _file_error(exporter, result.path, model, spec.input_size)
        if independent is not None and not independent <= exporter.tolerance:
            raise _fail(cls, label, f"the file read back through {type(exporter).__name__}.load differs from "
                        f"PyTorch by max {independent:.3g} > {exporter.tolerance}, though export() reported "
                        f"{result.max_abs_error:.3g} (files kept in {folder})")
        declared = getattr(cls, "output_activation", None)
        if result.output_activation is not None and result.output_activation != declared:
            raise _fail(cls, label, f"the file ends in {result.output_activation!r} but the model declares "
                        f"output_activation = {declared!r} (files kept in {folder})")
        shutil.rmtree(folder, ignore_errors=True)


def _file_error(exporter: Any, path: Path, model: SequenceModel, input_size: int) -> float | None:
    """max |file - PyTorch| on fresh inputs, the file read back through the exporter's own ``load`` (None when the
    exporter has none: the exporter suite fails that exporter, the model is not to blame)."""
    import numpy as np

    try:
        loaded = type(exporter).load(Path(path))
    except NotImplementedError:
        return None
    x = _inputs(input_size, steps=8, batch=1, seed=4)
    was_training = model.training
    with torch.no_grad():
        expected = model.eval()(x)[0].numpy()
    model.train(was_training)
    return float(np.abs(np.asarray(loaded.run(x[0].numpy()), dtype=np.float32) - expected).max())


def _first_weighted_layer(model: SequenceModel) -> nn.Module | None:
    for module in getattr(model, "layers", model.modules()):
        if isinstance(module, (nn.Linear, nn.BatchNorm1d, *RECURRENT_MODULES)):
            return module
    return None


def _in_features(module: nn.Module) -> int | None:
    for attribute in ("in_features", "input_size", "num_features"):
        if hasattr(module, attribute):
            return int(getattr(module, attribute))
    return None


def _summary(indices: list[int]) -> str:
    return f"[{', '.join(map(str, indices[:4]))}{', ...' if len(indices) > 4 else ''}]"


#: every check, in the order they run; the ModelSpec checks come first and can never be expected failures.
CHECKS: list[Callable[..., None]] = [
    check_spec_exists, check_input_size, check_output_size, check_parameter_count, check_deterministic_forward,
    check_streaming_matches_sequence, check_reset_restores_initial_state, check_seeded_initialisation,
    check_finite_outputs, check_output_range, check_output_activation, check_feature_contract,
    check_export_round_trip,
]


def model_checks() -> list[Callable[..., None]]:
    """The core's model checks plus every registered exporter's ``model_checks`` (e.g. RTNeural's layer rules),
    then the device checks on the ``meta`` device."""
    from ..plugins import get_registry

    extra: list[Callable[..., None]] = []
    for _, component in sorted(get_registry().components["exporters"].items()):
        for check in getattr(component.obj, "model_checks", ()):
            if check not in extra:
                extra.append(check)
    from .meta import DEVICE_CHECKS  # the meta-device checks (kelcore.testing.meta) run last

    return [*CHECKS[:4], *extra, *CHECKS[4:], *DEVICE_CHECKS]
