"""Fidelity on a trained network: a small spiking CNN trained here, in seconds, on
scikit-learn's 8x8 digits with snnc.nn.LIF and its surrogate gradient; exported to ONNX,
imported, quantised to Loihi numerics. Its float accuracy, its Loihi accuracy and their
top-1 agreement are asserted with margins; on Lava, a few test digits spike bit for bit
as the simulator says."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from torch import nn  # noqa: E402

from snnc.backends.loihi.quantize import quantize, report_lines  # noqa: E402
from snnc.backends.loihi.run import run_loihi  # noqa: E402
from snnc.ir.errors import SnncError  # noqa: E402
from snnc.ir.interpret import run  # noqa: E402
from snnc.nn import LIF  # noqa: E402

from conftest import IN_CI  # noqa: E402

T = 4


class DigitsSNN(nn.Module):
    """conv-LIF-maxpool twice, then a linear read-out averaged over time: [T, N, 1, 8, 8] -> [N, 10]."""

    def __init__(self):
        super().__init__()
        self.conv1, self.lif1 = nn.Conv2d(1, 8, 3, padding=1), LIF(tau=2.0, detach_reset=True)
        self.conv2, self.lif2 = nn.Conv2d(8, 16, 3, padding=1), LIF(tau=2.0, detach_reset=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    @staticmethod
    def _each_step(fn, x):
        y = fn(x.flatten(0, 1))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])

    def forward(self, x):
        x = self._each_step(self.pool, self.lif1(self._each_step(self.conv1, x)))
        x = self._each_step(self.pool, self.lif2(self._each_step(self.conv2, x)))
        return self._each_step(self.fc, x.flatten(2)).mean(0)


def _frames(images: np.ndarray) -> np.ndarray:
    """[N, 64] pixels 0..16 -> [T, N, 1, 8, 8] in [0, 1], the same frame every step."""
    x = (images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return np.repeat(x[None], T, axis=0)


@pytest.fixture(scope="module")
def trained():
    from snnc.onnx.export import to_onnx
    from snnc.onnx.importer import import_onnx

    digits = datasets.load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.target))
    train, test = order[:1400], order[1400:]
    x_train, y_train = torch.from_numpy(_frames(digits.data[train])), torch.from_numpy(digits.target[train])
    torch.manual_seed(0)
    model = DigitsSNN()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for epoch in range(12):
        for i in torch.randperm(len(train)).split(50):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[:, i]), y_train[i])
            loss.backward()
            opt.step()
    model.eval()
    graph = import_onnx(to_onnx(model, x_train[:, :2]))
    return model, graph, _frames(digits.data[test]), digits.target[test], _frames(digits.data[train[:200]])


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
    print("\n".join(report_lines(q)))
    assert float_acc >= 0.85, "training went wrong: the float network itself is poor"
    assert loihi_acc >= float_acc - 0.03
    assert agreement >= 0.94
    # the quantiser's own error estimate is small for every layer
    assert max(r["weight_error"] for r in q.meta["loihi"]["layers"]) < 0.03


@pytest.mark.lava
def test_trained_network_on_lava_is_bit_exact(trained):
    from snnc.backends.loihi.lava_compat import import_lava

    try:
        import_lava()
    except SnncError as err:
        if IN_CI:
            pytest.fail(f"CI must run the Lava tests: {err}")
        pytest.skip(str(err))
    _, graph, x, labels, calib = trained
    q = quantize(graph, calibration={"x": calib})
    few = x[:, :7]                                  # 7 digits x 16 pooled channels fit one run
    sim = run_loihi(q, {"x": few}, align=True)
    lava = run_loihi(q, {"x": few}, engine="lava", align=True)
    assert lava.lava_runs == 1
    for name, want in sim.values.items():
        np.testing.assert_array_equal(lava.values[name], want, err_msg=name)
    np.testing.assert_array_equal(lava.outputs[graph.outputs[0]], sim.outputs[graph.outputs[0]])
