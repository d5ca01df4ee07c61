"""``snnc`` dialect ops for other frameworks' neurons whose semantics no LIF/IF expresses.

``Leaky`` (attrs ``beta``, ``threshold``, ``reset_mechanism``, ``reset_delay``) is
snnTorch's ``snn.Leaky`` (snnTorch 1.0, ``_neurons/leaky.py``), state ``U`` (0 at start),
per step, op for op as snnTorch computes it in float32:

    R  = U > θ                                  (the reset signal, from the stored U)
    U' = β·U + X − R·θ                          reset_mechanism 0: subtract
    U' = β·((1 − R)·U) + X                      1: zero
    U' = β·U + X                                2: none
    S  = U' > θ                                 (strict: snnTorch's Heaviside is x > 0)
    reset_delay = 0:  D = S − R;  U' ← U' − D·θ (subtract) or U' − D·U' (zero)

It differs from ``LIF`` in the strict ``>``, in the reset applied at the step *after* the
spike (default ``reset_delay``), where it is not decayed by β, and in β multiplying
(LIF divides by tau). The body is a Scan over ``[T, M]`` like LIF's
(:mod:`snnc.onnx.dialect`); multiplications by R, S, D in {-1, 0, 1} are exact.

``SpikingJellyLIF`` (attrs ``factor``, ``divide``, ``decay_input``, ``v_threshold``,
``v_reset``, ``soft_reset``) is the charge of SpikingJelly 2.0's ``LIFNode`` (``divide=1``,
factor τ) and ``ParametricLIFNode`` (``divide=0``, factor sigmoid(w)), ``_ops/lif|plif``,
where the dialect's ``LIF`` rounds differently (it multiplies by ``1 − 1/τ`` for a zero
reset without decay_input, and divides where PLIF multiplies); scale(y) = y/factor or
y·factor, V_r = 0 for the soft reset:

    decay_input:  H = V + scale(X − (V − V_r));   otherwise  H = V − scale(V − V_r) + X
    S = H >= v_threshold;  V = S ? (soft ? H − v_threshold : v_reset) : H   (as LIF)

``Synaptic`` (attrs ``alpha``, ``beta``, ``threshold``, ``reset_mechanism``,
``reset_delay``) is snnTorch's ``snn.Synaptic`` (``_neurons/synaptic.py``), states I, U = 0:

    R = U > θ;  I' = α·I + X;  U' = β·U + I'
    U' ← U' − R·θ (subtract) | U' − U'·R (zero: after the update, unlike Leaky's) | U' (none)
    S = U' > θ;  reset_delay = 0: D = S − R, U' ← U' − D·θ | U' − D·U'

``SinabsLIF`` (attrs ``alpha_mem``, ``norm_input``, ``threshold``, ``multi_spike``,
``max_spikes``, ``reset_to_value``, ``reset_amount``, ``min_v_mem``, ``has_min``) is
Sinabs' ``IAF``/``LIF`` (and their ``Squeeze`` forms; sinabs 3.1 ``layers/functional/lif.py``,
``activation/``), V = 0 at start:

    V' = α·V + X  (norm_input: α·V + (1 − α)·X);  IAF: α = 1
    S  = V' − θ >= 0 (SingleSpike)  |  (V' > 0)·⌊V'/θ⌋, capped at max_spikes (Multi/MaxSpike: a count)
    V  = V' − S·amount (MembraneSubtract)  |  V'·(S == 0) + amount (MembraneReset, as Sinabs adds it)
    V  = relu(V − min_v_mem) + min_v_mem   when has_min

``LIFBox`` (attrs ``dt_tau_inv``, ``v_leak``, ``v_th``, ``v_reset``, ``reset_subtract``)
is Norse's ``LIFBoxCell`` (Norse 1.1, ``functional/lif_box.py``): one Euler step of
``dv/dt = (v_leak − v + i)/τ_mem`` per time step, V = v_leak at start:

    V' = V + k·((X + v_leak) − V)          k = dt·(1/τ_mem), rounded as torch does
    Z  = V' > v_th                         (strict: Norse's Heaviside is x > 0)
    V  = (1 − Z)·V' + Z·v_reset            (reset_value), or (1 − Z)·V' + Z·(V' − v_th)

``LIFCurrent`` (attrs ``k_mem``, ``k_syn``, ``v_leak``, ``v_th``, ``v_reset``) is Norse's
``LIFCell``, the current-based (CUBA) LIF that is also Loihi's neuron, Norse 1.1
``functional/lif.py``; V = v_leak and I = 0 at start:

    I' = I + X;   V' = V + k_mem·((v_leak − V) + I')      k_mem = dt·τ_mem⁻¹
    I  = I' + k_syn·I'                                     k_syn = (−dt)·τ_syn⁻¹
    Z  = V' > v_th;   V = (1 − Z)·V' + Z·v_reset
"""

