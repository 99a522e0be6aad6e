"""ChainModel: a SequenceModel built as one chain of RTNeural-loadable layers.

RTNeural runs a model as a flat chain of layers, one time step per call. A
``ChainModel`` holds exactly that chain in ``self.layers`` (an
``nn.ModuleList`` in order), so

* ``forward`` (whole sequence, for training) and ``step`` (one time step with
  carried state, as the plugin calls it) are derived from the same chain and
  agree by construction;
* an exporter writes ``self.layers`` one entry per module, in order, and checks (its own rules) that it can.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .components import SequenceModel

#: torch activation modules and the ``output_activation`` name each one stands for (the conformance suite checks a
#: model's declared ``output_activation`` against its last module with this table).
ACTIVATION_MODULES: dict[type[nn.Module], str] = {
    nn.Tanh: "tanh", nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Softmax: "softmax", nn.ELU: "elu",
}
RECURRENT_MODULES = (nn.LSTM, nn.GRU)
#: modules that act only while training (regularisation) and are the identity in eval mode: allowed in a
#: chain, and dropped by exporters (the exported file equals the model in eval mode).
TRAIN_ONLY_MODULES: tuple[type[nn.Module], ...] = (nn.Dropout, nn.AlphaDropout, nn.Identity)


class ChainModel(SequenceModel):
    """A SequenceModel whose network is ``self.layers``, applied in order.

    Subclasses build ``self.layers`` in ``__init__`` and set the class
    attributes of :class:`~kelcore.api.SequenceModel`.
    """

    layers: nn.ModuleList

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = x.shape
        for layer in self.layers:
            if isinstance(layer, RECURRENT_MODULES):
                x, _ = layer(x)
            elif isinstance(layer, nn.BatchNorm1d):
                x = layer(x.reshape(batch * steps, -1)).reshape(batch, steps, -1)
            else:
                x = layer(x)
        return x

    def initial_state(self, batch_size: int = 1) -> list[Any]:
        state: list[Any] = []
        for layer in self.layers:
            if isinstance(layer, nn.LSTM):
                zeros = torch.zeros(1, batch_size, layer.hidden_size)
                state.append((zeros, zeros.clone()))
            elif isinstance(layer, nn.GRU):
                state.append(torch.zeros(1, batch_size, layer.hidden_size))
            else:
                state.append(None)
        return state

    def step(self, x: torch.Tensor, state: list[Any]) -> tuple[torch.Tensor, list[Any]]:
        new_state: list[Any] = []
        for layer, layer_state in zip(self.layers, state):
            if isinstance(layer, RECURRENT_MODULES):
                out, layer_state = layer(x.unsqueeze(1), layer_state)
                x = out.squeeze(1)
            else:
                x = layer(x)
            new_state.append(layer_state)
        return x, new_state
