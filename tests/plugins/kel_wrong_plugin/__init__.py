"""Deliberately wrong model plugins: the conformance suite must fail each for the right reason."""
from torch import nn

import kelcore
from kel_plugin_dynamics import DynamicsEngine
from kel_plugin_groove import GroovePredictor
from kel_plugin_harmony import HarmonyPredictor


class ExtraBiasHarmony(HarmonyPredictor):
    """The last dense layer keeps a bias the design leaves out: +64 parameters."""

    def __init__(self, options=None):
        super().__init__(options)
        self.layers[-2] = nn.Linear(56, 64, bias=True)


class OffByOneDynamics(DynamicsEngine):
    """One PReLU slope too many: exactly one parameter off."""

    def __init__(self, options=None):
        super().__init__(options)
        self.layers.insert(1, nn.PReLU())


class WideGroove(GroovePredictor):
    """33 outputs where the C++ plugin reads 32."""

    def __init__(self, options=None):
        super().__init__(options)
        self.layers[-2] = nn.Linear(32, 33)


class StackedGroove(GroovePredictor):
    """A two-layer GRU module: RTNeural needs one module per layer."""

    def __init__(self, options=None):
        super().__init__(options)
        self.layers[0] = nn.GRU(64, 48, num_layers=2, batch_first=True)


@kelcore.hookimpl
def kelcore_register_models(register):
    register("extra-bias", ExtraBiasHarmony)
    register("off-by-one", OffByOneDynamics)
    register("wide-groove", WideGroove)
    register("stacked-groove", StackedGroove)