from __future__ import annotations

from onnx import AttributeProto, FunctionProto, GraphProto, NodeProto, TensorProto, helper

from snnc.onnx.function_nodes import attr_const, node as _n

_FLOAT, _INT = AttributeProto.FLOAT, AttributeProto.INT
RESET_MECHANISMS = {"subtract": 0, "zero": 1, "none": 2}


#: ONNX op type -> (IR op, FunctionProto doc); attributes and arity are the IR op's
#: (:mod:`snnc.ir.ops.frameworks`), read by :data:`snnc.onnx.dialect.SCHEMAS`
OPS = {
    "Leaky": ("leaky", "snnTorch Leaky over [T, ...]: U = beta*U + X - R*threshold, fires on U > threshold."),
    "Synaptic": ("synaptic", "snnTorch Synaptic over [T, ...]: I = alpha*I + X, U = beta*U + I - R*threshold, "
                             "fires on U > threshold."),
    "LIFBox": ("lif_box", "Norse LIFBoxCell over [T, ...]: V += dt/tau_mem*(X + v_leak - V), fires on V > v_th."),
    "LIFCurrent": ("lif_current", "Norse LIFCell (current-based LIF) over [T, ...]: I += X; "
                                  "V += k_mem*((v_leak - V) + I); I += k_syn*I; fires on V > v_th."),
    "SpikingJellyLIF": ("sj_lif", "SpikingJelly 2.0 LIFNode/ParametricLIFNode over [T, ...]: "
                                  "H = V + scale(X - (V - V_r)) (or V - scale(V - V_r) + X), "
                                  "fires on H >= v_threshold."),
    "SinabsLIF": ("sinabs_lif", "Sinabs IAF/LIF over [T, ...]: V = alpha*V + X, spikes V >= threshold "
                                "(or floor(V/threshold) counts), subtract or reset, optional lower bound."),
}


def _scan_over_time(initial: list[str], body: GraphProto) -> list[NodeProto]:
    """``Y`` from ``X: [T, ...]``: the body ``(states..., x_t) -> (states'..., y_t)`` scanned
    over T on ``X`` flattened to ``[T, M]``, each state starting at the scalar named in
    ``initial`` (broadcast to ``[M]``), ``Y`` reshaped back to ``X``'s shape."""
    nodes = [
        _n("Shape", ["X"], ["x_shape"]),
        helper.make_node("Constant", [], ["tm"], value_ints=[0, -1], name="const_tm"),
        _n("Reshape", ["X", "tm"], ["X_tm"]),
        _n("Shape", ["X_tm"], ["m"], start=1, end=2),
    ]
    states = [f"state{i}" for i in range(len(initial))]
    nodes += [_n("Expand", [init, "m"], [state]) for init, state in zip(initial, states)]
    nodes.append(helper.make_node("Scan", [*states, "X_tm"], [f"{st}_last" for st in states] + ["Y_tm"],
                                  num_scan_inputs=1, body=body, name="Scan_Y_tm"))
    nodes.append(_n("Reshape", ["Y_tm", "x_shape"], ["Y"]))
    return nodes


