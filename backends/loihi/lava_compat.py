"""The one door to ``lava-nc``: import Lava only through :func:`import_lava`.

lava-nc 0.10.0 (archived by Intel in 2026) declares ``python<3.11`` and ``numpy<2``.
On Python 3.11 with numpy 2.4 three of its modules break, each in one construct:

- ``lava/magma/compiler/var_model.py`` gives dataclass fields instances of another
  dataclass as defaults (``x: ByteEncoder = ByteEncoder()``), which Python 3.11's
  ``dataclasses`` rejects at import ("mutable default <class 'ByteEncoder'> for field
  x is not allowed: use default_factory");
- ``lava/magma/core/process/ports/ports.py`` reshapes data on reshaped ports with
  ``functools.partial(np.reshape, newshape=shape)``; numpy 2.4 removed the ``newshape``
  keyword, so a run with a ``port.reshape(...)``/``port.flatten()`` connection fails
  inside Lava's worker process (and, the error swallowed there, waits forever);
- ``lava/proc/conv/utils.py`` checks ``channels % groups`` with ``groups`` the Conv
  model's int8 Var, and computes the output size as ``input_shape[0] + 2 * padding[0]``
  with ``padding`` another int8 Var (so are ``kernel_size``, ``stride``, ``dilation``);
  under numpy 2's promotion rules (NEP 50) a Python int of 128 or more against an int8
  raises OverflowError, so every Conv with 128 channels or more, or an input axis of 128
  or more, fails (inside the worker: its fixed_pt model convolves with scipy).

The fix is an import hook, installed before the first Lava import and scoped to those
three modules (:data:`PATCHES`): when one loads, its source is parsed, the construct is
rewritten on the syntax tree, and the module is compiled from that tree:

- ``name: T = Cls()`` in a class body, with ``Cls`` a class of the same module, becomes
  ``name: T = dataclasses.field(default_factory=Cls)`` (what the dataclass means: each
  instance gets its own default object);
- ``ft.partial(np.reshape, newshape=s)`` becomes ``reshape_to(s)``, a function that
  reshapes positionally (valid on every numpy);
- a function of ``conv/utils.py`` taking ``groups`` starts with ``groups = as_int(groups)``,
  and one taking ``kernel_size``/``stride``/``padding``/``dilation`` makes each a tuple
  of Python ints first (``as_int(padding, True)``).

Line numbers stay those of the file; nothing is written to the bytecode cache, so the
installed package stays untouched. Lava stays behind the backend boundary: nothing in
``snnc.ir`` or ``snnc`` imports it; :mod:`snnc.backends.loihi.lava_lower` imports its
modules after :func:`import_lava`.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import sys

import numpy as np

from snnc.ir.errors import SnncError

INSTALL_HINT = ("pip install --no-deps --ignore-requires-python lava-nc==0.10.0 and the "
                "'lava' extra (pip install 'snnc[lava]'), or run .ci/setup")


def reshape_to(shape):
    """``np.reshape(data, shape)`` as a one-argument function (what the rewritten ports
    module calls instead of ``partial(np.reshape, newshape=shape)``)."""
    def reshape(data):
        return np.reshape(data, shape)
    return reshape


class _DefaultFactoryRewriter(ast.NodeTransformer):
    """``name: T = Cls()`` inside a class body -> ``name: T = field(default_factory=Cls)``
    when ``Cls`` is a class defined at the top level of the same module."""

    helper = ("dataclasses", "field", "_snnc_dataclass_field")

    def __init__(self, tree: ast.Module):
        self.local_classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        self.rewritten: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        for stmt in node.body:
            value = getattr(stmt, "value", None)
            if (isinstance(stmt, ast.AnnAssign) and isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name) and value.func.id in self.local_classes
                    and not value.args and not value.keywords):
                stmt.value = ast.copy_location(ast.Call(
                    func=ast.Name(self.helper[2], ast.Load()), args=[],
                    keywords=[ast.keyword("default_factory", ast.Name(value.func.id, ast.Load()))]), value)
                self.rewritten.append(f"{node.name}.{ast.unparse(stmt.target)}")
        self.generic_visit(node)
        return node


class _ReshapeKeywordRewriter(ast.NodeTransformer):
    """``<mod>.partial(<np>.reshape, newshape=s)`` -> ``reshape_to(s)``."""

    helper = (__name__, "reshape_to", "_snnc_reshape_to")

    def __init__(self, tree: ast.Module):
        self.rewritten: list[str] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func, args, kws = node.func, node.args, node.keywords
        if (isinstance(func, ast.Attribute) and func.attr == "partial" and len(args) == 1
                and isinstance(args[0], ast.Attribute) and args[0].attr == "reshape"
                and len(kws) == 1 and kws[0].arg == "newshape"):
            self.rewritten.append(f"line {node.lineno}: {ast.unparse(node)}")
            return ast.copy_location(ast.Call(ast.Name(self.helper[2], ast.Load()), [kws[0].value], []), node)
        return node


def as_int(value, many: bool = False):
    """A Python int from a numpy scalar or one-element array (Lava's int8 ``groups``); with
    ``many``, a numpy array as a tuple of Python ints (Lava's int8 ``kernel_size``,
    ``stride``, ``padding``, ``dilation``), anything else as it is."""
    if many:
        return tuple(int(v) for v in value.reshape(-1)) if isinstance(value, np.ndarray) else value
    return int(np.asarray(value).reshape(-1)[0])


#: conv/utils.py arguments Lava passes as its model's int8 Vars
_INT8_ARGS = {"groups": False, "kernel_size": True, "stride": True, "padding": True, "dilation": True}


class _GroupsIntRewriter(ast.NodeTransformer):
    """``def f(..., groups, padding, ...): body`` -> ``def f(...): groups = as_int(groups);
    padding = as_int(padding, True); body`` (every argument of :data:`_INT8_ARGS`)."""

    helper = (__name__, "as_int", "_snnc_as_int")

    def __init__(self, tree: ast.Module):
        self.rewritten: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        names = [a.arg for a in node.args.args if a.arg in _INT8_ARGS]
        docstring = int(isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant))
        for name in reversed(names):
            call = ast.Call(ast.Name(self.helper[2], ast.Load()),
                            [ast.Name(name, ast.Load())] + [ast.Constant(True)] * _INT8_ARGS[name], [])
            fix = ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], call), node.body[0])
            node.body.insert(docstring, fix)
        if names:
            self.rewritten.append(f"line {node.lineno}: def {node.name}(..., {', '.join(names)}, ...)")
        return node


#: module -> the rewrite it needs (see the module doc)
PATCHES = {
    "lava.magma.compiler.var_model": _DefaultFactoryRewriter,
    "lava.magma.core.process.ports.ports": _ReshapeKeywordRewriter,
    "lava.proc.conv.utils": _GroupsIntRewriter,
}


def rewrite_source(source: str | bytes, rewriter_cls, filename: str = "<lava>") -> tuple[ast.Module, list[str]]:
    """The syntax tree of ``source`` after ``rewriter_cls``, and what it rewrote. The
    helper the rewrite calls is imported right after any ``from __future__`` import."""
    tree = ast.parse(source, filename)
    rewriter = rewriter_cls(tree)
    tree = rewriter.visit(tree)
    if rewriter.rewritten:
        module, name, alias = rewriter_cls.helper
        at = next((i + 1 for i, n in reversed(list(enumerate(tree.body)))
                   if isinstance(n, ast.ImportFrom) and n.module == "__future__"), 0)
        imp = ast.ImportFrom(module, [ast.alias(name, alias)], 0)
        tree.body.insert(at, ast.copy_location(imp, tree.body[min(at, len(tree.body) - 1)]))
    ast.fix_missing_locations(tree)
    return tree, rewriter.rewritten


class _PatchingLoader(importlib.machinery.SourceFileLoader):
    """Loads one module from its rewritten source; bypasses the bytecode cache both ways
    (a cached .pyc of the original would skip the rewrite)."""

    def get_code(self, fullname):
        source = self.get_data(self.path)
        tree, self.rewritten = rewrite_source(source, PATCHES[fullname], self.path)
        return compile(tree, self.path, "exec", dont_inherit=True)


class _LavaFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`PATCHES` with :class:`_PatchingLoader`; passes on the rest."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PatchingLoader(fullname, spec.origin)
        return spec


def install_fix() -> None:
    """Put the import hook first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _LavaFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LavaFinder())


