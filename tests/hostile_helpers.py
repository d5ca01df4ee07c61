"""Builders of hostile inputs (issue 17) and the check every refusal must pass: exit
code 2, one ``snnc: error:`` line (plus indented problem lines) naming the cause, never
the ``internal error`` net nor a traceback.

The corpus runs the CLI in-process (``snnc.cli.main``, the very function ``python -m
snnc`` calls) to stay fast; each test file also runs one case as a subprocess.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from snnc import cli
from snnc.onnx.dialect import function_protos

TIMED = {"snnc.layout": '{"x": {"time_axis": 0, "batch_axis": 1}}'}


def model(nodes, inputs, outputs, inits=(), opset=18, domains=(), functions=(), props=None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(graph, opset_imports=opsets, functions=list(functions))
    m.ir_version = 8
    if props:
        helper.set_model_props(m, props)
    return m


def x_info(dims=("N", 4), elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info("x", elem, list(dims))


def y_info():
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def weight(value=None, name="w") -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones((4, 3), np.float32) if value is None else value, name)


def matmul(w: onnx.TensorProto) -> onnx.ModelProto:
    """y = x @ w, x: [N, 4]."""
    return model([helper.make_node("MatMul", ["x", w.name], ["y"], name="mm")], [x_info()], [y_info()], [w])


def lif(inputs=("x",), **attrs) -> onnx.ModelProto:
    """One snnc::LIF over x: [T, N, 4]."""
    a = dict(tau=2.0, v_threshold=1.0, v_reset=0.0, soft_reset=0, decay_input=1)
    a.update(attrs)
    node = helper.make_node("LIF", list(inputs), ["y"], domain="snnc", name="lif", **a)
    return model([node], [x_info(("T", "N", 4))], [y_info()], domains=["snnc"],
                 functions=function_protos(["LIF"]), props=TIMED)


def save(proto: onnx.ModelProto, path) -> str:
    path.write_bytes(proto.SerializeToString())
    return str(path)


def snnc(capsys, *argv) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:         # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, *causes: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("snnc: error: "), err
    assert all(line.startswith("  ") for line in lines[1:]), err
    assert "internal error" not in err and "Traceback" not in err, err
    for cause in causes:
        assert cause in err, err


def refused(capsys, *argv_and_causes, causes=()) -> str:
    code, _, err = snnc(capsys, *argv_and_causes)
    assert_refused(code, err, *causes)
    return err


def refused_subprocess(*argv, causes=()) -> str:
    done = subprocess.run([sys.executable, "-m", "snnc", *map(str, argv)], capture_output=True, text=True)
    assert_refused(done.returncode, done.stderr, *causes)
    assert done.stdout == ""
    return done.stderr
