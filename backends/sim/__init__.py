"""The reference simulator: runs an IR program on ``[T, N, ...]`` batches and counts
spikes, ACs, MACs and neuron updates per layer and time step.

    from snnc.backends.sim import simulate
    result = simulate(graph, images, timesteps=4)
    result.outputs, result.layers["block.0.mlp.fc1_conv"].acs, result.total("acs")
"""

from snnc.backends.sim.inputs import digits_inputs, random_inputs, shape_inputs
from snnc.backends.sim.numerics import NUMERICS, prepare
from snnc.backends.sim.simulator import ENGINES, Simulator, simulate
from snnc.backends.sim.stats import INTEGER_AS, LayerStats, SimResult, input_class

__all__ = ["ENGINES", "INTEGER_AS", "NUMERICS", "LayerStats", "SimResult", "Simulator", "digits_inputs",
           "input_class", "prepare", "random_inputs", "shape_inputs", "simulate"]
