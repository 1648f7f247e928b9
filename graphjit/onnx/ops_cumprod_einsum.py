"""ONNX converters for CumProd (opset 26) and Einsum onto graphjit's own cumprod and
einsum: the same scans and contractions. ONNX's attribute spelling and CumProd's axis
input are translated here, and Einsum's ellipses and diagonals (repeated letters), which
graphjit's einsum lacks, are spelled out and taken first. graphjit's Cumprod is
exported as CumProd."""

from __future__ import annotations

import string

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.errors import UnsupportedError
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import translates
from graphjit.onnx.ops_math import axis_of, static_ints


@converter("CumProd", attrs=("exclusive", "reverse"))
def convert_cumprod(ctx: NodeContext) -> Tensor:
    """As CumSum: the axis is a 0-D input known at build time."""
    x = ctx.inputs[0]
    if x.ndim == 0:
        raise ctx.unsupported("the input must have rank >= 1, got a scalar")
    axis = static_ints(ctx, 1, "axis")
    if len(axis) != 1:
        raise ctx.invalid(f"axis must hold one value, got {axis}")
    return gj.cumprod(x, axis_of(ctx, axis[0], x.ndim),
                      exclusive=bool(ctx.attr("exclusive", 0)),
                      reverse=bool(ctx.attr("reverse", 0)), name=ctx.name)


def _einsum_terms(ctx: NodeContext, inputs: list[Tensor]) -> str:
    """The node's equation made explicit: each '...' spelled with fresh letters (NumPy's
    rule: aligned at the right, an implicit output starting with them), and the output
    of an equation without '->' written out from the original (letters used once,
    sorted)."""
    eq = ctx.attr("equation").replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(inputs):
        raise ctx.invalid(f"equation {eq!r} has {len(terms)} operand(s) for {len(inputs)} "
                          "input(s)")
    fresh = [c for c in string.ascii_letters if c not in eq]
    spans = [x.ndim - len(t.replace("...", "")) if "..." in t else 0
             for t, x in zip(terms, inputs)]
    if min(spans) < 0 or max(spans) > len(fresh):
        raise ctx.invalid(f"equation {eq!r} does not match the inputs' ranks "
                          f"{[x.ndim for x in inputs]}")
    ellipsis = "".join(fresh[:max(spans)])
    named = [t.replace("...", ellipsis[len(ellipsis) - n:]) for t, n in zip(terms, spans)]
    if not arrow:
        letters = lhs.replace("...", "").replace(",", "")
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ",".join(named) + "->" + out.replace("...", ellipsis)


def _diagonal(ctx: NodeContext, i: int, x: Tensor, term: str) -> tuple[Tensor, str]:
    """x with every letter repeated in `term` (its axes of one size n) reduced to their
    diagonal: the axes moved last and merged, then a gather at i * (1 + n + n^2 ...)."""
    while len(set(term)) != len(term):
        c = next(c for c in term if term.count(c) > 1)
        axes = [i for i, t in enumerate(term) if t == c]
        rest = [i for i, t in enumerate(term) if t != c]
        dims = [x.shape[a] for a in axes]
        if None in dims:
            dims = [ctx.require_shape(i, "an einsum diagonal")[a] for a in axes]
        n = int(dims[0])
        if any(d != n for d in dims):
            raise ctx.invalid(f"letter '{c}' names axes of sizes {dims}")
        other = [x.shape[a] for a in rest]
        merged = gj.reshape(gj.transpose(x, rest + axes),
                            [-1 if d is None else int(d) for d in other] + [n ** len(axes)])
        step = sum(n ** j for j in range(len(axes)))
        x = gj.gather(merged, np.arange(n, dtype=np.int64) * step, axis=len(rest))
        term = "".join(term[a] for a in rest) + c
    return x, term


@converter("Einsum", attrs=("equation",))
def convert_einsum(ctx: NodeContext) -> Tensor:
    """graphjit's einsum, after the equation is made explicit and each operand's repeated
    letters (diagonals) taken; what graphjit's einsum refuses is re-raised naming the
    node."""
    inputs = list(ctx.inputs)
    lhs, out = _einsum_terms(ctx, inputs).split("->")
    terms = lhs.split(",")
    for i, (x, term) in enumerate(zip(inputs, terms)):
        inputs[i], terms[i] = _diagonal(ctx, i, x, term)
    sizes: dict[str, set] = {}
    for x, term in zip(inputs, terms):
        for c, d in zip(term, x.shape):
            if d is not None:
                sizes.setdefault(c, set()).add(int(d))
    for c, found in sizes.items():
        if len(found) > 1:
            if 1 in found and len(found) == 2:
                raise ctx.unsupported(f"an axis of size 1 broadcast against {max(found)} "
                                      f"(letter '{c}') is not supported by graphjit's einsum")
            raise ctx.invalid(f"letter '{c}' names axes of sizes {sorted(found)}")
    try:
        return gj.einsum(",".join(terms) + "->" + out, *inputs, name=ctx.name)
    except UnsupportedError as exc:
        raise ctx.unsupported(str(exc)) from None


@translates("Cumprod")
def _export_cumprod(ctx) -> str:
    if ctx.opset < 26:
        raise ctx.unsupported("ONNX has CumProd from opset 26 on (exp(CumSum(log x)) would "
                              "be wrong for zeros and negatives)")
    return ctx.node("CumProd", ctx.inputs[0], ctx.scalar(ctx.attrs["axis"], dtypes.int64),
                    exclusive=int(ctx.attrs["exclusive"]), reverse=int(ctx.attrs["reverse"]))