def _vector(name: str):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None])


def _fire_and_reset_now() -> list[NodeProto]:
    """snnTorch's firing on ``U1 > thr`` and, with ``reset_delay = 0``, the spike's reset
    now, less the one already applied for last step's (``D = S − R``): ``S``, ``U_next``."""
    return [
        _n("Greater", ["U1", "thr"], ["S_b"]), _n("Cast", ["S_b"], ["S"], to=TensorProto.FLOAT),
        _n("Sub", ["S", "R"], ["D"]),
        _n("Mul", ["D", "thr"], ["Dthr"]), _n("Sub", ["U1", "Dthr"], ["U2_sub"]),
        _n("Mul", ["D", "U1"], ["DU"]), _n("Sub", ["U1", "DU"], ["U2_zero"]),
        _n("Where", ["is_zero", "U2_zero", "U1"], ["U2_zn"]),
        _n("Where", ["is_sub", "U2_sub", "U2_zn"], ["U2"]),
        _n("Where", ["delay", "U1", "U2"], ["U_next"]),
    ]


def _step() -> GraphProto:
    nodes = [
        _n("Greater", ["U", "thr"], ["R_b"]), _n("Cast", ["R_b"], ["R"], to=TensorProto.FLOAT),
        _n("Mul", ["beta", "U"], ["bU"]), _n("Add", ["bU", "X"], ["base"]),
        _n("Mul", ["R", "thr"], ["Rthr"]), _n("Sub", ["base", "Rthr"], ["U_sub"]),          # subtract
        _n("Sub", ["one", "R"], ["keep"]), _n("Mul", ["keep", "U"], ["U_kept"]),            # zero
        _n("Mul", ["beta", "U_kept"], ["bU0"]), _n("Add", ["bU0", "X"], ["U_zero"]),
        _n("Where", ["is_zero", "U_zero", "base"], ["U_zn"]),
        _n("Where", ["is_sub", "U_sub", "U_zn"], ["U1"]),
        *_fire_and_reset_now(),
    ]
    return helper.make_graph(nodes, "Leaky_step", [_vector("U"), _vector("X")], [_vector("U_next"), _vector("S")])


def leaky_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [
        attr_const("beta", "beta", _FLOAT), attr_const("thr", "threshold", _FLOAT),
        attr_const("mech", "reset_mechanism", _INT), attr_const("delay_i", "reset_delay", _INT),
        helper.make_node("Constant", [], ["one"], value_float=1.0, name="const_one"),
        helper.make_node("Constant", [], ["zero"], value_float=0.0, name="const_zero"),
        helper.make_node("Constant", [], ["i0"], value_int=0, name="const_i0"),
        helper.make_node("Constant", [], ["i1"], value_int=1, name="const_i1"),
        _n("Equal", ["mech", "i0"], ["is_sub"]), _n("Equal", ["mech", "i1"], ["is_zero"]),
        _n("Cast", ["delay_i"], ["delay"], to=TensorProto.BOOL),
        *_scan_over_time(["zero"], _step()),
    ]
    return helper.make_function(domain, "Leaky", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)],
                                attributes=["beta", "threshold", "reset_mechanism", "reset_delay"], doc_string=doc)


def _lifbox_step() -> GraphProto:
    nodes = [
        _n("Add", ["X", "v_leak"], ["xl"]), _n("Sub", ["xl", "V"], ["drive"]),
        _n("Mul", ["k", "drive"], ["dv"]), _n("Add", ["V", "dv"], ["Vd"]),
        _n("Greater", ["Vd", "v_th"], ["Z_b"]), _n("Cast", ["Z_b"], ["Z"], to=TensorProto.FLOAT),
        _n("Sub", ["one", "Z"], ["keep"]), _n("Mul", ["keep", "Vd"], ["kept"]),
        _n("Mul", ["Z", "v_reset"], ["to_value"]),
        _n("Sub", ["Vd", "v_th"], ["Vsub"]), _n("Mul", ["Z", "Vsub"], ["to_sub"]),
        _n("Where", ["subtract", "to_sub", "to_value"], ["jump"]),
        _n("Add", ["kept", "jump"], ["V_next"]),
    ]
    return helper.make_graph(nodes, "LIFBox_step", [_vector("V"), _vector("X")], [_vector("V_next"), _vector("Z")])


