"""What the subcommands share: loading a model, writing outputs safely."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc.files import atomic_write, check_output
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph


def add_model_argument(parser) -> None:
    parser.add_argument("model", type=Path, help="an ONNX file (.onnx) or snnc IR JSON (.json)")


def load_graph(path: Path) -> Graph:
    """An ONNX file or an IR JSON document (``snnc show --json``), as a Graph."""
    if not path.exists():
        raise SnncError(f"{path}: no such file")
    if path.suffix == ".json":
        from snnc.ir.serialize import from_json

        try:
            return from_json(path.read_text())
        except UnicodeDecodeError as err:
            raise SnncError(f"{path}: not a text file ({err})") from err
    from snnc.onnx.importer import import_onnx

    return import_onnx(path)


def write_text(path: Path, text: str, force: bool) -> None:
    """Write ``text`` to ``path`` atomically; an existing file needs ``force``."""
    check_output(path, force)
    atomic_write(path, text)


def load_npy(path: Path) -> np.ndarray:
    """An .npy array, or a one-line SnncError."""
    if not path.exists():
        raise SnncError(f"{path}: no such file")
    from snnc.backends.sim.inputs import check_input_array, check_npy_header

    check_npy_header(path)          # sizes checked before numpy allocates (issue 17)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise SnncError(f"{path}: not a numpy .npy array ({err})") from err
    if not isinstance(arr, np.ndarray):      # an .npz archive
        arr.close()
        raise SnncError(f"{path} is a numpy .npz archive; give one array as an .npy file (np.save)")
    check_input_array(arr, str(path))
    return arr
