"""Networks for the Loihi/Lava tests: random float graphs (quantised by snnc), random
integer graphs in the loihi op family, and a recorder of every value a graph computes."""

from __future__ import annotations

import numpy as np

from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.interpret import record  # noqa: F401  (the tests import it from here)
from snnc.ir.kinds import ANALOG, SPIKE


def spikes(rng, shape, p=0.3) -> np.ndarray:
    return (rng.random(shape) < p).astype(np.float32)


class _Net:
    """Builds a float graph layer by layer with random parameters."""

    def __init__(self, seed: int, name: str, shape, kind=SPIKE):
        self.rng = np.random.default_rng(seed)
        self.g = Graph(name)
        self.g.add_input(Value("x", tuple(shape), kind=kind))
        self.last = "x"
        self.n = 0

    def _name(self, op):
        self.n += 1
        return f"{op}{self.n}"

    def shape(self):
        return self.g.values[self.last].shape

    def conv(self, out, k, stride=1, pad=0, dil=1, group=1, bias=True, gain=2.5):
        c = self.shape()[0]
        spatial = len(self.shape()) - 1
        fan_in = c // group * k ** spatial
        w = (self.rng.normal(0.25, 1.0, (out, c // group, *([k] * spatial))) * gain / np.sqrt(fan_in))
        params = {"weight": w.astype(np.float32)}
        if bias:
            params["bias"] = self.rng.normal(0.0, 0.2, out).astype(np.float32)
        self.last = emit(self.g, "conv", [self.last], name=self._name("conv"), params=params,
                         attrs={"strides": [stride] * spatial, "pads": [pad] * 2 * spatial,
                                "dilations": [dil] * spatial, "group": group}).outputs[0]
        return self

    def linear(self, out, bias=True, gain=2.5):
        fan_in = self.shape()[-1]
        params = {"weight": (self.rng.normal(0.25, 1.0, (out, fan_in)) * gain / np.sqrt(fan_in)).astype(np.float32)}
        if bias:
            params["bias"] = self.rng.normal(0.0, 0.2, out).astype(np.float32)
        self.last = emit(self.g, "linear", [self.last], name=self._name("fc"), params=params).outputs[0]
        return self

    def lif(self, tau=None, theta=None, v_reset=0.0, decay_input=None):
        attrs = {"tau": float(tau if tau is not None else self.rng.uniform(1.5, 4.0)),
                 "v_threshold": float(theta if theta is not None else self.rng.uniform(0.4, 1.6)),
                 "v_reset": float(v_reset),
                 "decay_input": int(decay_input if decay_input is not None else self.rng.random() < 0.7)}
        self.last = emit(self.g, "lif", [self.last], name=self._name("lif"), attrs=attrs).outputs[0]
        return self

    def if_(self, theta=None, v_reset=0.0):
        attrs = {"v_threshold": float(theta if theta is not None else self.rng.uniform(0.5, 1.5)),
                 "v_reset": float(v_reset)}
        self.last = emit(self.g, "if", [self.last], name=self._name("if"), attrs=attrs).outputs[0]
        return self

    def maxpool(self, k, stride, pad=0):
        spatial = len(self.shape()) - 1
        self.last = emit(self.g, "maxpool", [self.last], name=self._name("pool"),
                         attrs={"kernel_shape": [k] * spatial, "strides": [stride] * spatial,
                                "pads": [pad] * 2 * spatial}).outputs[0]
        return self

    def reshape(self, shape):
        self.last = emit(self.g, "reshape", [self.last], name=self._name("reshape"),
                         attrs={"shape": list(shape)}).outputs[0]
        return self

    def done(self) -> Graph:
        self.g.outputs = [self.last]
        return self.g


def float_net(variant: str, seed: int) -> tuple[Graph, tuple]:
    """A random float spiking graph of one family, and its per-sample input shape."""
    if variant == "dense":
        net = _Net(seed, variant, (24,)).linear(16).lif().linear(10).if_().linear(6, bias=False).lif()
    elif variant == "conv":      # padding, stride, dilation, groups
        net = (_Net(seed, variant, (2, 11, 11)).conv(6, 3, stride=2, pad=1).lif()
               .conv(4, 3, pad=2, dil=2, group=2).lif().conv(3, 2, stride=1, bias=False).if_())
    elif variant == "pool":      # maxpool of spikes, flatten into dense
        net = (_Net(seed, variant, (3, 8, 8)).conv(4, 3, pad=1).lif().maxpool(2, 2)
               .conv(6, 3, pad=1).lif().maxpool(3, 2, pad=1).reshape([6 * 2 * 2]).linear(5).lif())
    elif variant == "graded":    # a float input encoded as graded spikes
        net = (_Net(seed, variant, (2, 6, 6), kind=ANALOG).conv(4, 3, pad=1, gain=1.5).lif()
               .reshape([4 * 6 * 6]).linear(7).lif())
    elif variant == "conv1d":    # [C, L] tokens: a 1-d conv, then a linear over the last axis
        net = _Net(seed, variant, (4, 10)).conv(6, 3, pad=1).lif().linear(5).lif()
    elif variant == "dense_to_conv":   # a dense layer whose rows follow the conv layout
        net = _Net(seed, variant, (12,)).linear(2 * 5 * 5).lif().reshape([2, 5, 5]).conv(3, 3, pad=1).lif()
    elif variant == "reset":     # v_reset != 0, no decay_input, IF
        net = (_Net(seed, variant, (20,)).linear(12).lif(v_reset=-0.3, decay_input=0)
               .linear(8).if_(theta=1.0, v_reset=0.25).linear(6).lif(theta=0.8, v_reset=0.2))
    else:
        raise ValueError(variant)
    g = net.done()
    return g, g.values["x"].shape


def net_input(variant: str, rng, steps: int, samples: int, shape) -> np.ndarray:
    """``[T, N, *shape]`` input for a :func:`float_net` variant: floats for the graded one,
    spikes for the others."""
    if variant == "graded":
        return rng.normal(0, 1, (steps, samples, *shape)).astype(np.float32)
    return spikes(rng, (steps, samples, *shape))


VARIANTS = ("dense", "conv", "pool", "graded", "conv1d", "dense_to_conv", "reset")


def int_net(seed: int) -> tuple[Graph, tuple]:
    """A random program in the loihi op family itself: any du, dv, vth, bias mantissa and
    exponent, a late start, odd and out-of-range dense weights (Lava clips and truncates
    them), positive and negative weight_exp, fewer weight bits."""
    rng = np.random.default_rng(seed)
    g = Graph(f"int{seed}")
    g.add_input(Value("x", (3, 7, 7), kind=SPIKE))
    conv_w = rng.integers(-40, 60, (4, 3, 3, 3)).astype(np.int32)
    emit(g, "loihi_conv", ["x"], name="c1", params={"weight": conv_w},
         attrs={"strides": [2, 2], "pads": [1, 1, 1, 1], "weight_exp": int(rng.integers(0, 2))})
    emit(g, "loihi_lif", ["c1"], name="n1",
         attrs={"du": int(rng.integers(0, 4096)), "dv": int(rng.integers(0, 4096)), "vth": int(rng.integers(20, 120)),
                "start": int(rng.integers(0, 4))},
         params={"bias_mant": rng.integers(-300, 300, (4, 1, 1)).astype(np.int32),
                 "bias_exp": rng.integers(0, 4, (4, 1, 1)).astype(np.int32)})
    emit(g, "reshape", ["n1"], name="flat", attrs={"shape": [4 * 4 * 4]})
    dense_w = rng.integers(-300, 300, (9, 64)).astype(np.int32)      # beyond 8 bits: Lava clips
    emit(g, "loihi_dense", ["flat"], name="d1", params={"weight": dense_w},
         attrs={"weight_exp": int(rng.integers(-2, 3)), "num_weight_bits": int(rng.integers(5, 9))})
    emit(g, "loihi_lif", ["d1"], name="n2",
         attrs={"du": int(rng.integers(2000, 4096)), "dv": int(rng.integers(0, 600)), "vth": int(rng.integers(50, 400))},
         params={"bias_mant": rng.integers(-2000, 2000, (9,)).astype(np.int32),
                 "bias_exp": rng.integers(0, 6, (9,)).astype(np.int32)})
    g.outputs = ["n2"]
    return g, (3, 7, 7)


def dyadic_net(neuron: str, v_reset: float = 0.0) -> Graph:
    """Weights j/128 and θ = 1: float sums are exact, and the quantiser's grid hits them;
    most weights are multiples of 1/8, so sums often land on θ exactly."""
    rng = np.random.default_rng(7)
    g = Graph(f"dyadic_{neuron}")
    g.add_input(Value("x", (12,), kind=SPIKE))
    w1 = rng.integers(-2, 8, (10, 12)) * 16 / 128.0
    w1[0, :] = 0
    w1[0, 0] = 127 / 128                   # max |w| = 127/128: k = 256 exactly
    emit(g, "linear", ["x"], name="fc1", params={"weight": w1.astype(np.float32)})
    attrs = {"v_threshold": 1.0, "v_reset": v_reset}
    if neuron == "lif":
        attrs.update(tau=2.0, decay_input=1)
    emit(g, neuron, ["fc1"], name="n1", attrs=attrs)
    w2 = rng.integers(-2, 8, (6, 10)) * 16 / 128.0
    w2[0, 0] = 127 / 128
    emit(g, "linear", ["n1"], name="fc2", params={"weight": w2.astype(np.float32)})
    emit(g, neuron, ["fc2"], name="n2", attrs=attrs)
    g.outputs = ["n2"]
    return g


def amplify(model, scale: float, shift: float) -> None:
    """w ← scale·w + shift on every weight (ndim > 1) of a torch model in place, so that
    a randomly initialised network's layers fire enough for a test to see them."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1:
                p.mul_(scale).add_(shift)
