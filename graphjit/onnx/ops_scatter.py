"""ONNX converters for ScatterND, ScatterElements (and the deprecated Scatter, which
the importer brings to opset 13 as ScatterElements) and TensorScatter.

Every scatter becomes one on rows: data flattened to [R, rest...] (R static), each
update slice given the linear row it goes to, an index outside its axis refused at run
time (a gather from range(R), as graphjit's scatter_nd does). Then
- "none" and "add": graphjit's ScatterAddLike sums the updates of each row; "add" adds
  that to data, "none" takes it where a row was hit (ONNX forbids repeated indices
  there, its result being undefined: repeated rows add up);
- "mul", "max", "min": a [R, N] mask of which update hits which row selects the updates
  (the reduction's identity elsewhere) and a reduction over N combines them with data.
  That costs R * N work, which graphjit's scatter-free segment max/min costs too.
TensorScatter (a KV-cache write) is a gather: each cache position takes the update at
(position - write index), modulo the cache length in "circular" mode, where that lies in
the update, else keeps the past value.
"""

from __future__ import annotations

import math

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_math import axis_of
from graphjit.ops._util import make
from graphjit.ops.nd_indexing import _checked_rows

_REDUCTIONS = ("none", "add", "mul", "max", "min")


def _static_shape(ctx: NodeContext, i: int, what: str) -> list[int]:
    return [int(d) for d in ctx.require_shape(i, what)]


def _identity(reduction: str, dtype) -> np.ndarray:
    """The value that leaves a row unchanged under `reduction`."""
    if reduction == "mul":
        return np.ones((), dtype.np)
    if dtype.is_floating:
        return np.asarray(-np.inf if reduction == "max" else np.inf, dtype.np)
    info = np.iinfo(dtype.np)
    return np.asarray(info.min if reduction == "max" else info.max, dtype.np)


def scatter_rows(ctx: NodeContext, flat: Tensor, rows: Tensor, updates: Tensor) -> Tensor:
    """flat [R, rest...] with the slices updates [N, rest...] written at rows [N] (each in
    [0, R), checked) as the node's `reduction` says."""
    reduction = ctx.attr("reduction", "none")
    if reduction not in _REDUCTIONS:
        raise ctx.unsupported(f"unknown reduction {reduction!r} (ONNX has {_REDUCTIONS})")
    r = int(flat.shape[0])
    rows = _checked_rows(rows, r)
    rest = [1] * (flat.ndim - 1)
    if reduction in ("none", "add"):
        summed = make("ScatterAddLike", [updates, rows, gj.zeros_like(flat)], {"axis": 0})
        if reduction == "add":
            return gj.add(flat, summed)
        counts = make("ScatterAddLike", [gj.ones_like(rows, dtype=gj.int32), rows,
                                         gj.zeros([r], gj.int32)], {"axis": 0})
        hit = gj.reshape(gj.greater(counts, 0), [r] + rest)
        return gj.where(hit, summed, flat)
    hit = gj.equal(gj.expand_dims(rows, 0), np.arange(r, dtype=np.int64).reshape(r, 1))
    hit = gj.reshape(hit, [r, -1] + rest)  # [R, N, 1...]
    picked = gj.where(hit, gj.expand_dims(updates, 0), _identity(reduction, flat.dtype))
    if reduction == "mul":
        return gj.multiply(flat, gj.reduce_prod(picked, axis=1))
    if reduction == "max":
        return gj.maximum(flat, gj.reduce_max(picked, axis=1))
    return gj.minimum(flat, gj.reduce_min(picked, axis=1))


def _inside(index: Tensor, size: int) -> Tensor:
    return gj.logical_and(gj.greater_equal(index, np.int64(0)), gj.less(index, np.int64(size)))


def _wrapped(index: Tensor, size) -> Tensor:
    """index as int64 with a negative one counted from the end of its axis."""
    index = gj.cast(index, gj.int64)
    return gj.where(gj.less(index, np.int64(0)), gj.add(index, size), index)


@converter("ScatterND", attrs=("reduction",))
def convert_scatter_nd(ctx: NodeContext) -> Tensor:
    """data's first k axes (k = indices.shape[-1]) become the rows, the index tuples
    their linear numbers."""
    data, indices, updates = ctx.inputs
    if indices.ndim < 1 or indices.shape[-1] is None:
        raise ctx.unsupported(f"indices need a static last dim, got shape {indices.shape}")
    k = int(indices.shape[-1])
    shape = _static_shape(ctx, 0, "ScatterND's rows")
    if not 1 <= k <= len(shape):
        raise ctx.invalid(f"index tuples of length {k} do not fit data of rank {len(shape)}")
    dims = np.asarray(shape[:k], np.int64)
    idx = _wrapped(indices, dims)
    rows, inside = None, None
    for j in range(k):
        part = idx[..., j]
        ok = _inside(part, shape[j])
        inside = ok if inside is None else gj.logical_and(inside, ok)
        rows = part if rows is None else gj.add(gj.multiply(rows, np.int64(shape[j])), part)
    rows = gj.reshape(gj.where(inside, rows, np.int64(-1)), [-1])
    expected = list(indices.shape[:-1]) + shape[k:]
    if not updates.shape.is_compatible_with(expected):
        raise ctx.invalid(f"updates have shape {updates.shape}; indices {indices.shape} and "
                          f"data {shape} need {expected}")
    flat = gj.reshape(data, [math.prod(shape[:k])] + shape[k:])
    out = scatter_rows(ctx, flat, rows, gj.reshape(updates, [-1] + shape[k:]))
    return gj.reshape(out, shape, name=ctx.name)


