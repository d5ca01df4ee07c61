"""The ``loihi`` op family: Loihi 2 fixed-point numerics, exactly as lava-nc 0.10.0 computes.

A quantised program (:func:`snnc.backends.loihi.quantize.quantize`) is built from these
ops; the interpreter runs it bit for bit like Lava's ``fixed_pt`` process models, and the
Lava lowering maps each op to a process. Integers travel as ``int32``, spikes as ``0/1``
``float32`` (as in float graphs, so host-side decoders read them unchanged).

On chip (``TEMPORAL``: they see ``[T, N, ...]``):

    loihi_dense  a[t] = 0 (t = 0);  a[t] = shift(W' x[t-1], weight_exp)      (t > 0)
                 W' = Lava's weights: clipped to 8 bits (mixed sign: [-256, 255]) and the
                 low ``8 - num_weight_bits + mixed`` bits cleared (an arithmetic shift,
                 which floors); shift = ``<< e`` for e >= 0, ``>> -e`` (floor) otherwise
                 (lava/proc/dense/models.py, PyDenseModelBitAcc; lava/utils/weightutils.py)
    loihi_conv   a[t] = 0 (t = 0);  a[t] = wrap24(conv(x[t-1], W << weight_exp))
                 cross-correlation as ONNX's Conv; Lava's Conv applies neither weight_exp
                 nor the weight-bit truncation, so the lowering pre-shifts the kernel
                 (exact for e >= 0) (lava/proc/conv/models.py, PyConvModelFixed)
    loihi_lif    per step (lava/proc/lif/models.py, PyLifModelBitAcc; ds_offset = 1):
                 u = wrap24(sign(u·(4096-(du+1))) · (|u·(4096-(du+1))| >> 12) + (a << 6))
                 v = clip(sign(v·(4096-dv)) · (|v·(4096-dv)| >> 12) + u + bias, ±(2²³-1))
                 s = v > (vth << 6);   v = 0 where s;   u = v = 0 before step 0
                 bias = bias_mant << bias_exp (>> -bias_exp when negative)
                 start > 0: u = v = 0 again as step ``start`` begins (Lava's LIFReset with
                 reset_offset = start + 1 and an interval longer than any run): a neuron
                 deep in a chain starts afresh when its first input arrives, as the float
                 neuron does at step 0, instead of having charged its bias meanwhile

Every synaptic op delivers its output ONE step late (Lava sends the buffer of the
previous step first: "this prevents deadlocking"), so an L-layer chain lags L steps.
Inputs of synaptic ops are binary when ``num_message_bits == 0`` (any nonzero is one
spike, as Lava's ``astype(bool)``), graded integers otherwise.

On the host (stateless): ``loihi_encode`` (float -> integer levels: the graded input a
source injects) and ``loihi_dequant`` (integer currents -> float, plus a bias the chip
cannot add to a bare synaptic output). On the host, temporal: ``delay`` (a FIFO of
``steps`` values: ``out[t] = x[t - steps]``), which the quantiser's ``lag-align`` rule puts
on the earlier inputs of a multi-input op so that they arrive at one lag.

These ops exist only in quantised programs, which a compiled artifact stores as snnc IR
JSON (``program.json``), never as ONNX: none has an ONNX form, and none needs one.
"""

from __future__ import annotations

import numpy as np

from snnc.ir import kinds
from snnc.ir.kinds import ANALOG, SPIKE, Kind
from snnc.ir.ops.common import prod, same_shape
from snnc.ir.ops.synaptic import _CONV_ATTRS, _conv_fanout, _conv_flops, _conv_shape, _linear_fanout, \
    _linear_flops, _linear_shape, conv_geometry, conv_nd
from snnc.ir.registry import SYNAPTIC, TEMPORAL, NEURON, Attr, op

#: Loihi's state and decay widths (lava/proc/lif/models.py, AbstractPyLifModelFixed)
UV_BITS = 24
DECAY_SHIFT = 12                 # du, dv are 12-bit fractions of 4096
ACT_SHIFT = VTH_SHIFT = 6        # synaptic input and threshold are MSB-aligned by 6 bits
SIGN_MODES = ("", "mixed", "excitatory", "inhibitory")
#: the ``graph.meta`` key under which a quantised program keeps its quantisation table:
#: its presence is what says a graph is in Loihi numerics (the simulator checks it)
PROGRAM_META = "loihi"