def lifbox_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [
        attr_const("k", "dt_tau_inv", _FLOAT), attr_const("v_leak", "v_leak", _FLOAT), attr_const("v_th", "v_th", _FLOAT),
        attr_const("v_reset", "v_reset", _FLOAT), attr_const("sub_i", "reset_subtract", _INT),
        helper.make_node("Constant", [], ["one"], value_float=1.0, name="const_one"),
        _n("Cast", ["sub_i"], ["subtract"], to=TensorProto.BOOL),
        *_scan_over_time(["v_leak"], _lifbox_step()),
    ]
    return helper.make_function(domain, "LIFBox", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)],
                                attributes=["dt_tau_inv", "v_leak", "v_th", "v_reset", "reset_subtract"],
                                doc_string=doc)


def _lif_current_step() -> GraphProto:
    nodes = [
        _n("Add", ["I", "X"], ["I1"]),
        _n("Sub", ["v_leak", "V"], ["leak"]), _n("Add", ["leak", "I1"], ["drive"]),
        _n("Mul", ["k_mem", "drive"], ["dv"]), _n("Add", ["V", "dv"], ["Vd"]),
        _n("Mul", ["k_syn", "I1"], ["di"]), _n("Add", ["I1", "di"], ["I_next"]),
        _n("Greater", ["Vd", "v_th"], ["Z_b"]), _n("Cast", ["Z_b"], ["Z"], to=TensorProto.FLOAT),
        _n("Sub", ["one", "Z"], ["keep"]), _n("Mul", ["keep", "Vd"], ["kept"]),
        _n("Mul", ["Z", "v_reset"], ["jump"]), _n("Add", ["kept", "jump"], ["V_next"]),
    ]
    return helper.make_graph(nodes, "LIFCurrent_step", [_vector("V"), _vector("I"), _vector("X")],
                             [_vector("V_next"), _vector("I_next"), _vector("Z")])


def lif_current_function(opset: int, domain: str, doc: str) -> FunctionProto:
    names = ["k_mem", "k_syn", "v_leak", "v_th", "v_reset"]
    nodes = [attr_const(a, a, _FLOAT) for a in names] + [
        helper.make_node("Constant", [], ["one"], value_float=1.0, name="const_one"),
        helper.make_node("Constant", [], ["zero"], value_float=0.0, name="const_zero"),
        *_scan_over_time(["v_leak", "zero"], _lif_current_step()),
    ]
    return helper.make_function(domain, "LIFCurrent", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)], attributes=names, doc_string=doc)


def _synaptic_step() -> GraphProto:
    nodes = [
        _n("Greater", ["U", "thr"], ["R_b"]), _n("Cast", ["R_b"], ["R"], to=TensorProto.FLOAT),
        _n("Mul", ["alpha", "I"], ["aI"]), _n("Add", ["aI", "X"], ["I_next"]),
        _n("Mul", ["beta", "U"], ["bU"]), _n("Add", ["bU", "I_next"], ["base"]),
        _n("Mul", ["R", "thr"], ["Rthr"]), _n("Sub", ["base", "Rthr"], ["U_sub"]),
        _n("Mul", ["base", "R"], ["baseR"]), _n("Sub", ["base", "baseR"], ["U_zero"]),
        _n("Where", ["is_zero", "U_zero", "base"], ["U_zn"]),
        _n("Where", ["is_sub", "U_sub", "U_zn"], ["U1"]),
        *_fire_and_reset_now(),
    ]
    return helper.make_graph(nodes, "Synaptic_step", [_vector("I"), _vector("U"), _vector("X")],
                             [_vector("I_next"), _vector("U_next"), _vector("S")])


