"""``snnc convert`` takes an ANN: a model that already has spiking neurons is refused by
name, whichever neuron it is (the registry's NEURON trait, not a list of op names)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require

torch = require("torch")


def test_a_network_of_snntorch_leaky_neurons_is_refused(tmp_path):
    """ecmt and sit share the check (relu-if refuses any timed model first)."""
    import snnc
    from snnc.conversion.convert import convert
    from snnc.ir.errors import SnncError
    from snnc.nn.frameworks import Leaky

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.sn = torch.nn.Linear(8, 4), Leaky(beta=0.9)

        def forward(self, x):
            return self.sn(self.fc(x))

    snnc.export(Net(), torch.rand(3, 2, 8), str(tmp_path / "snn.onnx"))
    with pytest.raises(SnncError, match=r"already has spiking neurons \(\['sn'\]\); convert an ANN"):
        convert(str(tmp_path / "snn.onnx"), np.random.default_rng(0).random((3, 5, 8), np.float32), method="ecmt")
