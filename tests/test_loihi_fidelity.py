"""Fidelity on a trained network: a small spiking CNN trained here, in seconds, on
scikit-learn's 8x8 digits with snnc.nn.LIF and its surrogate gradient; exported to ONNX,
imported, quantised to Loihi numerics. Its float accuracy, its Loihi accuracy and their
top-1 agreement are asserted with margins; on Lava, a few test digits spike bit for bit
as the simulator says."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require

torch = require("torch")
datasets = require("sklearn.datasets")

from snnc.backends.loihi.quant_table import table_lines  # noqa: E402
from snnc.backends.loihi.quantize import quantize  # noqa: E402
from snnc.backends.loihi.run import run_loihi  # noqa: E402
from snnc.ir.interpret import run  # noqa: E402



@pytest.fixture(scope="module")
def trained():
    from snnc.models.digits import frames, train_digits
    from snnc.onnx.export import to_onnx
    from snnc.onnx.importer import import_onnx

    model, split = train_digits()
    graph = import_onnx(to_onnx(model, torch.from_numpy(frames(split.train_images[:2]))))
    return model, graph, frames(split.test_images), split.test_labels, frames(split.train_images[:200])


def test_loihi_numerics_keep_the_trained_accuracy(trained):
    model, graph, x, labels, calib = trained
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    float_logits = run(graph, {"x": x})[graph.outputs[0]]
    np.testing.assert_allclose(float_logits, torch_logits, atol=1e-4)     # the import is faithful

    q = quantize(graph, calibration={"x": calib})
    loihi_logits = run_loihi(q, {"x": x}, align=True).outputs[graph.outputs[0]]
    float_top1, loihi_top1 = float_logits.argmax(1), loihi_logits.argmax(1)
    float_acc, loihi_acc = (float_top1 == labels).mean(), (loihi_top1 == labels).mean()
    agreement = (float_top1 == loihi_top1).mean()
    print(f"\nfloat accuracy {float_acc:.1%}, Loihi accuracy {loihi_acc:.1%}, top-1 agreement {agreement:.1%} "
          f"on {len(labels)} test digits")
    print("\n".join(table_lines(q)))
    assert float_acc >= 0.85, "training went wrong: the float network itself is poor"
    assert loihi_acc >= float_acc - 0.03
    assert agreement >= 0.94
    # the quantiser's own error estimate is small for every layer
    assert max(r["weight_error"] for r in q.meta["loihi"]["layers"]) < 0.03


@pytest.mark.lava
def test_trained_network_on_lava_is_bit_exact(trained, lava):
    _, graph, x, labels, calib = trained
    q = quantize(graph, calibration={"x": calib})
    few = x[:, :7]                                  # 7 digits x 16 pooled channels fit one run
    sim = run_loihi(q, {"x": few}, align=True)
    lava = run_loihi(q, {"x": few}, engine="lava", align=True)
    assert lava.lava_runs == 1
    for name, want in sim.values.items():
        np.testing.assert_array_equal(lava.values[name], want, err_msg=name)
    np.testing.assert_array_equal(lava.outputs[graph.outputs[0]], sim.outputs[graph.outputs[0]])
