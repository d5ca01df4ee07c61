"""The pass manager: passes registered by name, pipelines as text, verify between passes.

    graph = run_pipeline(graph, "fold-bn,fold-scale,dce", verify_each=True)

A pass is a plain function ``fn(graph, log=None) -> Graph`` that never mutates its
input (it works on ``graph.copy()``), registered under a kebab-case name with
:func:`register`. It records what it did in the :class:`PassLog` it is handed
(counts, and every candidate it left alone with the reason). :func:`run_pipeline` runs
a comma-separated list of names; like MLIR's ``--verify-each`` it can re-run the IR
verifier after every pass and names the pass that broke the graph, print the IR after
chosen passes (``--print-after``), and time each pass.

A pass may declare prerequisites (``register("loihi-quantize", requires=("fold-bn",))``):
:func:`parse_pipeline` puts each one that the pipeline does not already run earlier
just before the pass that needs it, so a pipeline is always complete. Passes that take
more than the graph (the quantiser's calibration data) get it through ``options``:
``run_pipeline(g, "loihi-quantize", options={"loihi-quantize": {"calibration": feeds}})``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, TextIO

from snnc.ir import verify as ir_verify
from snnc.ir.errors import IRError, SnncError
from snnc.ir.graph import Graph
from snnc.ir.printer import graph_str

PassFn = Callable[..., Graph]


@dataclass
class PassLog:
    """What one pass did: ``counts`` (e.g. ``{"folded": 12, "left": 1}``), ``left``
    (node, reason) for every candidate it did not rewrite, and the run's size and time."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    left: list[tuple[str, str]] = field(default_factory=list)
    nodes_before: int = 0
    nodes_after: int = 0
    seconds: float = 0.0

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def leave(self, node: str, reason: str, key: str = "left") -> None:
        """Record that candidate ``node`` stays as it is, and why."""
        self.left.append((node, reason))
        self.add(key)

    @property
    def nodes_removed(self) -> int:
        return self.nodes_before - self.nodes_after

    def summary(self) -> str:
        """One line: ``fold-bn: folded=12 left=1 (61 -> 49 nodes)``."""
        counts = " ".join(f"{k}={v}" for k, v in self.counts.items()) or "nothing to do"
        return f"{self.name}: {counts} ({self.nodes_before} -> {self.nodes_after} nodes)"

    def lines(self) -> list[str]:
        return [self.summary()] + [f"  left {node!r}: {reason}" for node, reason in self.left]


@dataclass(frozen=True)
class Pass:
    name: str
    fn: PassFn
    doc: str
    requires: tuple[str, ...] = ()


PASSES: dict[str, Pass] = {}


def register(name: str, requires: Iterable[str] = ()) -> Callable[[PassFn], PassFn]:
    """Register the decorated ``fn(graph, log=None, **options) -> Graph`` as pass
    ``name``; ``requires`` names the passes that must have run before it."""

    def wrap(fn: PassFn) -> PassFn:
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        PASSES[name] = Pass(name, fn, doc[0] if doc else "", tuple(requires))
        return fn

    return wrap


def parse_pipeline(pipeline: str | Iterable[str]) -> list[Pass]:
    """``"fold-bn, fold-scale,dce"`` (or a list of names) -> the passes, checked, with
    every prerequisite not run earlier put just before the pass that requires it."""
    names = pipeline.split(",") if isinstance(pipeline, str) else list(pipeline)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise SnncError(f"unknown pass(es) {', '.join(map(repr, unknown))}; "
                        f"available: {', '.join(sorted(PASSES))}")
    done: list[Pass] = []
    for name in names:
        _schedule(name, done, ())
    return done


def _schedule(name: str, done: list[Pass], needed_by: tuple[str, ...]) -> None:
    """Append pass ``name`` to ``done`` after whatever it requires that ``done`` lacks."""
    if name in needed_by:
        raise ValueError(f"passes {' -> '.join(needed_by + (name,))} require each other")
    p = PASSES[name]
    for req in p.requires:
        if all(q.name != req for q in done):
            _schedule(req, done, needed_by + (name,))
    done.append(p)


def _check(graph: Graph, after: str) -> None:
    found = ir_verify.problems(graph)
    if found:
        raise IRError(f"pass {after!r} left a malformed graph ({len(found)} problems)", problems=found) \
            if after else IRError(f"the input graph is malformed ({len(found)} problems)", problems=found)


def run_pipeline(graph: Graph, pipeline: str | Iterable[str], *, verify_each: bool = False,
                 print_after: str | Iterable[str] = (), timings: bool = False,
                 logs: list[PassLog] | None = None, out: TextIO | None = None,
                 options: dict[str, dict] | None = None) -> Graph:
    """Run the passes named in ``pipeline`` (comma-separated, in order) on ``graph``.

    Args:
        verify_each: verify the input, then re-run the IR verifier after every pass; a
            broken graph raises :class:`IRError` naming the pass.
        print_after: pass names (or ``"all"``) after which the IR is printed to ``out``.
        timings: print a table of seconds per pass to ``out`` at the end.
        logs: a list to which each pass's :class:`PassLog` is appended.
        options: pass name -> keyword arguments that pass is called with.
        out: where printing goes (default ``sys.stdout``).

    Returns the rewritten graph; ``graph`` itself is never modified.
    """
    passes = parse_pipeline(pipeline)
    shown = {print_after} if isinstance(print_after, str) else set(print_after)
    bad = shown - set(PASSES) - {"all"}
    if bad:
        raise SnncError(f"--print-after names unknown pass(es) {', '.join(map(repr, sorted(bad)))}; "
                        f"available: {', '.join(sorted(PASSES))}")
    out = out or sys.stdout
    options = options or {}
    stray = set(options) - {p.name for p in passes}
    if stray:
        raise ValueError(f"options for pass(es) the pipeline does not run: {sorted(stray)}")
    done = [] if logs is None else logs
    start = len(done)
    if verify_each:
        _check(graph, "")
    for p in passes:
        log = PassLog(p.name, nodes_before=len(graph))
        t0 = time.perf_counter()
        try:
            result = p.fn(graph, log, **options.get(p.name, {}))
        except SnncError as err:     # the user's graph: keep the type, name the pass
            err.args = (f"pass {p.name!r}: {err}", *err.args[1:])
            raise
        except Exception as err:     # a bug in the pass: keep the traceback, say where
            err.add_note(f"while running pass {p.name!r}")
            raise
        log.seconds = time.perf_counter() - t0
        log.nodes_after = len(result)
        done.append(log)
        if verify_each:
            _check(result, p.name)
        if p.name in shown or "all" in shown:
            print(f"// -----// IR after {p.name} //----- //", file=out)
            print(graph_str(result), file=out)
        graph = result
    if timings:
        print(timing_table(done[start:]), file=out)
    return graph


def timing_table(logs: list[PassLog]) -> str:
    """Seconds per pass and the share of the total, like MLIR's ``--mlir-timing``."""
    total = sum(r.seconds for r in logs) or 1e-12
    lines = ["  seconds   share  pass"]
    lines += [f"  {r.seconds:7.4f}  {100 * r.seconds / total:5.1f}%  {r.name}" for r in logs]
    lines.append(f"  {sum(r.seconds for r in logs):7.4f}  100.0%  total")
    return "\n".join(lines)
