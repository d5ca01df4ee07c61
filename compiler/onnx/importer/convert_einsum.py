"""ONNX ``Einsum`` as existing IR ops: the forms transformers and timm write.

Einsum sums products over the letters an equation names. The forms lowered here have no
reduction of one operand alone and no repeated letter within a term (no diagonal):

    one operand      "bij->bji"            a transpose (or nothing)
    two operands     "bhid,bhjd->bhij"     a batched matrix product, after each operand
                     "bhij,bhjd->bhid"     is turned to [shared..., free..., summed...] /
                     "...ij,...jk->...ik"  [shared..., summed..., free...] and its free and
                     "i,j->ij" (outer)     summed letters are folded into one axis each

Letters fall into four sets (the usual einsum-to-GEMM lowering): *shared* (in both
operands and the output: matmul's batch axes), *summed* (both operands, not the output:
the inner axis K), and each operand's *free* letters (its own and the output's: the rows
M and columns N). The product is ``A[..., M, K] @ B[..., K, N]``; its ``[..., M, N]`` is
unfolded and turned to the output's order. A constant operand with no shared letters is a
weight: the product becomes ``linear`` over the other operand's row axes as they are (a
synaptic layer, as MatMul by a constant does).
The time/batch axes (the ONNX layout's batch block) must be one shared block of letters,
the same in every network operand and the output; they stay implicit in the IR.
Anything else is refused by name, with the equation.
"""

from __future__ import annotations

import math

import numpy as np

from snnc.onnx.importer.context import Context, converter


