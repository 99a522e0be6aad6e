"""RTNeural's rules: which torch modules it can load, and the conformance check every model must pass to be
exported in this format (run by ``kelcore check`` whenever this plugin is installed)."""
from __future__ import annotations

from typing import Any

from torch import nn

from kelcore.api import ACTIVATION_MODULES, RECURRENT_MODULES, TRAIN_ONLY_MODULES, build_model

SUPPORTED_MODULES: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.LSTM, nn.GRU, nn.BatchNorm1d, nn.PReLU, *ACTIVATION_MODULES, *TRAIN_ONLY_MODULES,
)


def unsupported_reason(module: nn.Module) -> str | None:
    """Why RTNeural could not run ``module`` as trained, or None if it can."""
    if not isinstance(module, SUPPORTED_MODULES):
        return f"{type(module).__name__} is not a layer RTNeural can load"
    if isinstance(module, RECURRENT_MODULES):
        if module.num_layers != 1:
            return f"{type(module).__name__} has num_layers={module.num_layers}; RTNeural needs one module per layer"
        if module.bidirectional:
            return f"{type(module).__name__} is bidirectional; RTNeural runs forward in time only"
        if not module.batch_first:
            return f"{type(module).__name__} must be batch_first=True"
        if getattr(module, "proj_size", 0):
            return "LSTM with proj_size is not supported by RTNeural"
        if not module.bias:
            return f"{type(module).__name__} without bias is not supported by RTNeural"
    if isinstance(module, nn.Softmax) and module.dim not in (-1, None):
        return "Softmax must act on the last (feature) dimension"
    if isinstance(module, nn.BatchNorm1d) and not module.track_running_stats:
        return "BatchNorm1d needs track_running_stats=True (RTNeural uses running statistics)"
    return None


def check_rtneural_layers(cls: type, options: Any = None) -> None:
    """Only RTNeural-loadable layers, one recurrent layer per module, all parameters inside the chain."""
    from kelcore.testing import ConformanceError, describe

    def fail(message: str) -> ConformanceError:
        return ConformanceError(f"{describe(cls)}: RTNeural-loadable layers: {message}")

    model = build_model(cls, options, seed=0)
    layers = getattr(model, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise fail("the model has no `layers` ModuleList: subclass kelcore.api.ChainModel so the exporter can walk "
                   "the chain")
    for index, module in enumerate(layers):
        reason = unsupported_reason(module)
        if reason:
            raise fail(f"layers[{index}]: {reason}")
    in_chain = sum(p.numel() for p in layers.parameters())
    total = sum(p.numel() for p in model.parameters())
    if in_chain != total:
        raise fail(f"{total - in_chain:,} parameters live outside `layers`: the exporter would not write them")