# -- numerics shared with the quantiser and the Lava lowering ---------------------------
def sign_mode(weight: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: excitatory if no weight is negative, inhibitory if
    none is positive, mixed otherwise."""
    if weight.size == 0 or weight.min() >= 0:
        return "excitatory"
    return "inhibitory" if weight.max() <= 0 else "mixed"


def lava_weights(weight: np.ndarray, num_weight_bits: int = 8, mode: str = "") -> np.ndarray:
    """The weights a Dense synapse really uses: Lava's ``clip_weights`` to 8 bits, then
    ``truncate_weights`` to ``num_weight_bits`` (int64)."""
    w = np.asarray(weight).astype(np.int64)
    mode = mode or sign_mode(w)
    mixed = mode == "mixed"
    if mode == "inhibitory":
        w = -w
    w = np.clip(w, -256 if mixed else 0, 255)
    drop = 8 - num_weight_bits + int(mixed)
    w = (w >> drop) << drop
    return -w if mode == "inhibitory" else w


def shift(x: np.ndarray, exp: int | np.ndarray) -> np.ndarray:
    """``x << exp``, or ``x >> -exp`` (arithmetic, floors) where ``exp`` is negative."""
    exp = np.asarray(exp)
    return np.where(exp >= 0, np.left_shift(x, np.maximum(exp, 0)), np.right_shift(x, np.maximum(-exp, 0)))


def wrap_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap into ``bits`` (lava/proc/conv/utils.py, ``signed_clamp``)."""
    base = 1 << bits
    return (x + base // 2) % base - base // 2


def delay_one_step(a: np.ndarray) -> np.ndarray:
    """``out[0] = 0, out[t] = a[t-1]``: what a Lava synapse sends at step t."""
    out = np.zeros_like(a)
    out[1:] = a[:-1]
    return out


def _as_input(x: np.ndarray, node) -> np.ndarray:
    if node.attrs["num_message_bits"] == 0:
        return (x != 0).astype(np.int64)          # a spike is a spike, whatever its value
    return np.asarray(x).astype(np.int64)


def exact_dtype(x: np.ndarray, w: np.ndarray, fan_in: int):
    """float64 when every partial sum of ``x`` times ``w`` is an integer below 2^53, so BLAS
    computes it exactly (as Lava's own Conv does); int64 otherwise."""
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * fan_in
    return np.float64 if bound < 2.0 ** 53 else np.int64


def _timed(node, ins):
    if not ins[0].timed:
        raise ValueError(f"{node.op} {node.name!r} reads {ins[0].name!r}, which has no time axis")
    return ["TN"]


def _int32(node, ins):
    return ["int32"]


def _float32(node, ins):
    return ["float32"]


_SYN_ATTRS = {"weight_exp": Attr(int, 0), "num_weight_bits": Attr(int, 8), "num_message_bits": Attr(int, 0)}


# -- on chip ---------------------------------------------------------------------------
@op("loihi_dense", arity=1, shape=_linear_shape, flops=_linear_flops, fanout=_linear_fanout, dtype=_int32,
    axes=_timed,
    traits={SYNAPTIC, TEMPORAL}, attrs={**_SYN_ATTRS, "sign_mode": Attr(str, "")}, params=("weight",))
def loihi_dense(node, arrays):
    """Lava Dense (fixed_pt): ``x W'ᵀ`` over the last axis, shifted by ``weight_exp``,
    one step late; W' is W clipped and truncated as Lava does (module doc)."""
    mode = node.attrs["sign_mode"]
    if mode not in SIGN_MODES:
        raise ValueError(f"sign_mode must be one of {SIGN_MODES[1:]}, got {mode!r}")
    w = lava_weights(node.params["weight"], node.attrs["num_weight_bits"], mode)
    x = _as_input(arrays[0], node)
    dtype = exact_dtype(x, w, w.shape[1])
    acc = np.matmul(x.astype(dtype), w.T.astype(dtype)).astype(np.int64)
    acc = shift(acc, node.attrs["weight_exp"])
    return [delay_one_step(acc.astype(np.int32))]


def _loihi_conv_shape(node, ins):
    # uneven pads are valid here (a core's tile at the border of a partitioned layer);
    # Lava's Conv process pads both sides alike, which its lowering checks
    if node.attrs["weight_exp"] < 0:
        raise ValueError("loihi_conv weight_exp must be >= 0 (Lava's Conv has no right shift)")
    return _conv_shape(node, ins)


@op("loihi_conv", arity=1, shape=_loihi_conv_shape, flops=_conv_flops, fanout=_conv_fanout, dtype=_int32,
    axes=_timed,
    traits={SYNAPTIC, TEMPORAL}, attrs={**_CONV_ATTRS, **_SYN_ATTRS}, params=("weight",))
def loihi_conv(node, arrays):
    """Lava Conv (fixed_pt): integer cross-correlation (ONNX layout and padding), the
    kernel shifted by ``weight_exp``, wrapped to 24 bits, one step late."""
    x = arrays[0]
    w = np.left_shift(node.params["weight"].astype(np.int64), node.attrs["weight_exp"])
    s, p, d = conv_geometry(node, w.ndim - 2)
    t, n = x.shape[:2]
    x = _as_input(x, node)
    dtype = exact_dtype(x, w, prod(w.shape[1:]))
    acc = conv_nd(x.reshape(t * n, *x.shape[2:]).astype(dtype), w.astype(dtype), None, s, p, d,
                  node.attrs["group"]).astype(np.int64)
    acc = wrap_signed(acc, UV_BITS).astype(np.int32)
    return [delay_one_step(acc.reshape(t, n, *acc.shape[1:]))]


def _lif_shape(node, ins):
    for name in ("bias_mant", "bias_exp"):
        if name in node.params:
            try:
                np.broadcast_shapes(node.params[name].shape, ins[0].shape)
            except ValueError:
                raise ValueError(f"{name} {node.params[name].shape} does not broadcast to {ins[0].shape}") from None
    return same_shape(node, ins)


def lif_bias(node, shape) -> np.ndarray:
    """``bias_mant << bias_exp`` per neuron, broadcast to ``shape`` (int32, as Lava)."""
    mant = node.params.get("bias_mant", np.zeros((), np.int32)).astype(np.int32)
    exp = node.params.get("bias_exp", np.zeros((), np.int32)).astype(np.int32)
    return np.broadcast_to(shift(mant, exp).astype(np.int32), shape)


def _decay(x: np.ndarray, keep: int) -> np.ndarray:
    """``sign(x·keep) · (|x·keep| >> 12)``: Loihi's decay, rounding toward zero."""
    prod_ = x.astype(np.int64) * keep
    return (np.sign(prod_) * (np.abs(prod_) >> DECAY_SHIFT)).astype(np.int32)


@op("loihi_lif", arity=1, shape=_lif_shape, kind=lambda node, ins: [SPIKE], dtype=_float32, axes=_timed,
    traits={NEURON, TEMPORAL},
    attrs={"du": Attr(int, 4095), "dv": Attr(int, 0), "vth": Attr(int, 10), "start": Attr(int, 0)},
    optional_params=("bias_mant", "bias_exp"))
def loihi_lif(node, arrays):
    """Lava LIF, bit-accurate (PyLifModelBitAcc; PyLifResetModelBitAcc when ``start`` > 0):
    24-bit current and voltage with 12-bit decays, strict threshold ``v > vth << 6``,
    reset to 0 (module doc)."""
    x = arrays[0]
    du, dv, vth = (int(node.attrs[k]) for k in ("du", "dv", "vth"))
    keep_u, keep_v = (1 << DECAY_SHIFT) - (du + 1), (1 << DECAY_SHIFT) - dv
    limit = 1 << (UV_BITS - 1)
    bias = lif_bias(node, x.shape[2:])
    threshold = np.int64(vth) << VTH_SHIFT
    u = np.zeros(x.shape[1:], np.int32)
    v = np.zeros(x.shape[1:], np.int32)
    out = np.zeros(x.shape, np.float32)
    start = int(node.attrs["start"])
    for t in range(x.shape[0]):
        if t == start:
            u[...] = 0
            v[...] = 0
        cur = _decay(u, keep_u) + np.left_shift(x[t].astype(np.int32), ACT_SHIFT)
        wrapped = np.where(cur > limit, cur - 2 * limit, cur)
        u = np.where(wrapped <= -limit, cur + 2 * limit, wrapped).astype(np.int32)
        v = np.clip(_decay(v, keep_v).astype(np.int64) + u + bias, -limit + 1, limit - 1).astype(np.int32)
        fired = v > threshold
        v[fired] = 0
        out[t] = fired
    return [out]


# -- on the host -------------------------------------------------------------------------
def _encode_kind(node, ins):
    lo, hi = node.attrs["lo"], node.attrs["hi"]
    return [Kind.of(range(lo, hi + 1)) if hi - lo < 4096 else ANALOG]


@op("loihi_encode", arity=1, shape=same_shape, kind=_encode_kind, dtype=_int32,
    attrs={"scale": Attr(float), "lo": Attr(int), "hi": Attr(int)})
def loihi_encode(node, arrays):
    """Float input -> the integer levels a source injects as graded spikes:
    ``clip(rint(x · scale), lo, hi)`` (half to even)."""
    x = arrays[0].astype(np.float64) * float(node.attrs["scale"])
    return [np.clip(np.rint(x), node.attrs["lo"], node.attrs["hi"]).astype(np.int32)]


def _dequant_shape(node, ins):
    if "bias" in node.params:
        np.broadcast_shapes(node.params["bias"].shape, ins[0].shape)
    return same_shape(node, ins)


def _dequant_kind(node, ins):
    """A multi-threshold neuron's payload read back without a bias is still its graded
    spikes (scaled): host readers (a spiking matmul) keep seeing events, not currents."""
    k = ins[0].kind
    if not k.is_graded_spike or "bias" in node.params:
        return [ANALOG]
    scale = float(node.attrs["scale"])
    return [Kind(None if k.levels is None else Kind.of(v * scale for v in k.levels).levels, k.spike_levels)]


@op("loihi_dequant", arity=1, shape=_dequant_shape, kind=_dequant_kind, dtype=_float32, attrs={"scale": Attr(float)},
    optional_params=("bias",), flops=lambda node, ins, outs: prod(ins[0].shape))
def loihi_dequant(node, arrays):
    """Integer currents read off the chip -> float: ``a · scale + bias`` (bias per sample,
    broadcast; Lava's synapses have none)."""
    y = arrays[0].astype(np.float64) * float(node.attrs["scale"])
    if "bias" in node.params:
        y = y + node.params["bias"]
    return [y.astype(np.float32)]


def _timed_only(node, ins):
    if not ins[0].timed:
        raise ValueError(f"{node.op} reads {ins[0].name!r}, which has no time axis")
    return ["TN"]


def _delay_shape(node, ins):
    if node.attrs["steps"] < 0:
        raise ValueError(f"steps={node.attrs['steps']} is negative: a delay cannot look ahead")
    return same_shape(node, ins)


def _delay_kind(node, ins):
    """The input's levels and the zeros of the first ``steps`` steps."""
    return [kinds.join(ins[0].kind, Kind.of([0.0]))]


@op("delay", arity=1, shape=_delay_shape, kind=_delay_kind, axes=_timed_only, traits={TEMPORAL},
    attrs={"steps": Attr(int)})
def delay(node, arrays):
    """A fixed delay of ``steps`` time steps: ``out[t] = x[t - steps]``, zeros for
    ``t < steps`` ([T, N, ...] -> [T, N, ...]; stateful: a FIFO of ``steps`` values).

    Loihi's synapses deliver one step late, so a value lags its float counterpart by the
    synapses on its longest path (``snnc.backends.loihi.latency``); the quantiser's
    ``lag-align`` rule delays the less-lagged inputs of a multi-input host op with it, so
    that ``x(t - 7) + y(t - 9)`` becomes ``x(t - 9) + y(t - 9)``: the float ``x(t) + y(t)``,
    9 steps late."""
    x, k = arrays[0], node.attrs["steps"]
    out = np.zeros_like(x)
    if k < x.shape[0]:
        out[k:] = x[:x.shape[0] - k]
    return [out]
