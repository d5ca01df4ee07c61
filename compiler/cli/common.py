"""What the subcommands share: loading a model, writing outputs safely."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from snnc.files import atomic_write, check_output
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph


def add_model_argument(parser) -> None:
    parser.add_argument("model", type=Path, help="an ONNX file (.onnx), snnc IR JSON (.json) or NIR (.nir)")
    add_dt_argument(parser)


def add_dt_argument(parser) -> None:
    parser.add_argument("--dt", type=float, metavar="SECONDS",
                        help="NIR files: the time step that discretises their neurons (default: the file's "
                             "metadata 'dt')")


def load_graph(path: Path, dt: float | None = None) -> Graph:
    """An ONNX file, an IR JSON document (``snnc show --json``) or a NIR file (its neurons
    discretised with ``dt``, default the file's), as a Graph."""
    if not path.exists():
        raise SnncError(f"{path}: no such file")
    if path.suffix == ".nir":
        from snnc.interop.nir import read_graph

        graph = read_graph(path, dt)
        print(f"snnc: {path}: NIR neurons discretised with dt = {graph.meta['nir_dt']:g} s (forward Euler)",
              file=sys.stderr)
        return graph
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


def check_levels_file(snn: Graph, ann) -> None:
    """``--write-levels``: every multi-threshold neuron of ``snn`` must have a
    ``--thresholds`` key of ``ann`` (:func:`snnc.conversion.level_search.levels_file`)."""
    from snnc.conversion.convert import site_keys
    from snnc.conversion.level_search import levels_file, neurons, site_keys as neuron_keys

    if not neurons(snn):
        raise SnncError("--write-levels: the SNN has no multi-threshold neurons (an ecmt or sit conversion has); "
                        "there are no levels to write")
    levels_file(snn, neuron_keys(snn, site_keys(ann)))


def write_target_outputs(result, *, levels: Path | None = None, snn: Path | None = None,
                         force: bool = False) -> None:
    """``--write-levels`` and ``--write-snn`` of ``--target-agreement`` (snnc evaluate and
    snnc convert): both checked before either is written, so a refusal leaves neither
    half-written. ``result``: :class:`snnc.conversion.target.TargetResult`."""
    from snnc.onnx.io import save_model
    from snnc.onnx.ir_to_onnx import graph_to_onnx

    for path in (levels, snn):
        if path is not None:
            check_output(path, force)
    text = None if levels is None else json.dumps(result.levels_file(), indent=1) + "\n"
    if snn is not None:
        save_model(graph_to_onnx(result.graph), snn)
        print(f"wrote {snn}", file=sys.stderr)     # stdout may be the JSON report
    if text is not None:
        write_text(levels, text, force)
        print(f"wrote {levels}", file=sys.stderr)