def lava_available() -> bool:
    """Whether lava-nc is installed (does not import it)."""
    return importlib.util.find_spec("lava") is not None and \
        importlib.util.find_spec("lava.magma") is not None


def _allow_fork_context() -> None:
    """Lava's message infrastructure calls ``multiprocessing.set_start_method('fork')``
    when it is first imported, which raises once anything has fixed the context, even
    to 'fork' (``multiprocessing.get_start_method()`` does; torch's ONNX exporter calls
    it). A context fixed to 'fork' is what Lava sets anyway: unfix it so Lava's own call
    succeeds. Lava cannot run under any other start method."""
    import multiprocessing as mp

    if "lava.magma.runtime.message_infrastructure.multiprocessing" in sys.modules:
        return
    method = mp.get_start_method(allow_none=True)
    if method == "fork":
        mp.set_start_method(None, force=True)
    elif method is not None:
        raise SnncError(f"multiprocessing uses the {method!r} start method; Lava runs only under 'fork': "
                        "do not set another one before running Lava")


def import_lava() -> None:
    """Make Lava importable (the fixes installed) and check that it imports; raise
    :class:`SnncError` with the install command when it is missing or broken."""
    if not lava_available():
        raise SnncError(f"lava-nc is not installed; {INSTALL_HINT}")
    stale = [m for m in PATCHES if m in sys.modules and not isinstance(
        getattr(sys.modules[m], "__loader__", None), _PatchingLoader)]
    if stale:
        raise SnncError(f"{stale[0]} was imported before snnc's Lava fix; import Lava only through "
                        "snnc.backends.loihi.lava_compat.import_lava()")
    install_fix()
    _allow_fork_context()
    try:
        for module in (*PATCHES, "lava.magma.core.run_configs"):
            importlib.import_module(module)
    except SnncError:
        raise
    except Exception as err:  # a broken install: say which, in one line
        raise SnncError(f"lava-nc failed to import ({type(err).__name__}: {err}); {INSTALL_HINT}") from err
