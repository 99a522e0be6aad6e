"""An example third-party model plugin (see docs/PLUGINS.md).

It keeps GroovePredictor's feature contract, loss, metrics and baseline (it declares kel-plugin-groove
as a dependency and subclasses its public model) and changes only the network:

    Dense(64 -> 208) + tanh   64*208 + 208     = 13,520
    GRU(208 -> 8)             3*8*(208 + 8 + 2) =  5,232
    Dense(8 -> 32) + tanh     8*32 + 32        =    288
                                                  19,040 = the C++ ModelSpec
"""
from torch import nn

import kelcore
from kel_plugin_groove import GroovePredictor

SPEC = kelcore.get_spec("GroovePredictor")


class TinyGroove(GroovePredictor):
    """A GroovePredictor that spends its parameters on the input layer."""

    def __init__(self, options=None):
        super().__init__(options)
        self.layers = nn.ModuleList([
            nn.Linear(SPEC.input_size, 208), nn.Tanh(),
            nn.GRU(208, 8, batch_first=True),
            nn.Linear(8, SPEC.output_size), nn.Tanh(),
        ])


@kelcore.hookimpl
def kelcore_register_models(register):
    register("tinygroove", TinyGroove)