def synaptic_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [
        attr_const("alpha", "alpha", _FLOAT), attr_const("beta", "beta", _FLOAT), attr_const("thr", "threshold", _FLOAT),
        attr_const("mech", "reset_mechanism", _INT), attr_const("delay_i", "reset_delay", _INT),
        helper.make_node("Constant", [], ["zero"], value_float=0.0, name="const_zero"),
        helper.make_node("Constant", [], ["i0"], value_int=0, name="const_i0"),
        helper.make_node("Constant", [], ["i1"], value_int=1, name="const_i1"),
        _n("Equal", ["mech", "i0"], ["is_sub"]), _n("Equal", ["mech", "i1"], ["is_zero"]),
        _n("Cast", ["delay_i"], ["delay"], to=TensorProto.BOOL),
        *_scan_over_time(["zero", "zero"], _synaptic_step()),
    ]
    return helper.make_function(domain, "Synaptic", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)],
                                attributes=["alpha", "beta", "threshold", "reset_mechanism", "reset_delay"],
                                doc_string=doc)


def _sj_lif_step() -> GraphProto:
    def scale(y: str, out: str) -> list[NodeProto]:
        return [_n("Div", [y, "factor"], [f"{out}_div"]), _n("Mul", [y, "factor"], [f"{out}_mul"]),
                _n("Where", ["divide", f"{out}_div", f"{out}_mul"], [out])]
    nodes = [
        _n("Sub", ["V", "v_r"], ["d"]),
        _n("Sub", ["X", "d"], ["x_minus"]), *scale("x_minus", "sx"), _n("Add", ["V", "sx"], ["H_decay_input"]),
        *scale("d", "sd"), _n("Sub", ["V", "sd"], ["v_leaked"]), _n("Add", ["v_leaked", "X"], ["H_plain"]),
        _n("Where", ["decay", "H_decay_input", "H_plain"], ["H"]),
        _n("GreaterOrEqual", ["H", "v_th"], ["fired"]), _n("Cast", ["fired"], ["S"], to=TensorProto.FLOAT),
        _n("Sub", ["H", "v_th"], ["V_soft"]), _n("Where", ["soft", "V_soft", "v_reset"], ["V_fired"]),
        _n("Where", ["fired", "V_fired", "H"], ["V_next"]),
    ]
    return helper.make_graph(nodes, "SpikingJellyLIF_step", [_vector("V"), _vector("X")],
                             [_vector("V_next"), _vector("S")])


def sj_lif_function(opset: int, domain: str, doc: str) -> FunctionProto:
    nodes = [
        attr_const("factor", "factor", _FLOAT), attr_const("divide_i", "divide", _INT), attr_const("decay_i", "decay_input", _INT),
        attr_const("v_th", "v_threshold", _FLOAT), attr_const("v_reset", "v_reset", _FLOAT), attr_const("soft_i", "soft_reset", _INT),
        helper.make_node("Constant", [], ["zero"], value_float=0.0, name="const_zero"),
        _n("Cast", ["divide_i"], ["divide"], to=TensorProto.BOOL),
        _n("Cast", ["decay_i"], ["decay"], to=TensorProto.BOOL),
        _n("Cast", ["soft_i"], ["soft"], to=TensorProto.BOOL),
        _n("Where", ["soft", "zero", "v_reset"], ["v_r"]),
        *_scan_over_time(["v_r"], _sj_lif_step()),
    ]
    return helper.make_function(domain, "SpikingJellyLIF", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)],
                                attributes=["factor", "divide", "decay_input", "v_threshold", "v_reset", "soft_reset"],
                                doc_string=doc)


