"""The ``snnc`` dialect's ECMT conversion ops: schemas and function bodies.

ECMT (supplement ``000_*``) expresses a converted transformer with four stateful ops,
each one ``snnc`` node here, with a local FunctionProto in standard ONNX ops:

- ``MultiThreshold(X)`` (attrs ``levels``, ``gap``, ``theta_pos``, ``theta_neg``; the θ
  lists hold one value, or one per channel on axis 2 of ``[T, N, C, ...]``): the
  multi-threshold neuron (Section 4.3). A Scan over T with state ``V: [M]``; the level
  tables ``λ_k = θ·gap^k`` and bounds ``λ_k − θ/2`` are ``[levels, M]`` and ride along as
  pass-through Scan states. The fired level is ``ReduceMax(Where(V ≥ bound, λ, 0))``: the
  levels ascend in k, so the maximum is the largest level reached, picked exactly, never
  recomputed — spike for spike equal to :class:`snnc.nn.MultiThreshold`.
- ``CumMean(X)``: ``CumSum(X, 0) / t`` (supplement Eq. 2).
- ``Delta(Z)``: ``t·Z(t) − (t−1)·Z(t−1)`` (the inverse of CumMean; Theorem 1's outer part).
- ``SpikingMatMul(A, B)``: Theorem 2, Eq. 5-7 in closed form:
  ``S_K(t) = S_A(t) @ S_B(t)``, ``O(t) = S_K(t)/t − S_K(t−1)/(t−1)``.

ExpectationCompensation is ``CumMean → f → Delta`` (Theorem 1), so it needs no op.
The scales ``gap^k`` are running float32 products (1, gap, gap·gap, ...: a Scan), as the
PyTorch module and the IR reference compute them: a float32 Mul rounds the same on every
runtime, a Pow does not (onnxruntime's differs from libm's by an ulp for gap 1.7).
"""

from __future__ import annotations

from onnx import AttributeProto, FunctionProto, NodeProto, TensorProto, helper

from snnc.onnx.function_nodes import attr_const, node as _n

_FLOAT, _INT, _FLOATS = AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.FLOATS


#: ONNX op type -> (IR op, FunctionProto doc); attributes and arity are the IR op's
#: (:mod:`snnc.ir.ops.conversion`), read by :data:`snnc.onnx.dialect.SCHEMAS`
OPS = {
    "MultiThreshold": ("multi_threshold", "ECMT multi-threshold neuron over [T, N, C, ...]: one signed graded "
                                          "spike ±θ·gap^k per step."),
    "CumMean": ("cum_mean", "Running mean over T: S(t)/t (ECMT supplement Eq. 2)."),
    "Delta": ("delta", "t·z(t) − (t−1)·z(t−1) over T (ECMT Theorem 1)."),
    "SpikingMatMul": ("spiking_matmul", "ECMT Theorem 2: S_A(t)@S_B(t)/t − S_A(t−1)@S_B(t−1)/(t−1)."),
}


def _ints(out: str, values: list[int]) -> NodeProto:
    return helper.make_node("Constant", [], [out], value_ints=values, name=f"const_{out}")


def _time_index(x: str, p: str) -> list[NodeProto]:
    """``{p}t``: float ``[T, 1, ..., 1]`` (rank of x) holding t = 1..T."""
    return [
        _n("Shape", [x], [f"{p}shape"]),
        _n("Shape", [x], [f"{p}T"], start=0, end=1),
        _n("Shape", [f"{p}shape"], [f"{p}rank"]),
        _ints(f"{p}one", [1]),
        _n("Sub", [f"{p}rank", f"{p}one"], [f"{p}rest"]),
        _n("Expand", [f"{p}one", f"{p}rest"], [f"{p}ones"]),
        _n("Concat", [f"{p}T", f"{p}ones"], [f"{p}t_shape"], axis=0),
        _n("Squeeze", [f"{p}T"], [f"{p}T0"]),
        helper.make_node("Constant", [], [f"{p}i1"], value_int=1, name=f"const_{p}i1"),
        _n("Add", [f"{p}T0", f"{p}i1"], [f"{p}T1"]),
        _n("Range", [f"{p}i1", f"{p}T1", f"{p}i1"], [f"{p}range"]),
        _n("Cast", [f"{p}range"], [f"{p}range_f"], to=TensorProto.FLOAT),
        _n("Reshape", [f"{p}range_f", f"{p}t_shape"], [f"{p}t"]),
    ]


