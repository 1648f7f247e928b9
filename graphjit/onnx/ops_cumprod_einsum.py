"""ONNX converters for CumProd (opset 26) and Einsum onto graphjit's own cumprod and
einsum: the same scans and contractions, so only ONNX's attribute spelling and the axis
input are translated here."""

from __future__ import annotations

import graphjit as gj
from graphjit.errors import UnsupportedError
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
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


@converter("Einsum", attrs=("equation",))
def convert_einsum(ctx: NodeContext) -> Tensor:
    """graphjit's einsum takes ONNX's equations but for ellipses and repeated letters
    (diagonals), which it refuses; the refusal is re-raised naming the node."""
    try:
        return gj.einsum(ctx.attr("equation"), *ctx.inputs, name=ctx.name)
    except UnsupportedError as exc:
        raise ctx.unsupported(str(exc)) from None