def _sinabs_step() -> GraphProto:
    nodes = [
        _n("Sub", ["one", "alpha"], ["one_minus_a"]), _n("Mul", ["one_minus_a", "X"], ["X_norm"]),
        _n("Where", ["norm", "X_norm", "X"], ["drive"]),
        _n("Mul", ["alpha", "V"], ["aV"]), _n("Add", ["aV", "drive"], ["V1"]),
        _n("Sub", ["V1", "thr"], ["over"]), _n("GreaterOrEqual", ["over", "zero"], ["S1_b"]),
        _n("Cast", ["S1_b"], ["S1"], to=TensorProto.FLOAT),
        _n("Greater", ["V1", "zero"], ["pos_b"]), _n("Cast", ["pos_b"], ["pos"], to=TensorProto.FLOAT),
        _n("Div", ["V1", "thr"], ["q"]), _n("Floor", ["q"], ["q_int"]), _n("Mul", ["pos", "q_int"], ["Sm"]),
        _n("Min", ["Sm", "cap"], ["Sm_cap"]), _n("Where", ["capped", "Sm_cap", "Sm"], ["S_multi"]),
        _n("Where", ["multi", "S_multi", "S1"], ["S"]),
        _n("Mul", ["S", "amount"], ["S_amount"]), _n("Sub", ["V1", "S_amount"], ["V_sub"]),
        _n("Equal", ["S", "zero"], ["quiet_b"]), _n("Cast", ["quiet_b"], ["quiet"], to=TensorProto.FLOAT),
        _n("Mul", ["V1", "quiet"], ["V_kept"]), _n("Add", ["V_kept", "amount"], ["V_val"]),
        _n("Where", ["to_value", "V_val", "V_sub"], ["V2"]),
        _n("Sub", ["V2", "v_min"], ["above"]), _n("Relu", ["above"], ["above_r"]),
        _n("Add", ["above_r", "v_min"], ["V3"]),
        _n("Where", ["has_min", "V3", "V2"], ["V_next"]),
    ]
    return helper.make_graph(nodes, "SinabsLIF_step", [_vector("V"), _vector("X")], [_vector("V_next"), _vector("S")])


def sinabs_function(opset: int, domain: str, doc: str) -> FunctionProto:
    names = ["alpha_mem", "norm_input", "threshold", "multi_spike", "max_spikes", "reset_to_value", "reset_amount",
             "min_v_mem", "has_min"]
    local = {"alpha_mem": "alpha", "norm_input": "norm_i", "threshold": "thr", "multi_spike": "multi_i",
             "max_spikes": "max_i", "reset_to_value": "to_value_i", "reset_amount": "amount", "min_v_mem": "v_min",
             "has_min": "has_min_i"}
    kinds = {"norm_input": _INT, "multi_spike": _INT, "max_spikes": _INT, "reset_to_value": _INT, "has_min": _INT}
    nodes = [attr_const(local[a], a, kinds.get(a, _FLOAT)) for a in names] + [
        helper.make_node("Constant", [], ["one"], value_float=1.0, name="const_one"),
        helper.make_node("Constant", [], ["zero"], value_float=0.0, name="const_zero"),
        helper.make_node("Constant", [], ["i0"], value_int=0, name="const_i0"),
        *[_n("Cast", [f"{b}_i"], [b], to=TensorProto.BOOL) for b in ("norm", "multi", "to_value", "has_min")],
        _n("Greater", ["max_i", "i0"], ["capped"]), _n("Cast", ["max_i"], ["cap"], to=TensorProto.FLOAT),
        *_scan_over_time(["zero"], _sinabs_step()),
    ]
    return helper.make_function(domain, "SinabsLIF", ["X"], ["Y"], nodes,
                                opset_imports=[helper.make_opsetid("", opset)], attributes=names, doc_string=doc)


BUILDERS = {"SinabsLIF": sinabs_function, "SpikingJellyLIF": sj_lif_function, "Leaky": leaky_function,
            "Synaptic": synaptic_function, "LIFBox": lifbox_function, "LIFCurrent": lif_current_function}
