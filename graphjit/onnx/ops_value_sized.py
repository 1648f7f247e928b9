"""ONNX converters for ops whose output size depends on input values: Compress and
NonZero onto graphjit's BooleanMask, Unique onto its Unique primitive (both ways). A
compiled function runs such an op on the host between the plans before and after it
(graphjit.staged), so the size is found at run time and the results are exact.

NonZero is the mask applied to a static table of every element's coordinates: the
coordinates of the non-zero elements, row-major as NumPy's nonzero, then transposed to
ONNX's [rank, count].
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import translates
from graphjit.onnx.ops_math import axis_of
from graphjit.ops.unique import unique_op


@converter("Compress", attrs=("axis",))
def convert_compress(ctx: NodeContext) -> Tensor:
    """As numpy.compress: the slices along `axis` (the flattened input without one)
    where the 1-D condition holds; a condition shorter than the axis drops the rest."""
    x, condition = ctx.inputs
    if condition.ndim != 1:
        raise ctx.invalid(f"condition must be 1-D, got shape {condition.shape}")
    axis = ctx.attr("axis")
    if axis is None:
        x, axis = gj.reshape(x, [-1]), 0
    else:
        axis = axis_of(ctx, axis, x.ndim)
    size = x.shape[axis] if x.shape[axis] is not None else ctx.require_shape(0, "Compress")[axis]
    length = condition.shape[0]
    if length is None:
        length = ctx.require_shape(1, "Compress")[0]
    if length > size:
        raise ctx.unsupported(f"condition has {length} values for an axis of size {size}")
    if length < size:
        x = gj.slice(x, [0] * x.ndim, [-1] * axis + [length] + [-1] * (x.ndim - axis - 1))
    return gj.boolean_mask(x, condition, axis=axis, name=ctx.name)


@converter("NonZero")
def convert_nonzero(ctx: NodeContext) -> Tensor:
    """[rank, count] int64 coordinates of the non-zero elements (a scalar: [0, count])."""
    x = ctx.inputs[0]
    shape = [int(d) for d in ctx.require_shape(0, "NonZero's coordinates")]
    count = int(np.prod(shape))
    ctx.check_size(count * max(len(shape), 1), 8, "NonZero's coordinate table")
    coords = np.indices(shape, dtype=np.int64).reshape(len(shape), count).T if shape \
        else np.zeros((1, 0), np.int64)
    nonzero = gj.not_equal(gj.reshape(x, [count]), np.zeros((), x.dtype.np))
    picked = gj.boolean_mask(np.ascontiguousarray(coords), nonzero)
    return gj.transpose(picked, [1, 0], name=ctx.name)


@converter("Unique", attrs=("axis", "sorted"))
def convert_unique(ctx: NodeContext) -> list[Tensor]:
    """Y, indices, inverse_indices and counts, as many as the node names."""
    x = ctx.inputs[0]
    axis = ctx.attr("axis")
    if axis is not None:
        axis = axis_of(ctx, axis, x.ndim)
    outputs = unique_op(x, axis, bool(ctx.attr("sorted", 1)), name=ctx.name)
    return outputs[:ctx.num_outputs]


@translates("Unique")
def _export_unique(ctx) -> list[str]:
    axis = ctx.attrs["axis"]
    extra = {} if axis is None else {"axis": axis}
    return ctx.node("Unique", ctx.inputs[0], outputs=4, sorted=int(ctx.attrs["sorted"]),
                    **extra)
