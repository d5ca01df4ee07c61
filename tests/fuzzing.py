"""A seeded mutator over small valid models (issue 17): ONNX files and IR JSON
documents, mutated by bit flips, truncations and structured edits (initializer dtype,
dims and data; attribute values; node inputs/outputs and op types; graph input shapes
and types; snnc.* metadata; IR fields deleted, swapped or given hostile values). Every
mutant goes through the CLI in-process; the only acceptable outcomes are exit codes 0,
1 (a check found problems) and 2 (a refused input) -- never 70, snnc's "internal
error", and never a partial output. Shared by tests/test_fuzz.py and benchmarks/fuzz.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from snnc.onnx.dialect import function_protos

HOSTILE_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e30, 1.0, 2.0]
HOSTILE_INTS = [-1, 0, 1, 2, 3, 2**31, 2**40, 2**62]
OPS = ["Relu", "Conv", "MatMul", "Reshape", "Add", "Gather", "Concat", "Frobnicate", "LIF", "Softmax", "Flatten"]


def _w(shape, seed, name):
    return numpy_helper.from_array(np.random.default_rng(seed).normal(size=shape).astype(np.float32), name)


def _model(nodes, inputs, inits, props=None, snn=False):
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    opsets = [helper.make_opsetid("", 18)] + ([helper.make_opsetid("snnc", 1)] if snn else [])
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, [out], initializer=inits), opset_imports=opsets,
                          functions=function_protos(["LIF"]) if snn else [])
    m.ir_version = 8
    if props:
        helper.set_model_props(m, props)
    return m


def seed_models() -> dict[str, onnx.ModelProto]:
    """Three small valid models: an MLP (ANN), a two-layer LIF SNN, a conv with folded
    shape arithmetic."""
    x2 = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    mlp = _model([helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
                  helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
                  helper.make_node("Relu", ["hb"], ["r"], name="relu1"),
                  helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")],
                 [x2], [_w((4, 8), 0, "w1"), _w((8,), 1, "b1"), _w((8, 3), 2, "w2")])
    lif = dict(domain="snnc", tau=2.0, v_threshold=1.0, v_reset=0.0, soft_reset=0, decay_input=1)
    xt = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "N", 4])
    snn = _model([helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
                  helper.make_node("LIF", ["h"], ["s"], name="lif1", **lif),
                  helper.make_node("MatMul", ["s", "w2"], ["h2"], name="fc2"),
                  helper.make_node("LIF", ["h2"], ["y"], name="lif2", **lif)],
                 [xt], [_w((4, 8), 3, "w1"), _w((8, 3), 4, "w2")],
                 props={"snnc.layout": '{"x": {"time_axis": 0, "batch_axis": 1}}', "snnc.timesteps": "4"}, snn=True)
    xc = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])
    conv = _model([helper.make_node("Conv", ["x", "wc"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                   helper.make_node("Relu", ["c"], ["r"], name="relu"),
                   helper.make_node("Shape", ["r"], ["shp"], name="shape"),
                   helper.make_node("Gather", ["shp", "zero"], ["n"], name="batch", axis=0),
                   helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"], name="unsq"),
                   helper.make_node("Concat", ["n1", "minus1"], ["target"], name="cat", axis=0),
                   helper.make_node("Reshape", ["r", "target"], ["f"], name="flat"),
                   helper.make_node("MatMul", ["f", "wf"], ["y"], name="fc")],
                  [xc], [_w((2, 1, 3, 3), 5, "wc"), numpy_helper.from_array(np.array(0, np.int64), "zero"),
                         numpy_helper.from_array(np.array([0], np.int64), "zero1"),
                         numpy_helper.from_array(np.array([-1], np.int64), "minus1"), _w((72, 3), 6, "wf")])
    return {"mlp": mlp, "snn": snn, "conv": conv}


def seed_ir(models: dict[str, onnx.ModelProto]) -> dict[str, str]:
    from snnc.ir.serialize import to_json
    from snnc.onnx.importer import import_onnx

    return {name: to_json(import_onnx(proto)) for name, proto in models.items()}


# -- byte-level ---------------------------------------------------------------------
def bit_flips(data: bytes, rng) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(len(b)))
        b[i] ^= 1 << int(rng.integers(8))
    return bytes(b)


def truncate(data: bytes, rng) -> bytes:
    return data[:int(rng.integers(len(data)))]


# -- ONNX structure -----------------------------------------------------------------
def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _onnx_edit(m: onnx.ModelProto, rng) -> str:
    g = m.graph
    kind = _pick(rng, ["init_dtype", "init_dims", "init_data", "attr", "node_io", "op_type", "input_shape",
                       "input_dtype", "metadata", "opset", "node_swap"])
    if kind.startswith("init") and g.initializer:
        t = _pick(rng, list(g.initializer))
        if kind == "init_dtype":
            t.data_type = int(rng.integers(0, 30))
        elif kind == "init_dims" and len(t.dims):
            t.dims[int(rng.integers(len(t.dims)))] = _pick(rng, HOSTILE_INTS)
        elif kind == "init_dims":
            t.dims.append(_pick(rng, HOSTILE_INTS))
        elif t.raw_data:
            if t.data_type == TensorProto.FLOAT and len(t.raw_data) >= 4 and rng.random() < 0.5:
                arr = np.frombuffer(t.raw_data[:len(t.raw_data) // 4 * 4], np.float32).copy()
                arr[int(rng.integers(arr.size))] = _pick(rng, HOSTILE_FLOATS)
                t.raw_data = arr.tobytes()
            else:
                t.raw_data = t.raw_data[:int(rng.integers(len(t.raw_data) + 1))]
    elif kind == "attr":
        nodes = [n for n in g.node if n.attribute]
        if nodes:
            a = _pick(rng, list(_pick(rng, nodes).attribute))
            if a.type == AttributeProto.FLOAT:
                a.f = _pick(rng, HOSTILE_FLOATS)
            elif a.type == AttributeProto.INT:
                a.i = min(_pick(rng, HOSTILE_INTS), 2**62)
            elif a.type == AttributeProto.INTS and len(a.ints):
                a.ints[int(rng.integers(len(a.ints)))] = _pick(rng, HOSTILE_INTS)
    elif kind == "node_io":
        n = _pick(rng, list(g.node))
        field_ = n.input if rng.random() < 0.6 else n.output
        if len(field_) and rng.random() < 0.5:
            del field_[int(rng.integers(len(field_)))]
        else:
            field_.append(_pick(rng, ["x", "y", "ghost", ""] + [i.name for i in g.initializer]))
    elif kind == "op_type":
        _pick(rng, list(g.node)).op_type = _pick(rng, OPS)
    elif kind == "input_shape":
        dims = g.input[0].type.tensor_type.shape.dim
        d = dims[int(rng.integers(len(dims)))]
        if rng.random() < 0.3:
            d.dim_param = "H"
        else:
            d.dim_value = _pick(rng, [0, 1, 3, 2**31, 2**40])
    elif kind == "input_dtype":
        g.input[0].type.tensor_type.elem_type = int(rng.integers(0, 30))
    elif kind == "metadata":
        key = _pick(rng, ["snnc.layout", "snnc.timesteps"])
        value = _pick(rng, ["[]", "-3", "1e8", "2.5", '{"x": 3}', '{"x": {"time_axis": 1, "batch_axis": 0}}',
                            "[" * 5000, "", "100000000"])
        helper.set_model_props(m, {**{p.key: p.value for p in m.metadata_props}, key: value})
    elif kind == "opset":
        m.opset_import[0].version = _pick(rng, [1, 7, 11, 13, 99])
    elif kind == "node_swap" and len(g.node) > 1:
        i, j = rng.choice(len(g.node), 2, replace=False)
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(g.node[int(i)])
        b.CopyFrom(g.node[int(j)])
        g.node[int(i)].CopyFrom(b)
        g.node[int(j)].CopyFrom(a)
    return kind


def mutate_onnx(proto: onnx.ModelProto, rng) -> tuple[bytes, str]:
    roll = rng.random()
    data = proto.SerializeToString()
    if roll < 0.2:
        return bit_flips(data, rng), "bit_flips"
    if roll < 0.3:
        return truncate(data, rng), "truncate"
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    kinds = [_onnx_edit(m, rng) for _ in range(int(rng.integers(1, 3)))]
    return m.SerializeToString(), "+".join(kinds)


# -- IR JSON --------------------------------------------------------------------------
HOSTILE_JSON = [math.nan, math.inf, -1, 0, 2**62, 1e300, "x", None, [], {}, [1, [2]], True]


def _ir_edit(doc: dict, rng) -> str:
    kind = _pick(rng, ["attr", "shape", "delete", "swap", "param", "op", "top", "value_field"])
    nodes = doc.get("nodes") or [{}]
    node = _pick(rng, nodes) if isinstance(nodes, list) and nodes else {}
    if kind == "attr" and isinstance(node, dict) and node.get("attrs"):
        node["attrs"][_pick(rng, list(node["attrs"]))] = _pick(rng, HOSTILE_JSON)
    elif kind == "shape" and doc.get("values"):
        v = _pick(rng, doc["values"])
        if v.get("shape"):
            v["shape"][int(rng.integers(len(v["shape"])))] = _pick(rng, [0, -1, 2**40, "a", 1.5])
        else:
            v["shape"] = _pick(rng, [[0], [2**40], "x"])
    elif kind == "delete":
        target = _pick(rng, [doc, node] + ([_pick(rng, doc["values"])] if doc.get("values") else []))
        if isinstance(target, dict) and target:
            del target[_pick(rng, list(target))]
    elif kind == "swap" and isinstance(node, dict) and "inputs" in node:
        node["inputs"], node["outputs"] = node.get("outputs"), node["inputs"]
    elif kind == "param" and isinstance(node, dict) and node.get("params"):
        p = node["params"][_pick(rng, list(node["params"]))]
        sub = _pick(rng, ["dtype", "shape", "data"])
        p[sub] = {"dtype": _pick(rng, ["object", "float16", "int8", "V3", "<U2", "bogus"]),
                  "shape": _pick(rng, [[2**40], [-1], [], [0, 3]]),
                  "data": _pick(rng, ["", "!!!", p.get("data", "")[:7]])}[sub]
    elif kind == "op" and isinstance(node, dict):
        node["op"] = _pick(rng, ["lif", "if", "linear", "relu", "conv", "nope", "loihi_lif", 3])
    elif kind == "top":
        doc[_pick(rng, ["format", "version", "inputs", "outputs", "meta", "name"])] = _pick(rng, HOSTILE_JSON)
    elif kind == "value_field" and doc.get("values"):
        v = _pick(rng, doc["values"])
        v[_pick(rng, ["dtype", "kind", "axes", "name"])] = _pick(rng, HOSTILE_JSON + ["TN", "N", "float64", "int8"])
    return kind


def mutate_ir(text: str, rng) -> tuple[bytes, str]:
    roll = rng.random()
    if roll < 0.15:
        return bit_flips(text.encode(), rng), "bit_flips"
    if roll < 0.25:
        return truncate(text.encode(), rng), "truncate"
    doc = json.loads(text)
    kinds = [_ir_edit(doc, rng) for _ in range(int(rng.integers(1, 3)))]
    return json.dumps(doc).encode(), "+".join(kinds)


# -- .npy run inputs --------------------------------------------------------------------
def mutate_npy(rng) -> tuple[bytes, str]:
    """An input for the MLP seed ([N, 4] float32) with a hostile header (shape, dtype,
    order) and/or data (NaN/inf, bit flips, truncation)."""
    from numpy.lib import format as npy_format

    x = np.random.default_rng(int(rng.integers(1 << 30))).random((2, 4)).astype(np.float32)
    header = {"descr": "<f4", "fortran_order": False, "shape": (2, 4)}
    kinds = []
    for _ in range(int(rng.integers(1, 3))):
        kind = _pick(rng, ["shape", "descr", "order", "nan", "bit_flips", "truncate"])
        kinds.append(kind)
        if kind == "shape":
            header["shape"] = _pick(rng, [(2**40,), (0, 4), (2, 4, 4), (-1, 4), (2**40, 4), (), (2,), (1, 2, 4),
                                          (2**31, 2**31)])
        elif kind == "descr":
            header["descr"] = _pick(rng, ["<f8", "|b1", "<c8", "|O", "<U3", "|V4", ">f4", "<i8", "<f2"])
        elif kind == "order":
            header["fortran_order"] = True
        elif kind == "nan":
            x.flat[int(rng.integers(x.size))] = _pick(rng, [np.nan, np.inf, -np.inf])
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, header)
    data = buffer.getvalue() + x.tobytes()
    if "bit_flips" in kinds:
        data = bit_flips(data, rng)
    if "truncate" in kinds:
        data = truncate(data, rng)
    return data, "+".join(kinds)


# -- running ----------------------------------------------------------------------------
ROTATION = ["simulate", "check", "opt", "report"]
SEEDS = "seeds"         # the folder beside each mutant holding the valid MLP (for .npy mutants)

@dataclass
class Outcome:
    cases: int = 0
    runs: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)     # internal errors, tracebacks, partial outputs


def _cli(argv: list[str]) -> tuple[int, str]:
    from snnc import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


def run_case(folder: Path, data: bytes, suffix: str, commands: list[str], outcome: Outcome, label: str,
             keep: Path | None = None) -> None:
    """Write one mutant, run ``commands`` on it; record anything but exit 0/1/2 cleanly."""
    for old in folder.iterdir():
        if old.name == SEEDS:
            continue
        if old.is_dir():
            import shutil

            shutil.rmtree(old)
        else:
            old.unlink()
    path = folder / f"m{suffix}"
    seed_mlp = folder / SEEDS / "mlp.onnx"
    path.write_bytes(data)
    outcome.cases += 1
    for command in commands:
        out = folder / "out"
        argv = {"show": ["show", str(path)], "check": ["check", str(path)],
                "simulate": ["simulate", str(path), "-T", "2", "--no-progress"],
                "opt": ["opt", str(path), "-o", str(out) + ".onnx"],
                "report": ["report", str(path), "--format", "json", "-T", "2"],
                "compile": ["compile", str(path), "-o", str(out), "-T", "2", "--no-simulate"],
                "simulate-input": ["simulate", str(seed_mlp), "--input", str(path), "--no-progress"],
                "compile-input": ["compile", str(seed_mlp), "--input", str(path), "-o", str(out)]}[command]
        code, err = _cli(argv)
        outcome.runs += 1
        outcome.codes[code] = outcome.codes.get(code, 0) + 1
        left = sorted(p.name for p in folder.iterdir() if p != path and p.name != SEEDS)
        if code not in (0, 1, 2) or "internal error" in err or "Traceback" in err:
            outcome.failures.append(f"{label} {command}: exit {code}: {err.strip()[:300]}")
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"case{outcome.cases - 1}{suffix}").write_bytes(data)
        elif code != 0 and left:
            outcome.failures.append(f"{label} {command}: exit {code} but left {left}")
        for made in folder.iterdir():       # what a successful command wrote
            if made.name == SEEDS:
                continue
            if made.is_dir():
                import shutil

                shutil.rmtree(made)
            elif made != path:
                made.unlink()


def fuzz(folder: Path, cases: int, seed: int = 0, compile_every: int = 10, keep: Path | None = None) -> Outcome:
    """``cases`` mutants, about 60% ONNX, 30% IR JSON and 10% .npy inputs (of the MLP
    seed: simulated, every third compiled); a model is shown and put through one of
    :data:`ROTATION` in turn (and every ``compile_every``-th compiled); mutants that fail are copied to ``keep``."""
    rng = np.random.default_rng(seed)
    models = seed_models()
    irs = seed_ir(models)
    outcome = Outcome()
    (folder / SEEDS).mkdir(exist_ok=True)
    (folder / SEEDS / "mlp.onnx").write_bytes(models["mlp"].SerializeToString())
    for i in range(cases):
        name = _pick(rng, sorted(models))
        commands = ["show", ROTATION[i % len(ROTATION)]] + (["compile"] if compile_every and i % compile_every == 0
                                                             else [])
        roll = rng.random()
        if roll < 0.1:
            data, how = mutate_npy(rng)
            commands = ["simulate-input"] + (["compile-input"] if i % 3 == 0 else [])
            run_case(folder, data, ".npy", commands, outcome, f"case {i} (x.npy, {how})", keep)
        elif roll < 0.7:
            data, how = mutate_onnx(models[name], rng)
            run_case(folder, data, ".onnx", commands, outcome, f"case {i} ({name}.onnx, {how})", keep)
        else:
            data, how = mutate_ir(irs[name], rng)
            run_case(folder, data, ".json", commands, outcome, f"case {i} ({name}.json, {how})", keep)
    return outcome
