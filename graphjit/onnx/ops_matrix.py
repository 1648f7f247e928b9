"""ONNX converters composed from graphjit primitives with build-time constants: Trilu,
EyeLike, GatherElements, DepthToSpace and SpaceToDepth; and Det.

graphjit has no triangular or element-wise gather primitive, so each is an index
pattern computed with NumPy at import (a mask, linear indices) applied by a primitive
(Select, GatherV2). The sizes that pattern depends on must therefore be static.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_math import axis_of
from graphjit.onnx.types import to_dtype


def _dims(ctx: NodeContext, i: int, axes, what: str) -> list[int]:
    """The sizes of input i's `axes`, which must be static."""
    t = ctx.inputs[i]
    if any(t.shape[a] is None for a in axes):
        ctx.require_shape(i, what)
    return [t.shape[a] for a in axes]


@converter("Trilu", attrs=("upper",))
def _trilu(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    k = int(ctx.require_static(1, "k")) if ctx.input(1) is not None else 0
    n, m = _dims(ctx, 0, (-2, -1), "Trilu")
    ctx.check_size(n * m, 1, f"Trilu's {n}x{m} mask")
    ones = np.ones((n, m), bool)
    mask = np.triu(ones, k) if ctx.attr("upper", 1) else np.tril(ones, k)
    return gj.where(mask, x, np.zeros((), x.dtype.np), name=ctx.name)


@converter("Det")
def _det(ctx: NodeContext) -> Tensor:
    return gj.matrix_determinant(ctx.inputs[0], name=ctx.name)


@converter("EyeLike", attrs=("dtype", "k"))
def _eye_like(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    if x.ndim != 2:
        raise ctx.unsupported(f"the input must be 2-D, got rank {x.ndim}")
    n, m = _dims(ctx, 0, (0, 1), "EyeLike")
    dtype = x.dtype if ctx.attr("dtype") is None else to_dtype(
        ctx.attr("dtype"), f"ONNX EyeLike '{ctx.name}' dtype")
    ctx.check_size(n * m, dtype.size, f"a {n}x{m} EyeLike")
    return gj.constant(np.eye(n, m, ctx.attr("k", 0), dtype.np), dtype=dtype, name=ctx.name)


@converter("GatherElements", attrs=("axis",))
def _gather_elements(ctx: NodeContext) -> Tensor:
    """out[i, j, ...] = x[..., index[i, j, ...], ...] along `axis`: a gather from the
    flattened input at linear indices built from index and the other coordinates."""
    x, index = ctx.inputs
    axis = axis_of(ctx, int(ctx.attr("axis", 0)), x.ndim)
    shape = _dims(ctx, 0, range(x.ndim), "GatherElements")
    ishape = _dims(ctx, 1, range(index.ndim), "GatherElements")
    strides = np.cumprod([1] + shape[::-1])[:-1][::-1].astype(np.int64)
    ctx.check_size(int(np.prod(ishape)) * (len(ishape) + 1), 8, "GatherElements' indices")
    coords = np.indices(ishape, dtype=np.int64)
    others = sum(coords[d] * strides[d] for d in range(x.ndim) if d != axis)
    index = gj.cast(index, gj.int64)
    index = gj.where(gj.less(index, 0), gj.add(index, np.int64(shape[axis])), index)
    linear = gj.add(gj.multiply(index, np.int64(strides[axis])), np.asarray(others, np.int64))
    return gj.gather(gj.reshape(x, [-1]), linear, name=ctx.name)


@converter("DepthToSpace", attrs=("blocksize", "mode"))
def _depth_to_space(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    b = int(ctx.attr("blocksize"))
    c, h, w = _dims(ctx, 0, (1, 2, 3), "DepthToSpace")
    if ctx.attr("mode", "DCR") == "DCR":
        t = gj.reshape(x, [-1, b, b, c // (b * b), h, w])
        t = gj.transpose(t, [0, 3, 4, 1, 5, 2])
    else:
        t = gj.reshape(x, [-1, c // (b * b), b, b, h, w])
        t = gj.transpose(t, [0, 1, 4, 2, 5, 3])
    return gj.reshape(t, [-1, c // (b * b), h * b, w * b], name=ctx.name)


@converter("SpaceToDepth", attrs=("blocksize", "mode"))
def _space_to_depth(ctx: NodeContext) -> Tensor:
    """The inverse of DepthToSpace in the same mode (SpaceToDepth-28 added `mode`): DCR
    puts the block offsets before the channels, CRD after them."""
    x = ctx.inputs[0]
    b = int(ctx.attr("blocksize"))
    c, h, w = _dims(ctx, 0, (1, 2, 3), "SpaceToDepth")
    t = gj.reshape(x, [-1, c, h // b, b, w // b, b])
    perm = [0, 3, 5, 1, 2, 4] if ctx.attr("mode", "DCR") == "DCR" else [0, 1, 3, 5, 2, 4]
    t = gj.transpose(t, perm)
    return gj.reshape(t, [-1, c * b * b, h // b, w // b], name=ctx.name)