def _terms(ctx: Context, equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """The equation's input terms and output with ``...`` spelled out (one private letter
    per broadcast axis, aligned on the right as numpy aligns them) and an implicit output
    (no ``->``: the letters used once, in alphabetical order) made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ctx.fail(f"Einsum {equation!r} names {len(terms)} operands, the node has {len(ranks)}")
    widths = []
    for term, rank in zip(terms, ranks):
        if term.count("...") > 1 or "." in term.replace("...", ""):
            raise ctx.fail(f"Einsum {equation!r}: a malformed term {term!r}")
        width = rank - (len(term) - 3) if "..." in term else 0
        if width < 0 or ("..." not in term and len(term) != rank):
            raise ctx.fail(f"Einsum {equation!r}: term {term!r} does not fit an operand of rank {rank}")
        widths.append(width)
    widest = max(widths)
    spelled = [t.replace("...", "".join(chr(0x3B1 + widest - w + i) for i in range(w))) for t, w in zip(terms, widths)]
    ellipsis = "".join(chr(0x3B1 + i) for i in range(widest))
    if arrow:
        out = rhs.replace("...", ellipsis)
    else:
        letters = "".join(spelled)
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    return spelled, out


@converter("Einsum")
def einsum(ctx: Context, node) -> None:
    equation = str(ctx.attr("equation", ""))
    ins = list(node.input)
    if len(ins) not in (1, 2):
        raise ctx.fail(f"Einsum {equation!r} of {len(ins)} operands: snnc lowers one or two")
    ranks = [ctx.layout(x).full_rank if ctx.is_data(x) else ctx.const(x).ndim for x in ins]
    terms, out = _terms(ctx, equation, ranks)
    for term in [*terms, out]:
        if len(set(term)) != len(term):
            raise ctx.fail(f"Einsum {equation!r}: a letter repeated within {term!r} (a diagonal) has no IR op")
    if not set(out) <= set("".join(terms)):
        raise ctx.fail(f"Einsum {equation!r}: the output names a letter no operand has")
    batch = _batch_letters(ctx, equation, ins, terms, out)
    terms = [t.translate({ord(c): None for c in batch}) for t in terms]
    out = out.translate({ord(c): None for c in batch})
    if len(ins) == 1:
        _one(ctx, equation, ins[0], terms[0], out)
    else:
        _two(ctx, equation, ins, terms, out)


def _batch_letters(ctx: Context, equation: str, ins: list[str], terms: list[str], out: str) -> str:
    """The letters on the time/batch axes: the same block in every network operand, in the
    output (kept in order) and in no constant operand."""
    found = set()
    for x, term in zip(ins, terms):
        if not ctx.is_data(x):
            continue
        layout = ctx.layout(x)
        if layout.merged:
            raise ctx.fail(f"Einsum {equation!r} reads {x!r} laid out as {layout.describe()}, the batch merged "
                           "with a per-sample axis; reshape the batch back out first")
        found.add(term[layout.pos:layout.pos + layout.n_batch])
    if len(found) != 1:
        raise ctx.fail(f"Einsum {equation!r}: the operands' time/batch axes are letters {sorted(found)}; "
                       "they must be the same letters in every operand")
    batch = found.pop()
    for x, term in zip(ins, terms):
        if not ctx.is_data(x) and set(batch) & set(term):
            raise ctx.fail(f"Einsum {equation!r}: constant {x!r} runs along the time/batch axes ({batch})")
    if batch and batch not in out:
        raise ctx.fail(f"Einsum {equation!r} sums over or reorders the time/batch axes ({batch}), which "
                       "snnc keeps implicit")
    return batch


def _one(ctx: Context, equation: str, x: str, term: str, out: str) -> None:
    if sorted(term) != sorted(out):
        raise ctx.fail(f"Einsum {equation!r} sums over {''.join(c for c in term if c not in out)!r} of one "
                       "operand; only transposes of one operand are lowered")
    perm = [term.index(c) for c in out]
    if perm == sorted(perm):
        ctx.alias(ctx.node.output[0], ctx.value(x))
    else:
        ctx.emit("transpose", [ctx.value(x)], attrs={"perm": perm})


def _two(ctx: Context, equation: str, ins: list[str], terms: list[str], out: str) -> None:
    a, b = terms
    lone = [c for c in a + b if c not in out and (c in a) != (c in b)]
    if lone:
        raise ctx.fail(f"Einsum {equation!r} sums {''.join(lone)!r} over one operand alone; snnc lowers "
                       "products (matmul) and transposes")
    if not ctx.is_data(ins[0]):             # the network's operand first: the output order fixes it up
        ins, a, b = ins[::-1], b, a
    shared = [c for c in out if c in a and c in b]
    summed = [c for c in a if c in b and c not in out]
    rows, cols = [c for c in a if c not in b], [c for c in b if c not in a]
    if not ctx.is_data(ins[1]) and not shared:
        # a weight: A[rows..., K] @ B[K, N] is linear with W = Bᵀ [N, K] (as MatMul by a
        # constant), over A's row axes as they are
        left = _fold(ctx, ins[0], a, rows, [], summed, ":a", fold_first=False)
        weight = _folded_const(ctx, ins[1], b, shared, summed, cols)
        y = ctx.emit("linear", [left], params={"weight": np.ascontiguousarray(weight.T)}, output="",
                     suffix=":linear")
    else:
        left = _fold(ctx, ins[0], a, shared, rows, summed, ":a")
        right = _fold(ctx, ins[1], b, shared, summed, cols, ":b")
        y = ctx.emit("matmul", [left, right], output="", suffix=":matmul")
    made = [*shared, *rows, *cols]
    size = {**dict(zip(b, _shape(ctx, ins[1]))), **dict(zip(a, _shape(ctx, ins[0])))}
    full = [*ctx.graph.values[y].shape[:len(shared)], *(size[c] for c in rows + cols)]
    perm = [made.index(c) for c in out]
    turn = perm != sorted(perm)
    if list(ctx.graph.values[y].shape) != full:
        y = ctx.emit("reshape", [y], attrs={"shape": full}, output="" if turn else None, suffix=":unfold")
    if turn:
        ctx.emit("transpose", [y], attrs={"perm": perm})
    elif ctx.node.output[0] not in ctx.ir:
        ctx.alias(ctx.node.output[0], y)


def _shape(ctx: Context, x: str) -> tuple[int, ...]:
    if ctx.is_data(x):
        return ctx.graph.values[ctx.value(x)].shape
    return ctx.const(x).shape


def _folded_const(ctx: Context, x: str, term: str, shared, first, second) -> np.ndarray:
    value = np.transpose(ctx.const(x), [term.index(c) for c in [*shared, *first, *second]])
    lead = value.shape[:len(shared)]
    return value.reshape(*lead, math.prod(value.shape[len(shared):len(shared) + len(first)]), -1)


def _fold(ctx: Context, x: str, term: str, shared, first, second, suffix: str, fold_first: bool = True) -> str:
    """Operand ``x`` (per-sample letters ``term``) turned to [shared..., first..., second...]
    and each group folded to one axis: [shared..., prod(first), prod(second)] (an empty
    group is an axis of 1: the outer product's K); without ``fold_first`` (a linear's
    input, ``first`` empty) [shared..., prod(second)]."""
    if not ctx.is_data(x):
        return ctx.constant(x + suffix, _folded_const(ctx, x, term, shared, first, second))
    value = ctx.value(x)
    perm = [term.index(c) for c in [*shared, *first, *second]]
    if perm != sorted(perm):
        value = ctx.emit("transpose", [value], attrs={"perm": perm}, output="", suffix=suffix + ":turn")
    shape = ctx.graph.values[value].shape
    n = len(shared)
    folded = [*shape[:n], *([math.prod(shape[n:n + len(first)])] if fold_first else []),
              math.prod(shape[n + len(first):])]
    if list(shape) != folded:
        value = ctx.emit("reshape", [value], attrs={"shape": folded}, output="", suffix=suffix + ":fold")
    return value