def _shift_time(x: str, out: str) -> list[NodeProto]:
    """``out(t) = x(t−1)``, ``out(1) = 0``, along axis 0."""
    return [
        _ints(f"{out}_0", [0]), _ints(f"{out}_1", [1]), _ints(f"{out}_m1", [-1]),
        _n("Slice", [x, f"{out}_0", f"{out}_1", f"{out}_0"], [f"{out}_first"]),
        _n("Shape", [f"{out}_first"], [f"{out}_first_shape"]),
        helper.make_node("ConstantOfShape", [f"{out}_first_shape"], [f"{out}_zeros"],
                         value=helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0]),
                         name=f"ConstantOfShape_{out}"),
        _n("Slice", [x, f"{out}_0", f"{out}_m1", f"{out}_0"], [f"{out}_head"]),
        _n("Concat", [f"{out}_zeros", f"{out}_head"], [out], axis=0),
    ]


def _function(op: str, inputs: list[str], nodes: list[NodeProto], attributes: list[str], doc: str,
              opset: int, domain: str) -> FunctionProto:
    return helper.make_function(domain, op, inputs, ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)],
                                attributes=attributes, doc_string=doc)


def cum_mean_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [_n("Constant", [], ["axis0"], value_int=0),
             _n("CumSum", ["X", "axis0"], ["S"]),
             *_time_index("X", "x_"),
             _n("Div", ["S", "x_t"], ["Y"])]
    return _function("CumMean", ["X"], nodes, [], doc, opset, domain)


def delta_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [*_time_index("X", "x_"),
             _n("Mul", ["x_t", "X"], ["TZ"]),
             *_shift_time("TZ", "prev"),
             _n("Sub", ["TZ", "prev"], ["Y"])]
    return _function("Delta", ["X"], nodes, [], doc, opset, domain)


def spiking_matmul_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [_n("Constant", [], ["axis0"], value_int=0),
             _n("CumSum", ["A", "axis0"], ["SA"]),
             _n("CumSum", ["B", "axis0"], ["SB"]),
             _n("MatMul", ["SA", "SB"], ["SK"]),                   # S_K(t) = S_A(t) S_B(t), Eq. 6
             *_time_index("SK", "k_"),
             _n("Div", ["SK", "k_t"], ["Q"]),                       # S_K(t)/t
             *_shift_time("Q", "Q_prev"),
             _n("Sub", ["Q", "Q_prev"], ["Y"])]                     # Eq. 5
    return _function("SpikingMatMul", ["A", "B"], nodes, [], doc, opset, domain)


def _vec(name: str, rank: int = 1):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * rank)


def _multi_threshold_step():
    """Scan body ``(V, Lp, Bp, Ln, Bn, X) -> (V', Lp, Bp, Ln, Bn, S)``."""
    def side(h: str, table: str, bound: str, out: str) -> list[NodeProto]:
        return [_n("Unsqueeze", [h, "b_ax0"], [f"{out}_h"]),
                _n("GreaterOrEqual", [f"{out}_h", bound], [f"{out}_hit"]),         # [n, M]
                _n("Where", [f"{out}_hit", table, "b_zero"], [f"{out}_sel"]),
                _n("ReduceMax", [f"{out}_sel", "b_ax0"], [out], keepdims=0)]        # largest level hit
    nodes = [_ints("b_ax0", [0]),
             helper.make_node("Constant", [], ["b_zero"], value_float=0.0, name="const_b_zero"),
             _n("Add", ["V", "X"], ["H"]),
             _n("Neg", ["H"], ["H_neg"]),
             *side("H", "Lp", "Bp", "sp"),
             *side("H_neg", "Ln", "Bn", "sn"),
             _n("Greater", ["sp", "b_zero"], ["fired_pos"]),
             _n("Sub", ["b_zero", "sn"], ["minus_sn"]),
             _n("Where", ["fired_pos", "sp", "minus_sn"], ["S"]),
             _n("Sub", ["H", "S"], ["V_next"])]
    passes = [_n("Identity", [t], [f"{t}_out"]) for t in ("Lp", "Bp", "Ln", "Bn")]
    tables = [_vec(t, 2) for t in ("Lp", "Bp", "Ln", "Bn")]
    return helper.make_graph(nodes + passes, "MultiThreshold_step",
                             [_vec("V"), *tables, _vec("X")],
                             [_vec("V_next"), *[_vec(f"{t}_out", 2) for t in ("Lp", "Bp", "Ln", "Bn")],
                              _vec("S")])


def _powers_step():
    """Scan body ``(s, g, k) -> (s·g, g, s)``: the scales 1, g, g·g, ... in float32."""
    nodes = [_n("Mul", ["p_s", "p_g"], ["p_s_next"]), _n("Identity", ["p_g"], ["p_g_out"]),
             _n("Identity", ["p_s"], ["p_s_scan"])]
    return helper.make_graph(nodes, "MultiThreshold_scales", [_vec("p_s"), _vec("p_g"), _vec("p_k")],
                             [_vec("p_s_next"), _vec("p_g_out"), _vec("p_s_scan")])


