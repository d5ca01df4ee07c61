"""Calibration (issue 14): onnxruntime on the ANN, per-batch percentiles averaged over
batches, against the same statistics computed here from PyTorch's activations."""

from __future__ import annotations


import numpy as np
import onnx
import pytest
from conftest import require

from snnc.conversion import calibrate, load_dataset
from snnc.conversion.data import input_specs
from snnc.ir.errors import SnncError

torch = require("torch")


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.GELU(), torch.nn.Linear(32, 10)).eval()


def _export(model, path, batch, dynamic=True):
    x = torch.zeros(batch, 64)
    torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"], opset_version=17,
                      dynamo=False, dynamic_axes={"x": {0: "n"}, "y": {0: "n"}} if dynamic else None)
    return onnx.load(str(path))


def _reference(model, x, batch, p):
    """Per batch: torch's hidden activations, numpy percentiles of each sign, then the mean."""
    acts = []
    hook = model[1].register_forward_hook(lambda m, i, o: acts.append(o.detach().numpy().astype(np.float64)))
    with torch.no_grad():
        for s in range(0, len(x), batch):
            model(torch.from_numpy(x[s:s + batch]))
    hook.remove()
    pos = [np.percentile(a[a > 0], p) for a in acts]
    neg = [np.percentile(-a[a < 0], p) for a in acts]
    return np.mean(pos), np.mean(neg), max(a.max() for a in acts), min(a.min() for a in acts)


def _gelu_output(proto):
    (node,) = [n for n in proto.graph.node if n.op_type == "Gelu" or n.name.endswith("Mul_1")]
    return node.output[0]


@pytest.mark.parametrize("fixed", [False, True])
def test_percentiles_average_per_batch_like_torch(tmp_path, fixed):
    from sklearn.datasets import load_digits

    x = (load_digits().data[:45] / 16.0).astype(np.float32)
    model = _mlp()
    proto = _export(model, tmp_path / "m.onnx", 8, dynamic=not fixed)
    hidden = _gelu_output(proto)
    np.save(tmp_path / "calib.npy", x)
    data = load_dataset(tmp_path / "calib.npy", input_specs(proto))
    stats = calibrate(proto, data, [hidden], percentile=99.0, batch_size=8)[hidden]
    pos, neg, hi, lo = _reference(model, x, 8, 99.0)
    assert stats.samples == 45
    np.testing.assert_allclose([stats.pos, stats.neg, stats.max, stats.min], [pos, neg, hi, lo], rtol=1e-5)


def test_npz_with_token_ids_and_mask_is_cast_to_the_input_dtypes(tmp_path):
    ids = onnx.helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, ["n", 5])
    mask = onnx.helper.make_tensor_value_info("mask", onnx.TensorProto.FLOAT, ["n", 5])
    proto = onnx.helper.make_model(onnx.helper.make_graph([], "g", [ids, mask], []))
    np.savez(tmp_path / "d.npz", ids=np.arange(15.0).reshape(3, 5), mask=np.ones((3, 5)))
    data = load_dataset(tmp_path / "d.npz", input_specs(proto))
    assert sorted(data) == ["ids", "mask"] and data["ids"].shape == (3, 5)


@pytest.mark.parametrize("make, needle", [
    (lambda d: None, "no such file"),
    (lambda d: np.save(d / "c.npy", np.zeros((4, 63), np.float32)), "axis 1 is 63, expected 64"),
    (lambda d: np.save(d / "c.npy", np.zeros((4, 8, 8), np.float32)), "rank 2"),
    (lambda d: np.save(d / "c.npy", np.array(["a"] * 4)), "holds <U1 values"),
    (lambda d: np.save(d / "c.npy", np.full((4, 64), np.nan, np.float32)), "NaN"),
    (lambda d: np.save(d / "c.npy", np.zeros((0, 64), np.float32)), "empty"),
    (lambda d: np.save(d / "c.npy", np.array([{}], dtype=object), allow_pickle=True), "no pickled"),
    (lambda d: (d / "c.npy").write_bytes(b"\x93NUMPY garbage"), "not a readable numpy file"),
])
def test_bad_calibration_files_are_one_line_naming_the_fix(tmp_path, make, needle):
    proto = onnx.helper.make_model(onnx.helper.make_graph(
        [], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 64])], []))
    make(tmp_path)
    with pytest.raises(SnncError, match=needle.replace("[", r"\[")):
        load_dataset(tmp_path / "c.npy", input_specs(proto))


def test_npz_with_wrong_names_lists_both_sides(tmp_path):
    proto = onnx.helper.make_model(onnx.helper.make_graph([], "g", [
        onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, ["n", 2]),
        onnx.helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, ["n", 2])], []))
    np.savez(tmp_path / "d.npz", a=np.zeros((2, 2)), c=np.zeros((2, 2)))
    with pytest.raises(SnncError, match=r"missing \['b'\].*unknown \['c'\]"):
        load_dataset(tmp_path / "d.npz", input_specs(proto))
