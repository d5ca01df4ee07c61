"""NIR in and out (issue 16): a NIR file another framework would write is read with its
neurons discretised by dt (checked against the Euler step written here in numpy); an
snnc model written to NIR and read back computes the same spikes (onnxruntime on both)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import require

from onnx_helpers import run_ort

nir = require("nir")
SNNC = [sys.executable, "-m", "snnc"]


def _mlp_nir(path, dt=1e-3, **lif):
    rng = np.random.default_rng(0)
    w1, b1, w2 = rng.normal(0, 0.6, (6, 4)), rng.normal(0, 0.1, 6), rng.normal(0, 0.6, (3, 6))
    params = dict(tau=np.full(6, 5e-3), r=np.full(6, 1.0), v_leak=np.zeros(6), v_threshold=np.full(6, 0.5))
    params.update(lif)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([4])}),
               "fc1": nir.Affine(weight=w1, bias=b1), "lif1": nir.LIF(**params),
               "fc2": nir.Linear(weight=w2),
               "lif2": nir.IF(r=np.full(3, 1.0), v_threshold=np.full(3, 1e-3)),
               "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")],
        metadata={"dt": dt} if dt else {})
    nir.write(str(path), graph)
    return w1, b1, w2, params


def _euler_mlp(x, w1, b1, w2) -> np.ndarray:
    """The spikes of :func:`_mlp_nir`'s network (dt = 1 ms) on ``x: [T, N, 4]``, by its Euler
    steps written here: LIF v += dt/τ·(v_leak − v + R·I), τ = 5 ms; IF v += dt·R·I."""
    dt, a = 1e-3, 1e-3 / 5e-3
    v1, v2, want = np.zeros((x.shape[1], 6)), np.zeros((x.shape[1], 3)), []
    for t in range(x.shape[0]):
        v1 = v1 + a * (0 - v1 + x[t] @ w1.T + b1)
        s1 = (v1 >= 0.5).astype(np.float64)
        v1 = np.where(s1 > 0, 0.0, v1)
        v2 = v2 + dt * (s1 @ w2.T)
        s2 = (v2 >= 1e-3).astype(np.float64)
        v2 = np.where(s2 > 0, 0.0, v2)
        want.append(s2)
    return np.stack(want)


def test_nir_file_is_read_with_euler_neurons(tmp_path):
    from snnc.ir.interpret import Interpreter
    from snnc.interop.nir import read_graph

    w1, b1, w2, p = _mlp_nir(tmp_path / "m.nir")
    graph = read_graph(tmp_path / "m.nir")
    x = np.random.default_rng(1).random((12, 5, 4)).astype(np.float32) * 2
    got = Interpreter(graph).run({graph.inputs[0]: x})[graph.outputs[0]]
    want = _euler_mlp(x, w1, b1, w2)
    assert want.any() and (want != 1).any()
    assert (got != want).mean() < 0.01           # float32 here vs float64 above: rare ties
    r = subprocess.run(SNNC + ["show", str(tmp_path / "m.nir")], capture_output=True, text=True)
    assert r.returncode == 0 and "lif" in r.stdout and "dt = 0.001 s" in r.stderr, r.stderr


def test_snnc_model_to_nir_and_back_is_exact(tmp_path):
    torch = require("torch")
    import snnc
    from snnc.nn import LIF

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = torch.nn.Linear(8, 16), LIF(tau=4.0, v_threshold=0.3, v_reset=0.0)
            self.fc2, self.lif2 = torch.nn.Linear(16, 5), LIF(tau=2.0, v_threshold=0.2, v_reset=0.0)

        def forward(self, x):
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))

    torch.manual_seed(0)
    x = torch.rand(6, 3, 8)
    snnc.export(Net(), x, str(tmp_path / "m.onnx"))
    r = subprocess.run(SNNC + ["opt", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.nir"), "--dt", "1e-3"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(SNNC + ["opt", str(tmp_path / "m.nir"), "-o", str(tmp_path / "back.onnx")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import onnx

    feeds = {"input": np.random.default_rng(2).random((10, 4, 8)).astype(np.float32)}
    a = next(iter(run_ort(onnx.load(str(tmp_path / "m.onnx")), {onnx.load(str(tmp_path / "m.onnx")).graph.input[0].name: feeds["input"]}).values()))
    back = onnx.load(str(tmp_path / "back.onnx"))
    b = next(iter(run_ort(back, {back.graph.input[0].name: feeds["input"]}).values()))
    assert a.any() and np.array_equal(a, b)


def test_nir_file_read_and_written_back_keeps_its_spikes(tmp_path):
    """A foreign NIR file (its IF reads input scaled by dt·R, a scalar Scale in the IR) is
    written back as NIR that nir.read accepts, and that file still computes the Euler spikes."""
    from snnc.interop.nir import read_graph, write_graph
    from snnc.ir.interpret import Interpreter

    w1, b1, w2, _ = _mlp_nir(tmp_path / "m.nir")
    write_graph(read_graph(tmp_path / "m.nir"), tmp_path / "back.nir", 1e-3)
    assert nir.read(str(tmp_path / "back.nir")).metadata["dt"] == pytest.approx(1e-3)
    graph = read_graph(tmp_path / "back.nir")
    x = np.random.default_rng(1).random((12, 5, 4)).astype(np.float32) * 2
    got = Interpreter(graph).run({graph.inputs[0]: x})[graph.outputs[0]]
    want = _euler_mlp(x, w1, b1, w2)
    assert want.any() and (got != want).mean() < 0.01


@pytest.mark.parametrize("make, args, needle", [
    (lambda p: _mlp_nir(p, dt=None), [], "pass --dt"),
    (lambda p: _mlp_nir(p, v_leak=np.full(6, 0.2)), [], "v_leak 0.2 differs from v_reset 0"),
    (lambda p: _mlp_nir(p, tau=np.linspace(1e-2, 2e-2, 6)), [], "tau differs between neurons"),
    (lambda p: _mlp_nir(p), ["--dt", "0.01"], "tau/dt = 0.5 must be > 1"),
    (lambda p: p.write_bytes(b"not hdf5"), [], "not a readable NIR file"),
])
def test_bad_nir_files_are_one_line(tmp_path, make, args, needle):
    make(tmp_path / "m.nir")
    r = subprocess.run(SNNC + ["show", str(tmp_path / "m.nir"), *args], capture_output=True, text=True)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("node, needle", [
    (nir.LI(tau=np.ones(2) * 5e-3, r=np.ones(2), v_leak=np.zeros(2)), "'n' is LI (a non-spiking leaky integrator)"),
    (nir.CubaLIF(tau_syn=np.ones(2) * 5e-3, tau_mem=np.ones(2) * 1e-2, r=np.ones(2), v_leak=np.full(2, 0.1),
                 v_threshold=np.ones(2)), "CubaLIF with v_leak 0.1"),
])
def test_nodes_without_an_op_are_refused_by_name(tmp_path, node, needle):
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}), "n": node,
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "n"), ("n", "output")], metadata={"dt": 1e-3})
    nir.write(str(tmp_path / "c.nir"), graph)
    r = subprocess.run(SNNC + ["show", str(tmp_path / "c.nir")], capture_output=True, text=True)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_nested_subgraph_is_inlined(tmp_path):
    """A NIRGraph node holding fc1 -> lif1 (edges naming the subgraph enter its Input and
    leave its Output) computes what the flat file of test_nir_file_is_read_with_euler_neurons
    does, checked against the same Euler steps written in numpy."""
    from snnc.interop.nir import read_graph
    from snnc.ir.interpret import Interpreter

    w1, b1, w2, p = _mlp_nir(tmp_path / "flat.nir")
    flat = nir.read(str(tmp_path / "flat.nir"))
    sub = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([4])}), "fc1": flat.nodes["fc1"],
                              "lif1": flat.nodes["lif1"], "out": nir.Output(output_type={"output": np.array([6])})},
                       edges=[("in", "fc1"), ("fc1", "lif1"), ("lif1", "out")], type_check=False)
    nested = nir.NIRGraph(nodes={"input": flat.nodes["input"], "block": sub, "fc2": flat.nodes["fc2"],
                                 "lif2": flat.nodes["lif2"], "output": flat.nodes["output"]},
                          edges=[("input", "block"), ("block", "fc2"), ("fc2", "lif2"), ("lif2", "output")],
                          metadata={"dt": 1e-3}, type_check=False)
    nir.write(str(tmp_path / "nested.nir"), nested)
    graph = read_graph(tmp_path / "nested.nir")
    x = np.random.default_rng(1).random((12, 5, 4)).astype(np.float32) * 2
    got = Interpreter(graph).run({graph.inputs[0]: x})[graph.outputs[0]]
    want = _euler_mlp(x, w1, b1, w2)
    assert want.any() and (got != want).mean() < 0.01
    assert any(n.name == "block.lif1" for n in graph.nodes)


def test_recurrent_graph_is_refused_naming_the_cycle(tmp_path):
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "lif": nir.LIF(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2),
                                               v_threshold=np.ones(2)),
                                "rec": nir.Linear(weight=np.eye(2)),
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
                         metadata={"dt": 1e-3})
    nir.write(str(tmp_path / "r.nir"), graph)
    r = subprocess.run(SNNC + ["show", str(tmp_path / "r.nir")], capture_output=True, text=True)
    assert r.returncode == 2 and "cycle (lif -> rec -> lif" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_threshold_node_is_a_per_neuron_comparison(tmp_path):
    from snnc.interop.nir import read_graph
    from snnc.ir.interpret import Interpreter

    rng = np.random.default_rng(3)
    w, theta = rng.normal(0, 1, (5, 4)), np.linspace(-0.5, 0.5, 5)
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                                "fc": nir.Linear(weight=w), "th": nir.Threshold(threshold=theta),
                                "output": nir.Output(output_type={"output": np.array([5])})},
                         edges=[("input", "fc"), ("fc", "th"), ("th", "output")], metadata={"dt": 1e-3})
    nir.write(str(tmp_path / "t.nir"), graph)
    g = read_graph(tmp_path / "t.nir")
    x = rng.random((3, 6, 4)).astype(np.float32)
    got = Interpreter(g).run({g.inputs[0]: x})[g.outputs[0]]
    want = (x.astype(np.float64) @ w.T > theta).astype(np.float32)      # nir: z = 1 where v > θ
    assert want.any() and not want.all() and got.dtype == np.float32
    assert (got != want).mean() < 0.01


def test_conv_flatten_model_to_nir_and_back_is_exact(tmp_path):
    """Written Flatten dims index the per-sample shape (NIR's convention, as the frameworks'
    exporters write them): a conv -> LIF -> flatten -> linear -> LIF model round-trips."""
    torch = require("torch")
    import onnx
    import snnc
    from snnc.nn import LIF

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.lif1 = torch.nn.Conv2d(1, 4, 3, padding=1), LIF(tau=2.0, v_threshold=0.3)
            self.fc, self.lif2 = torch.nn.Linear(4 * 6 * 6, 5), LIF(tau=2.0, v_threshold=0.2)

        def forward(self, x):
            t, n = x.shape[:2]
            s = self.lif1(self.conv(x.flatten(0, 1)).reshape(t, n, 4, 6, 6))
            return self.lif2(self.fc(s.flatten(2)))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.fc.weight.mul_(4.0)           # so that the last layer fires within T steps
    snnc.export(net, torch.rand(4, 2, 1, 6, 6), str(tmp_path / "m.onnx"))
    for args in ([tmp_path / "m.onnx", "-o", tmp_path / "m.nir", "--dt", "1e-3"],
                 [tmp_path / "m.nir", "-o", tmp_path / "back.onnx"]):
        r = subprocess.run(SNNC + ["opt", *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    flat = [n for n in nir.read(str(tmp_path / "m.nir")).nodes.values() if isinstance(n, nir.Flatten)]
    assert [int(f.start_dim) for f in flat] == [0]
    x = np.random.default_rng(2).random((6, 3, 1, 6, 6)).astype(np.float32) * 3
    a, b = (onnx.load(str(tmp_path / f)) for f in ("m.onnx", "back.onnx"))
    ya = next(iter(run_ort(a, {a.graph.input[0].name: x}).values()))
    yb = next(iter(run_ort(b, {b.graph.input[0].name: x}).values()))
    assert ya.any() and np.array_equal(ya, yb)


def test_write_graph_refuses_an_existing_file_unless_told(tmp_path):
    """The NIR writer takes the same output rule as every other (snnc.files.check_output)."""
    from snnc.interop.nir import write_graph
    from snnc.ir import Graph, Value
    from snnc.ir.build import emit
    from snnc.ir.errors import SnncError

    graph = Graph("m")
    graph.add_input(Value("x", (4,), axes="TN"))
    emit(graph, "linear", ["x"], name="fc", params={"weight": np.ones((3, 4), np.float32)})
    emit(graph, "lif", ["fc"], name="lif", attrs={"tau": 2.0})
    graph.outputs = ["lif"]
    (tmp_path / "out.nir").write_bytes(b"mine")
    with pytest.raises(SnncError, match=r"out\.nir exists; pass --force to overwrite it"):
        write_graph(graph, tmp_path / "out.nir", 1e-3)
    assert (tmp_path / "out.nir").read_bytes() == b"mine"
    write_graph(graph, tmp_path / "out.nir", 1e-3, overwrite=True)
    assert (tmp_path / "out.nir").read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"      # an HDF5 file now
