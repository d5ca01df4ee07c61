"""The ``snnc`` dialect's SIT ops (``../shared/seeds/001_*``): Spiking-Softmax as two nodes.

SIT's Spiking-Softmax (Eq. 1) is written as its two neurons, one ``snnc`` node each, with a
local FunctionProto in standard ONNX ops (opset 18):

- ``SIExp(X)`` (attrs ``K``; ``T``, ``h``, ``d``: the fitted tables, K floats each): the
  Spiking Exponential Neuron (Eq. 2-4), elementwise over any shape. A Scan over the K
  inner steps with state ``V: [M]`` (M = every element) and the tables ``T(t)``, ``h(t)``
  as scan inputs: ``z = V ≥ T(t)``, ``V = Where(z, V − h(t), V)`` — op for op as
  :meth:`snnc.nn.SIExp.spike_train`, so the spikes are the same. The output is
  ``ReduceSum(d ⊙ z, axis 0)`` (Eq. 4).
- ``SINorm(W)`` (attrs ``axis``, ``n_spike``): the Spiking Collaboration Normalized Neuron
  in its Fig. 5b form (Eq. 5 and 10): ``V_th = ReduceSum(W, axis)``,
  ``out = max(0, n_spike·W / V_th)``, and 0 where ``V_th ≤ 0`` (no SI-exp neuron fired).
  The output is the spike count; Spiking-Softmax is ``out / n_spike`` (a plain ``Div``,
  omitted when ``n_spike = 1``, as the conversion writes it).

Neither op sees the SNN's time axis: both are stateless per time step (the K inner steps
of SI-exp are its own, run within one step of the network), so the nodes read any layout,
``[T, N, ...]`` or ``[T·N, ...]`` alike. The stepped SI-norm of Fig. 5a
(``SINorm(timesteps=T)``, count ``floor(T·w/V_th)``: a different function) has no node of
its own: torch.onnx writes its loop unrolled in standard ops.
"""

from __future__ import annotations

from onnx import AttributeProto, FunctionProto, TensorProto, helper

from snnc.onnx.function_nodes import attr_const, node as _n

_FLOAT, _INT, _FLOATS = AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.FLOATS


#: ONNX op type -> (IR op, FunctionProto doc); attributes and arity are the IR op's
#: (:mod:`snnc.ir.ops.sit`), read by :data:`snnc.onnx.dialect.SCHEMAS`
OPS = {
    "SIExp": ("si_exp", "SIT SI-exp neuron (Eq. 2-4): K inner steps, z = v >= T(t), v -= h(t)z, "
                        "out = sum d(t)z(t); elementwise, stateless over the network's T."),
    "SINorm": ("si_norm", "SIT SI-norm neuron, Fig. 5b (Eq. 5, 10): max(0, n_spike*w/sum_axis(w)), "
                          "0 where the sum is <= 0."),
}


def _vec(name: str, rank: int = 1):
    # anonymous dimensions (see snnc.onnx.dialect's docstring)
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * rank)


def _si_exp_step():
    """Scan body ``(V, T_t, h_t) -> (V', z)``: one inner step of SI-exp (Eq. 2-3)."""
    nodes = [_n("GreaterOrEqual", ["V", "T_t"], ["fired"]),          # Θ(v − T(t)), Θ(0) = 1
             _n("Cast", ["fired"], ["Z"], to=TensorProto.FLOAT),
             _n("Sub", ["V", "h_t"], ["V_fired"]),
             _n("Where", ["fired", "V_fired", "V"], ["V_next"])]       # v(t+1) = v(t) − h(t)z(t)
    return helper.make_graph(nodes, "SIExp_step", [_vec("V"), _vec("T_t", 0), _vec("h_t", 0)],
                             [_vec("V_next"), _vec("Z")])


def si_exp_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [
        attr_const("T_tab", "T", _FLOATS),
        attr_const("h_tab", "h", _FLOATS),
        attr_const("d_tab", "d", _FLOATS),
        _n("Shape", ["X"], ["x_shape"]),
        helper.make_node("Constant", [], ["m1"], value_ints=[-1], name="const_m1"),
        helper.make_node("Constant", [], ["ax0"], value_ints=[0], name="const_ax0"),
        helper.make_node("Constant", [], ["ax1"], value_ints=[1], name="const_ax1"),
        _n("Reshape", ["X", "m1"], ["V0"]),                                  # [M]
        helper.make_node("Scan", ["V0", "T_tab", "h_tab"], ["V_last", "Z"], num_scan_inputs=2,
                         body=_si_exp_step(), name="Scan_SIExp"),            # Z: [K, M]
        _n("Unsqueeze", ["d_tab", "ax1"], ["d_col"]),                       # [K, 1]
        _n("Mul", ["d_col", "Z"], ["DZ"]),
        _n("ReduceSum", ["DZ", "ax0"], ["S"], keepdims=0),                   # Σ_t d(t)z(t), Eq. 4
        _n("Reshape", ["S", "x_shape"], ["Y"]),
    ]
    return helper.make_function(domain, "SIExp", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)],
                                attributes=["K", "T", "h", "d"], doc_string=doc)


def si_norm_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [
        attr_const("axis_s", "axis", _INT),
        attr_const("n_spike", "n_spike", _FLOAT),
        helper.make_node("Constant", [], ["ax0"], value_ints=[0], name="const_ax0"),
        _n("Unsqueeze", ["axis_s", "ax0"], ["axes"]),
        _n("ReduceSum", ["X", "axes"], ["v_th"], keepdims=1),                 # Eq. 5
        helper.make_node("Constant", [], ["zero"], value_float=0.0, name="const_zero"),
        helper.make_node("Constant", [], ["one"], value_float=1.0, name="const_one"),
        _n("Greater", ["v_th", "zero"], ["ok"]),
        _n("Where", ["ok", "v_th", "one"], ["safe"]),
        _n("Mul", ["n_spike", "X"], ["nw"]),
        _n("Div", ["nw", "safe"], ["q"]),
        _n("Max", ["q", "zero"], ["out"]),                                    # Eq. 10
        _n("Where", ["ok", "out", "zero"], ["Y"]),
    ]
    return helper.make_function(domain, "SINorm", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)],
                                attributes=["axis", "n_spike"], doc_string=doc)


BUILDERS = {"SIExp": si_exp_function, "SINorm": si_norm_function}
