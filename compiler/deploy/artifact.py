"""The deployment artifact: a folder a user takes to the hardware, self-describing.

    OUTDIR/
      manifest.json   what this is: format, snnc version, source model, target, inputs, files
      program.json    the quantised program's structure (snnc IR JSON: ops, Loihi neuron
                      attributes, the host ops around the chip) and its weights table
      weights.bin     every parameter array, raw little-endian (snnc.deploy.weights)
      mapping.json    every core: its chip, its tiles (layer, neuron box) and loads; the
                      host partition with reasons and costs; the target table
      report.json     energy and ops per layer (snnc report), plus ``deployment``:
                      mapping summary, host partition, timing model, check verdict
      report.html     the same, one self-contained page
      model.net       lava-dl netx HDF5, when the chip is a chain of input/conv/flatten/dense

The manifest lists every other file with its size and SHA-256; :func:`load_artifact`
checks them all before it parses any (snnc.deploy.manifest). The folder is written
atomically: built next to OUTDIR under a ``.snnc-tmp-*`` name, then renamed; an existing
OUTDIR is replaced only with ``force``, and only when snnc wrote it (snnc.files).
"""

from __future__ import annotations

import json
from pathlib import Path

from snnc._version import __version__
from snnc.deploy.manifest import FORMAT, MANIFEST, VERSION, describe_files, snnc_wrote, verify
from snnc.deploy.weights import attach, pack, write_weights
from snnc.files import check_output, replace_dir, temp_dir
from snnc.ir.errors import IRError, SnncError
from snnc.ir.graph import Graph
from snnc.ir.serialize import graph_from_dict, graph_to_dict
from snnc.ir.verify import problems

# what parsing or re-inferring a malformed (but checksummed) program can raise
_MALFORMED = (ValueError, RecursionError, KeyError, TypeError, AttributeError, IndexError, OverflowError,
              ZeroDivisionError)

__all__ = ["FORMAT", "VERSION", "MANIFEST", "check_artifact_output", "load_artifact", "write_artifact"]


def check_artifact_output(outdir: Path, force: bool) -> None:
    """Refuse an OUTDIR that must not be written or replaced (before compiling)."""
    check_output(outdir, force, folder=True, owned=snnc_wrote)


def _structure(program: Graph) -> tuple[dict, list[bytes], int]:
    """program.json's document (the IR without params, plus the weights table), the
    weights chunks, the raw quantised bytes."""
    table, chunks, raw = pack(program)
    bare = program.copy()
    bare.values = {name: bare.values[name] for name in program.values}   # keep the document order
    for node in bare.nodes:
        node.params = {}
    doc = graph_to_dict(bare)
    doc["weights"] = {"file": "weights.bin", "arrays": table}
    return doc, chunks, raw


def write_artifact(c, outdir: Path, *, force: bool = False, source: str = "") -> list[str]:
    """Write compilation ``c`` to ``outdir``; returns the files written (and netx notes)."""
    from snnc.backends.loihi.netx import write_netx
    from snnc.deploy.html import render_deployment_html

    outdir = Path(outdir)
    check_artifact_output(outdir, force)
    with temp_dir(outdir) as tmp:
        roles = {"program": "program.json", "weights": "weights.bin", "mapping": "mapping.json",
                 "report": "report.json", "report_html": "report.html"}
        doc, chunks, raw = _structure(c.program)
        (tmp / "program.json").write_text(json.dumps(doc))
        stored = write_weights(tmp / "weights.bin", chunks)
        (tmp / "mapping.json").write_text(json.dumps(c.mapping.to_dict(), indent=1))
        if c.report["deployment"]["netx"]["written"]:
            notes = write_netx(c.program, tmp / "model.net")
            c.report["deployment"]["netx"]["notes"] = notes
            roles["netx"] = "model.net"
        (tmp / "report.json").write_text(json.dumps(c.report, indent=1, default=float))
        (tmp / "report.html").write_text(render_deployment_html(c.report))
        manifest = {
            "format": FORMAT, "version": VERSION, "written_by": "snnc", "snnc_version": __version__,
            "model": c.source.name, "source": source, "target": c.mapping.target.name,
            "timesteps": c.report.get("timesteps"),
            "inputs": {n: {"shape": list(c.program.values[n].shape), "axes": c.program.values[n].axes}
                       for n in c.program.inputs},
            "outputs": list(c.program.outputs),
            "cores": len(c.mapping.cores), "chips": c.mapping.chips,
            "weights": {"arrays": len(doc["weights"]["arrays"]), "raw_bytes": raw, "stored_bytes": stored},
            "roles": roles, "files": describe_files(tmp, list(roles.values())),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        replace_dir(tmp, outdir)
    return sorted(roles.values()) + [MANIFEST]


def load_artifact(outdir: Path) -> tuple[dict, Graph, dict]:
    """(manifest, the quantised program, the mapping) of an artifact folder, verified
    (format, version, every file's name, type, size and SHA-256) before anything is parsed."""
    outdir = Path(outdir)
    manifest, contents = verify(outdir)
    where = f"{outdir}/{manifest['roles']['program']}"
    try:
        doc = json.loads(contents["program"])
        mapping = json.loads(contents["mapping"])
        weights = doc.pop("weights")["arrays"] if isinstance(doc, dict) else None
        program = graph_from_dict(doc) if isinstance(doc, dict) else None
    except IRError as err:
        raise SnncError(f"{where}: {err}; recompile the artifact") from None
    except _MALFORMED as err:
        raise SnncError(f"{where}: not the program snnc writes ({type(err).__name__}: {str(err)[:80]}); "
                        "recompile the artifact") from None
    if program is None:
        raise SnncError(f"{where}: not an snnc IR document; recompile the artifact")
    attach(program, weights, contents["weights"], f"{outdir}/{manifest['roles']['weights']}")
    try:                  # a program that hashes right may still be forged: every op re-inferred
        found = problems(program)
    except IRError as err:
        raise SnncError(f"{where}: {err}; recompile the artifact") from None
    except _MALFORMED as err:
        raise SnncError(f"{where}: the program does not verify ({type(err).__name__}: {str(err)[:80]}); "
                        "recompile the artifact") from None
    if found:
        raise SnncError(f"{where}: the program does not verify: {found[0]}; recompile the artifact")
    return manifest, program, mapping