def _tables(sign: str) -> list[NodeProto]:
    """``L{sign}, B{sign}: [levels, M]``: θ broadcast over X[0], times gap^k; minus θ/2."""
    th = f"theta_{sign}"
    return [
        attr_const(th, "theta_" + {"p": "pos", "n": "neg"}[sign], _FLOATS),
        _n("Reshape", [th, "theta_shape"], [f"{th}_b"]),                   # [C, 1, ...] or [1, ...]
        _n("Expand", [f"{th}_b", "x0_shape"], [f"{th}_x"]),                 # [N, C, ...]
        _n("Reshape", [f"{th}_x", "m1"], [f"{th}_m"]),                      # [M]
        _n("Unsqueeze", [f"{th}_m", "ax0"], [f"{th}_1m"]),                   # [1, M]
        _n("Mul", ["scale_n1", f"{th}_1m"], [f"L{sign}"]),                  # λ_k = gap^k·θ
        _n("Div", [f"{th}_1m", "two"], [f"{th}_half"]),
        _n("Sub", [f"L{sign}", f"{th}_half"], [f"B{sign}"]),                # λ_k − θ/2
    ]


def multi_threshold_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [
        attr_const("n_levels", "levels", _INT),
        attr_const("gap", "gap", _FLOAT),
        _ints("ax0", [0]), _ints("m1", [-1]), _ints("one", [1]), _ints("three", [3]),
        helper.make_node("Constant", [], ["two"], value_float=2.0, name="const_two"),
        helper.make_node("Constant", [], ["zero_i"], value_int=0, name="const_zero_i"),
        helper.make_node("Constant", [], ["one_i"], value_int=1, name="const_one_i"),
        # gap^k, k = 0..n-1, as a column [n, 1]
        _n("Range", ["zero_i", "n_levels", "one_i"], ["k"]),
        _n("Cast", ["k"], ["k_f"], to=TensorProto.FLOAT),
        _n("Unsqueeze", ["k_f", "one"], ["k_n1"]),                          # [n, 1]: one step per k
        _n("Unsqueeze", ["gap", "ax0"], ["gap_1"]),                          # [1]
        helper.make_node("Constant", [], ["one_f1"], value_floats=[1.0], name="const_one_f1"),
        helper.make_node("Scan", ["one_f1", "gap_1", "k_n1"], ["scale_last", "gap_last", "scale_n1"],
                         num_scan_inputs=1, body=_powers_step(), name="Scan_scales"),  # [n, 1]
        # shapes: X [T, N, C, rest...]; θ reshaped to [C, 1 * len(rest)]
        _n("Shape", ["X"], ["x_shape"]),
        _n("Shape", ["X"], ["x0_shape"], start=1),
        _n("Shape", ["x_shape"], ["rank"]),
        _n("Sub", ["rank", "three"], ["n_rest_raw"]),
        _n("Max", ["n_rest_raw", "ax0"], ["n_rest"]),
        _n("Expand", ["one", "n_rest"], ["ones_rest"]),
        _n("Concat", ["m1", "ones_rest"], ["theta_shape"], axis=0),
        *_tables("p"), *_tables("n"),
        _ints("tm", [0, -1]),
        _n("Reshape", ["X", "tm"], ["X_tm"]),                               # [T, M]
        _n("Shape", ["X_tm"], ["m"], start=1, end=2),
        helper.make_node("Constant", [], ["zero_f"], value_float=0.0, name="const_zero_f"),
        _n("Expand", ["zero_f", "m"], ["V0"]),
        helper.make_node("Scan", ["V0", "Lp", "Bp", "Ln", "Bn", "X_tm"],
                         ["V_last", "Lp_last", "Bp_last", "Ln_last", "Bn_last", "S_tm"],
                         num_scan_inputs=1, body=_multi_threshold_step(), name="Scan_S"),
        _n("Reshape", ["S_tm", "x_shape"], ["Y"]),
    ]
    return _function("MultiThreshold", ["X"], nodes, ["levels", "gap", "theta_pos", "theta_neg"],
                     doc, opset, domain)


def output_shape(op_type: str, shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    """SpikingMatMul's output shape (numpy matmul broadcasting); None: the input's shape."""
    if op_type != "SpikingMatMul":
        return None
    import numpy as np

    from snnc.ir.errors import SnncError

    (a, b) = shapes
    if len(a) < 3 or len(b) < 3 or a[-1] != b[-2]:
        raise SnncError(f"SpikingMatMul of {list(a)} and {list(b)}: inner dimensions differ")
    return (*np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])), a[-2], b[-1])


BUILDERS = {"MultiThreshold": multi_threshold_function, "CumMean": cum_mean_function,
            "Delta": delta_function, "SpikingMatMul": spiking_matmul_function}
