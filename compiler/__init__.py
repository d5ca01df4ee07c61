"""snnc: a deployment compiler for spiking neural networks.

    import snnc
    snnc.export(model, x, "model.onnx")      # PyTorch -> ONNX (snnc dialect)
    snn, info = snnc.convert("ann.onnx", calib)  # a trained ANN -> a spiking network

PyTorch is optional: ``snnc.export`` and ``snnc.nn`` need the ``torch`` extra, the
compiler itself does not.
"""

from snnc._version import __version__
from snnc.ir.errors import SnncError, UnsupportedError

__all__ = ["SnncError", "UnsupportedError", "__version__", "convert", "export"]


def __getattr__(name: str):
    # keep `import snnc` free of torch; export pulls it in on first use
    if name == "export":
        from snnc.onnx.export import export

        return export
    if name == "convert":
        from snnc.conversion.convert import convert

        return convert
    raise AttributeError(f"module 'snnc' has no attribute {name!r}")
