"""The ONNX converter for RMSNormalization (opset 23): x / sqrt(mean(x^2) + epsilon)
over the axes from `axis` on, times a scale, composed from graphjit's elementwise ops
and a mean the compiler fuses."""

from __future__ import annotations

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_math import axis_of

_STASH = {1: gj.float32, 11: gj.float64}  # ONNX's FLOAT and DOUBLE element types


@converter("RMSNormalization", attrs=("axis", "epsilon", "stash_type"))
def convert_rms_normalization(ctx: NodeContext) -> Tensor:
    """As ONNX's function body: the input cast to the stash type (float32 by default,
    float64 for stash_type=11), normalized there, cast back and multiplied by the scale
    (broadcast unidirectionally); Y has the scale's type."""
    x, scale = ctx.inputs[:2]
    if x.ndim == 0:
        raise ctx.unsupported("needs an input of rank >= 1")
    axis = axis_of(ctx, ctx.attr("axis", -1), x.ndim)
    stash = ctx.attr("stash_type", 1)
    if stash not in _STASH:
        raise ctx.unsupported(f"stash_type {stash} is not supported (1: float32, 11: float64)")
    xu = gj.cast(x, _STASH[stash])
    mean_square = gj.reduce_mean(xu * xu, list(range(axis, x.ndim)), keepdims=True)
    normalized = xu / gj.sqrt(mean_square + ctx.attr("epsilon", 1e-5))
    return gj.multiply(gj.cast(gj.cast(normalized, x.dtype), scale.dtype), scale,
                       name=ctx.name)