@converter("ScatterElements", attrs=("axis", "reduction"))
def convert_scatter_elements(ctx: NodeContext) -> Tensor:
    """Each update goes to data's element at its own coordinates but for `axis`, where
    it takes the index: linear positions in the flattened data (static shapes)."""
    data, indices, updates = ctx.inputs
    shape = _static_shape(ctx, 0, "ScatterElements' positions")
    ishape = _static_shape(ctx, 1, "ScatterElements' positions")
    if len(ishape) != len(shape) or not updates.shape.is_compatible_with(ishape):
        raise ctx.invalid(f"indices {ishape} and updates {updates.shape} must have one "
                          f"shape, of data's rank {len(shape)}")
    if any(i > d for a, (i, d) in enumerate(zip(ishape, shape))):
        raise ctx.invalid(f"indices {ishape} exceed data {shape}")
    axis = axis_of(ctx, int(ctx.attr("axis", 0)), len(shape))
    strides = np.cumprod([1] + shape[::-1])[:-1][::-1].astype(np.int64)
    ctx.check_size(math.prod(ishape) * (len(ishape) + 1), 8, "ScatterElements' positions")
    coords = np.indices(ishape, dtype=np.int64)
    others = sum((coords[d] * strides[d] for d in range(len(shape)) if d != axis),
                 np.zeros(ishape, np.int64))
    idx = _wrapped(indices, np.int64(shape[axis]))
    linear = gj.add(gj.multiply(idx, np.int64(strides[axis])), others)
    rows = gj.reshape(gj.where(_inside(idx, shape[axis]), linear, np.int64(-1)), [-1])
    out = scatter_rows(ctx, gj.reshape(data, [-1]), rows, gj.reshape(updates, [-1]))
    return gj.reshape(out, shape, name=ctx.name)


@converter("TensorScatter", attrs=("axis", "mode"))
def convert_tensor_scatter(ctx: NodeContext) -> Tensor:
    """present[b, ..., s, ...] = update[b, ..., j, ...] where j = s - write_indices[b]
    (mod max_sequence_length in circular mode) lies in [0, sequence_length), else
    past[b, ..., s, ...]. A linear write past the cache's end is refused at run time."""
    past, update = ctx.inputs[:2]
    shape = _static_shape(ctx, 0, "TensorScatter")
    ushape = _static_shape(ctx, 1, "TensorScatter")
    mode = ctx.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        raise ctx.unsupported(f"mode {mode!r} is not 'linear' or 'circular'")
    axis = axis_of(ctx, int(ctx.attr("axis", -2)), len(shape))
    if axis == 0:
        raise ctx.invalid("axis must not be the batch axis 0")
    if len(ushape) != len(shape) or any(u != p for a, (u, p) in enumerate(zip(ushape, shape))
                                        if a != axis) or ushape[axis] > shape[axis]:
        raise ctx.invalid(f"update {ushape} must match past_cache {shape} but for a "
                          f"sequence axis {axis} no longer than it")
    batch, cache, seq = shape[0], shape[axis], ushape[axis]
    writes = ctx.input(2)
    start = gj.zeros([batch], gj.int64) if writes is None else gj.cast(writes, gj.int64)
    if mode == "linear" and seq:  # the first and last writes must lie in the cache
        last = _checked_rows(gj.add(_checked_rows(start, cache), np.int64(seq - 1)), cache)
        start = gj.subtract(last, np.int64(seq - 1))  # (on the data path: checked each run)
    # move the sequence axis next to the batch: [B, S, rest...]
    perm = [0, axis] + [a for a in range(1, len(shape)) if a != axis]
    rest = [shape[a] for a in perm[2:]]
    src = gj.reshape(gj.transpose(update, perm), [batch * seq] + rest)
    j = gj.subtract(np.arange(cache, dtype=np.int64).reshape(1, cache),
                    gj.reshape(start, [batch, 1]))  # [B, S_max]
    if mode == "circular":
        j = gj.floormod(j, np.int64(cache))
    valid = _inside(j, seq)
    rows = gj.add(gj.where(valid, j, np.int64(0)),
                  np.arange(batch, dtype=np.int64).reshape(batch, 1) * seq)
    picked = gj.gather(src, rows) if seq else gj.transpose(past, perm)
    mask = gj.reshape(valid, [batch, cache] + [1] * len(rest))
    out = gj.where(mask, picked, gj.transpose(past, perm))
    inverse = [perm.index(a) for a in range(len(shape))]
    return gj.transpose(out, inverse, name=ctx.name)
