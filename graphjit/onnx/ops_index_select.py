"""ONNX converters for OneHot, GatherND, TopK, ReverseSequence and CenterCropPad onto
graphjit's one_hot, gather_nd, top_k, reverse_sequence, slicing and pad.

What ONNX adds to TF's versions is translated here: negative indices count from the
end (OneHot, GatherND), GatherND's batch_dims become leading index columns, TopK runs
on any axis and also picks the smallest (a monotone decreasing map of the values, then
back: exact for every dtype), and CenterCropPad's crop and pad offsets are computed at
build time from the static shapes.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_math import axis_of, static_ints
from graphjit.ops.sorting import top_k


def _static_dims(ctx: NodeContext, i: int, axes, what: str) -> list[int]:
    """The sizes of input i along `axes`, which must be known at build time."""
    t = ctx.inputs[i]
    if any(t.shape[a] is None for a in axes):
        ctx.require_shape(i, what)
    return [int(t.shape[a]) for a in axes]


@converter("OneHot", attrs=("axis",))
def convert_one_hot(ctx: NodeContext) -> Tensor:
    """values = [off, on]; an index in [-depth, 0) counts from the end, one outside
    [-depth, depth) gives a row of off values (as ONNX's reference)."""
    indices, _, values = ctx.inputs
    depth = np.ravel(ctx.require_static(1, "depth"))
    if depth.size != 1:
        raise ctx.invalid(f"depth must hold one value, got {depth.size}")
    depth = int(depth[0])
    if depth < 1:
        raise ctx.invalid(f"depth must be positive, got {depth}")
    if values.shape.ndims != 1 or values.shape[0] not in (None, 2):
        raise ctx.invalid(f"values must be [off_value, on_value], got shape {values.shape}")
    idx = gj.cast(indices, gj.int64)  # floats truncate toward zero, as the reference
    idx = gj.where(gj.less(idx, np.int64(0)), gj.add(idx, np.int64(depth)), idx)
    axis = ctx.attr("axis", -1)
    axis_of(ctx, axis, indices.ndim + 1)
    return gj.one_hot(idx, depth, on_value=values[1], off_value=values[0], axis=axis,
                      dtype=values.dtype, name=ctx.name)


@converter("GatherND", attrs=("batch_dims",))
def convert_gather_nd(ctx: NodeContext) -> Tensor:
    """data[b..., indices[b..., i..., :], ...]: the first batch_dims axes pair data with
    indices, which is graphjit's gather_nd with those axes' positions (static) prepended
    to each index tuple; negative indices count from the end of their axis."""
    data, indices = ctx.inputs
    b = int(ctx.attr("batch_dims", 0))
    if indices.ndim < 1 or indices.shape[-1] is None:
        raise ctx.unsupported(f"indices need a static last dim, got shape {indices.shape}")
    k = int(indices.shape[-1])
    if not 0 <= b < min(data.ndim, indices.ndim) or not 1 <= k <= data.ndim - b:
        raise ctx.invalid(f"batch_dims {b} and index tuples of length {k} do not fit data "
                          f"of rank {data.ndim} and indices of rank {indices.ndim}")
    dims = np.asarray(_static_dims(ctx, 0, range(b, b + k), "negative indices"), np.int64)
    idx = gj.cast(indices, gj.int64)
    idx = gj.where(gj.less(idx, np.int64(0)), gj.add(idx, dims), idx)
    if b:
        lead = _static_dims(ctx, 1, range(indices.ndim - 1), "batch_dims")
        coords = np.indices(lead, dtype=np.int64)[:b]  # [b, *lead]
        idx = gj.concat([np.moveaxis(coords, 0, -1), idx], axis=-1)
    return gj.gather_nd(data, idx, name=ctx.name)


def _descending(x: Tensor) -> Tensor:
    """A map that reverses the order of x's values, its own inverse, exact in x's dtype:
    -x for floats, -1 - x (~x) for signed and max - x for unsigned integers."""
    if x.dtype.is_floating:
        return gj.negative(x)
    if x.dtype.is_unsigned:
        return gj.subtract(np.asarray(np.iinfo(x.dtype.np).max, x.dtype.np), x)
    return gj.subtract(np.asarray(-1, x.dtype.np), x)


@converter("TopK", attrs=("axis", "largest", "sorted"))
def convert_top_k(ctx: NodeContext) -> list[Tensor]:
    """graphjit's top_k (last axis, largest first, ties in index order, as ONNX) with
    the axis moved last and back; sorted=0 leaves the order to the implementation, so
    the sorted result is a valid one."""
    x = ctx.inputs[0]
    if x.ndim == 0:
        raise ctx.invalid("the input must have rank >= 1, got a scalar")
    k = static_ints(ctx, 1, "K")
    if len(k) != 1 or k[0] < 0:
        raise ctx.invalid(f"K must be one non-negative value, got {k}")
    axis = axis_of(ctx, ctx.attr("axis", -1), x.ndim)
    if x.shape[axis] is not None and k[0] > x.shape[axis]:
        raise ctx.invalid(f"K = {k[0]} is larger than axis {axis}'s size {x.shape[axis]}")
    perm = list(range(x.ndim))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = gj.transpose(x, perm) if axis != x.ndim - 1 else x
    largest = bool(ctx.attr("largest", 1))
    values, indices = top_k(moved if largest else _descending(moved), k[0])
    if not largest:
        values = _descending(values)
    indices = gj.cast(indices, gj.int64)
    if axis != x.ndim - 1:
        values, indices = gj.transpose(values, perm), gj.transpose(indices, perm)
    return [gj.identity(values, name=ctx.name), gj.identity(indices)]


@converter("ReverseSequence", attrs=("batch_axis", "time_axis"))
def convert_reverse_sequence(ctx: NodeContext) -> Tensor:
    x, lengths = ctx.inputs
    batch = ctx.attr("batch_axis", 1)
    time = ctx.attr("time_axis", 0)
    if {batch, time} != {0, 1}:
        raise ctx.invalid(f"batch_axis and time_axis must be 0 and 1, got {batch}, {time}")
    return gj.reverse_sequence(x, lengths, seq_axis=time, batch_axis=batch, name=ctx.name)


@converter("CenterCropPad", attrs=("axes",))
def convert_center_crop_pad(ctx: NodeContext) -> Tensor:
    """Each listed axis cropped to its target size about its centre (the extra element
    of an odd difference dropped at the end) or zero-padded likewise (the extra zero at
    the end), as ONNX's reference; the sizes are static."""
    x = ctx.inputs[0]
    target = static_ints(ctx, 1, "shape")
    axes = ctx.attr("axes", list(range(x.ndim)))
    if len(target) != len(axes):
        raise ctx.invalid(f"shape has {len(target)} values for {len(axes)} axes")
    axes = [axis_of(ctx, a, x.ndim) for a in axes]
    if len(set(axes)) != len(axes):
        raise ctx.invalid(f"axes repeat an axis: {ctx.attr('axes')}")
    if any(t < 0 for t in target):
        raise ctx.invalid(f"shape must be non-negative, got {target}")
    dims = _static_dims(ctx, 0, axes, "CenterCropPad")
    begin, size, pads = [0] * x.ndim, [-1] * x.ndim, [[0, 0] for _ in range(x.ndim)]
    for a, dim, want in zip(axes, dims, target):
        if want < dim:
            begin[a], size[a] = (dim - want) // 2, want
        elif want > dim:
            pads[a] = [(want - dim) // 2, want - dim - (want - dim) // 2]
    y = gj.slice(x, begin, size) if any(s >= 0 for s in size) else x
    if any(p != [0, 0] for p in pads):
        y = gj.pad(y, pads)
    return gj.identity(y, name=ctx.name)
