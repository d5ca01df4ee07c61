"""The deployment artifact: a folder a user takes to the hardware, self-describing.

    OUTDIR/
      manifest.json   what this is: format, snnc version, source model, target, inputs, files
      program.json    the quantised program (snnc IR JSON: integer weights, Loihi neuron
                      parameters, the host ops around the chip)
      mapping.json    every core: its chip, its tiles (layer, neuron box) and loads; the
                      host partition with reasons and costs; the target table
      report.json     energy and ops per layer (snnc report), plus ``deployment``:
                      mapping summary, host partition, timing model, check verdict
      report.html     the same, one self-contained page
      model.net       lava-dl netx HDF5, when the chip is a chain of input/conv/flatten/dense

The folder is written atomically: built next to OUTDIR under a temporary name, then
renamed; an existing OUTDIR is replaced only with ``force``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from snnc._version import __version__
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph
from snnc.ir.serialize import from_json, to_json

FORMAT = "snnc-loihi-artifact"
VERSION = 1
MANIFEST = "manifest.json"


def write_artifact(c, outdir: Path, *, force: bool = False, source: str = "") -> list[str]:
    """Write compilation ``c`` to ``outdir``; returns the files written (and netx notes)."""
    from snnc.backends.loihi.netx import write_netx
    from snnc.deploy.html import render_deployment_html

    outdir = Path(outdir)
    if outdir.exists() and not force:
        raise SnncError(f"{outdir} exists; pass --force to replace it")
    if outdir.exists() and not outdir.is_dir():
        raise SnncError(f"{outdir} exists and is not a folder")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=outdir.parent, prefix=f".{outdir.name}."))
    try:
        files = {"program": "program.json", "mapping": "mapping.json", "report": "report.json",
                 "report_html": "report.html"}
        (tmp / "program.json").write_text(to_json(c.program))
        (tmp / "mapping.json").write_text(json.dumps(c.mapping.to_dict(), indent=1))
        if c.report["deployment"]["netx"]["written"]:
            notes = write_netx(c.program, tmp / "model.net")
            c.report["deployment"]["netx"]["notes"] = notes
            files["netx"] = "model.net"
        (tmp / "report.json").write_text(json.dumps(c.report, indent=1, default=float))
        (tmp / "report.html").write_text(render_deployment_html(c.report))
        manifest = {
            "format": FORMAT, "version": VERSION, "snnc_version": __version__, "model": c.source.name,
            "source": source, "target": c.mapping.target.name,
            "timesteps": c.report.get("timesteps"),
            "inputs": {n: {"shape": list(c.program.values[n].shape), "axes": c.program.values[n].axes}
                       for n in c.program.inputs},
            "outputs": list(c.program.outputs),
            "cores": len(c.mapping.cores), "chips": c.mapping.chips, "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _replace(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(files.values()) + [MANIFEST]


def _replace(new: Path, outdir: Path) -> None:
    if not outdir.exists():
        os.replace(new, outdir)
        return
    old = Path(tempfile.mkdtemp(dir=outdir.parent, prefix=f".{outdir.name}.old."))
    os.rmdir(old)
    os.replace(outdir, old)
    os.replace(new, outdir)
    shutil.rmtree(old, ignore_errors=True)


def load_artifact(outdir: Path) -> tuple[dict, Graph, dict]:
    """(manifest, the quantised program, the mapping) of an artifact folder."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise SnncError(f"{outdir}: no such artifact folder (make one with snnc compile -o {outdir})")
    try:
        manifest = json.loads((outdir / MANIFEST).read_text())
    except FileNotFoundError:
        raise SnncError(f"{outdir}: not an snnc artifact (no {MANIFEST})") from None
    except json.JSONDecodeError as err:
        raise SnncError(f"{outdir}/{MANIFEST}: not JSON ({err})") from err
    if manifest.get("format") != FORMAT:
        raise SnncError(f"{outdir}: not an snnc Loihi artifact (format {manifest.get('format')!r})")
    if manifest.get("version") != VERSION:
        raise SnncError(f"{outdir}: artifact version {manifest.get('version')} is not supported "
                        f"(this snnc reads {VERSION}); recompile it")
    files = manifest.get("files", {})
    try:
        program = from_json((outdir / files["program"]).read_text())
        mapping = json.loads((outdir / files["mapping"]).read_text())
    except (KeyError, FileNotFoundError) as err:
        raise SnncError(f"{outdir}: the artifact is incomplete ({err}); recompile it") from None
    return manifest, program, mapping
