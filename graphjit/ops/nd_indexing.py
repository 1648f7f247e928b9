"""Indexing by index tuples and by segment: gather_nd, scatter_nd, the segment
reductions and invert_permutation, as composites of GatherV2 and ScatterAddLike.

An index tuple (i0, ..., iK-1) into the first K dims of a tensor is the row
i0 * stride0 + ... of the tensor with those dims flattened into one, so gather_nd is one
GatherV2 and scatter_nd one ScatterAddLike, and each gradient is the other. TF raises
on an index out of range where NumPy would wrap: a tuple with any component out of
range becomes row -1, which a GatherV2 of the row numbers themselves then rejects in
both engines, naming the op and the user's line.
"""

from __future__ import annotations

import math

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    NUMERIC,
    check_dtype,
    convert_to_tensor,
    graph_of,
    make,
    op_errors,
)
from graphjit.ops.indexing import INDEX_DTYPES, gather, getitem, static_int, static_ints
from graphjit.ops.reductions import reduce_max, reduce_min
from graphjit.ops.scan import cumsum
from graphjit.ops.shape_ops import (
    expand_dims,
    ones_like,
    pad,
    reshape,
    shape,
    zeros,
    zeros_like,
)
from graphjit.ops.shape_ops import range as range_


def iota_along(x: Tensor, axis: int, dtype=dtypes.int32) -> Tensor:
    """Each element's index along `axis`, broadcastable against x: a constant range
    shaped [n, 1, ...] when the dim is known at build time, else a running count of
    ones_like(x), which has the size found at run time."""
    axis %= x.ndim
    n = x.shape[axis]
    if n is not None:
        trailing = x.ndim - 1 - axis
        r = range_(n, dtype=dtype)
        return reshape(r, [n] + [1] * trailing) if trailing else r
    return cumsum(ones_like(x, dtype=dtype), axis, exclusive=True)


def _checked_rows(rows: Tensor, count) -> Tensor:
    """rows, after a GatherV2 from [0, count) that raises for any row out of range (the
    compiled ScatterAddLike would clamp it instead)."""
    if isinstance(count, int):
        return gather(range_(count, dtype=rows.dtype), rows)
    return gather(cumsum(ones_like(count, dtype=rows.dtype), exclusive=True), rows)


def _dims(t: Tensor, upto: int, dtype) -> list:
    """t's first `upto` dims: ints where known at build time, else scalars of tf.shape."""
    run_time = None
    out = []
    for i in range(upto):
        if t.shape[i] is not None:
            out.append(t.shape[i])
        else:
            run_time = shape(t, out_type=dtype) if run_time is None else run_time
            out.append(getitem(run_time, i))
    return out


def _linear_rows(indices: Tensor, dims: list) -> Tensor:
    """Row numbers of the index tuples in indices' last axis within `dims` flattened,
    -1 where a component is out of its dim's range."""
    k = len(dims)
    rows, inside = None, None
    for j in range(k):
        component = getitem(indices, (Ellipsis, j))
        ok = ew.logical_and(ew.greater_equal(component, 0), ew.less(component, dims[j]))
        inside = ok if inside is None else ew.logical_and(inside, ok)
        rows = component if rows is None else ew.add(ew.multiply(rows, dims[j]), component)
    return ew.where(inside, rows, -1)


def _flatten_leading(t: Tensor, k: int) -> Tensor:
    """t with its first k dims as one (a static reshape target: at most one unknown)."""
    rest = list(t.shape[k:])
    if None in rest:
        raise UnsupportedError(f"the dims after the first {k} must be known at build time, "
                               f"got {t.shape}")
    return reshape(t, [-1] + rest)


def _index_input(indices, graph, what: str = "indices") -> Tensor:
    indices = convert_to_tensor(indices, graph=graph)
    if indices.dtype not in INDEX_DTYPES:
        raise DTypeError(f"{what} have dtype {indices.dtype}; expected int32 or int64")
    return indices


def gather_nd(params, indices, name: str | None = None, batch_dims=0) -> Tensor:
    """Slices of params at the index tuples in the last axis of `indices`, as TF's
    tf.gather_nd: out[i...] = params[indices[i..., 0], ..., indices[i..., K-1], ...]."""
    graph = graph_of(params, indices)
    params = convert_to_tensor(params, graph=graph)
    with op_errors("GatherNd", name, "GatherNd", [params, indices]):
        indices = _index_input(indices, graph)
        if batch_dims != 0:
            raise UnsupportedError("batch_dims other than 0 is not supported")
        if indices.ndim == 0:
            raise ShapeError("indices must have rank >= 1, got a scalar")
        k = indices.shape[-1]
        if k is None:
            raise UnsupportedError("the last dim of indices (the index length) must be "
                                   "known at build time")
        if not 1 <= k <= params.ndim:
            raise ShapeError(f"index tuples of length {k} do not fit params of rank "
                             f"{params.ndim}")
        flat = _flatten_leading(params, k) if k > 1 else params
    with graph.name_scope(name or "GatherNd") as scope:
        if k == 1:  # GatherV2 checks the indices itself
            return gather(params, getitem(indices, (Ellipsis, 0)), name=scope)
        rows = _linear_rows(indices, _dims(params, k, indices.dtype))
        return gather(flat, rows, name=scope)


def scatter_nd(indices, updates, shape, name: str | None = None) -> Tensor:
    """Zeros of `shape` with `updates` added at the index tuples of `indices`
    (repeated tuples add up), as TF's tf.scatter_nd. shape is static."""
    graph = graph_of(indices, updates)
    updates = convert_to_tensor(updates, graph=graph)
    with op_errors("ScatterNd", name, "ScatterNd", [indices, updates]):
        indices = _index_input(indices, graph)
        shape = static_ints(shape, "shape")
        k = indices.shape[-1] if indices.ndim else None
        if k is None or not 1 <= k <= len(shape):
            raise ShapeError(f"indices of shape {indices.shape} need a known last dim in "
                             f"[1, {len(shape)}] (the rank of shape {list(shape)})")
        expected = tuple(indices.shape[:-1]) + tuple(shape[k:])
        if not updates.shape.is_compatible_with(expected):
            raise ShapeError(f"updates of shape {updates.shape} do not match "
                             f"indices.shape[:-1] + shape[{k}:] = {list(expected)}")
    rows_total = math.prod(shape[:k])
    with graph.name_scope(name or "ScatterNd") as scope:
        rows = _checked_rows(reshape(_linear_rows(indices, list(shape[:k])), [-1]), rows_total)
        flat_updates = reshape(updates, [-1] + list(shape[k:]))
        like = zeros([rows_total] + list(shape[k:]), updates.dtype)
        summed = make("ScatterAddLike", [flat_updates, rows, like], {"axis": 0})
        return reshape(summed, list(shape), name=scope)


# -- segments ------------------------------------------------------------------

def _segment_inputs(data, segment_ids, num_segments, op_type, name):
    graph = graph_of(data, segment_ids)
    data = convert_to_tensor(data, graph=graph)
    with op_errors(op_type, name, op_type, [data, segment_ids]):
        ids = _index_input(segment_ids, graph, "segment_ids")
        check_dtype(data.dtype, NUMERIC, "data")
        num = static_int(num_segments, "num_segments")
        if num < 0:
            raise ShapeError(f"num_segments must be >= 0, got {num}")
        if ids.ndim > data.ndim or not data.shape[:ids.ndim].is_compatible_with(ids.shape):
            raise ShapeError(f"segment_ids of shape {ids.shape} must be a prefix of data's "
                             f"shape {data.shape}")
        flat = data if ids.ndim == 1 else _flatten_leading(data, ids.ndim)
    return graph, data, ids, num, flat


def _zero_rows(flat: Tensor, count: int) -> Tensor:
    """Zeros shaped [count] + flat's other dims, which may be known only at run time."""
    rest = list(flat.shape[1:])
    if None not in rest:
        return zeros([count] + rest, flat.dtype)
    first = zeros_like(getitem(flat, slice(0, 1)))  # 0 or 1 rows: pad, cut to count
    return getitem(pad(first, [[0, count]] + [[0, 0]] * len(rest)), slice(0, count))


def _segment_rows(ids: Tensor, num: int) -> Tensor:
    """The ids as rows of a scatter into num + 1 rows: a negative id (dropped, as in
    TF) goes to the last row, an id >= num is refused at run time."""
    flat = reshape(ids, [-1])
    rows = ew.where(ew.less(flat, 0), num, ew.where(ew.less(flat, num), flat, -1))
    return _checked_rows(rows, num + 1)


def unsorted_segment_sum(data, segment_ids, num_segments, name: str | None = None) -> Tensor:
    """out[s] = the sum of the slices data[i] whose segment_ids[i] is s, as TF's
    tf.math.unsorted_segment_sum; negative ids are dropped, empty segments are 0."""
    graph, data, ids, num, flat = _segment_inputs(data, segment_ids, num_segments,
                                                  "UnsortedSegmentSum", name)
    with graph.name_scope(name or "UnsortedSegmentSum") as scope:
        like = _zero_rows(flat, num + 1)
        summed = make("ScatterAddLike", [flat, _segment_rows(ids, num), like], {"axis": 0})
        return getitem(summed, slice(0, num), name=scope)


def unsorted_segment_mean(data, segment_ids, num_segments, name: str | None = None) -> Tensor:
    """Each segment's sum over its count (1 for an empty one), as TF's
    tf.math.unsorted_segment_mean."""
    graph, data, ids, num, _ = _segment_inputs(data, segment_ids, num_segments,
                                               "UnsortedSegmentMean", name)
    with graph.name_scope(name or "UnsortedSegmentMean") as scope:
        summed = unsorted_segment_sum(data, ids, num)
        counts = unsorted_segment_sum(ones_like(ids, dtype=data.dtype), ids, num)
        counts = reshape(counts, [num] + [1] * (data.ndim - ids.ndim))
        # (TF divides with `/`: integer sums give float64 means)
        return ew.divide(summed, ew.maximum(counts, 1), name=scope)


def _unsorted_segment_extreme(op_type: str, is_max: bool):
    def fn(data, segment_ids, num_segments, name: str | None = None) -> Tensor:
        graph, data, ids, num, _ = _segment_inputs(data, segment_ids, num_segments,
                                                   op_type, name)
        info = np.finfo(data.dtype.np) if data.dtype.is_floating else np.iinfo(data.dtype.np)
        empty = info.min if is_max else info.max  # TF's value for an empty segment
        with graph.name_scope(name or op_type) as scope:
            # [num, ids..., rest]: each segment's slices, `empty` elsewhere, reduced
            # over the ids' axes: O(num * data.size) work, no scatter-max primitive.
            extra = data.ndim - ids.ndim
            segments = reshape(range_(num, dtype=ids.dtype), [num] + [1] * ids.ndim)
            rows = make("ReshapeLike", [_segment_rows(ids, num), ids])  # (num: dropped)
            hit = ew.equal(expand_dims(rows, 0), segments)
            for _ in range(extra):
                hit = expand_dims(hit, -1)
            picked = ew.where(hit, expand_dims(data, 0), np.array(empty, data.dtype.np))
            axes = list(range(1, ids.ndim + 1))
            reduce = reduce_max if is_max else reduce_min
            return reduce(picked, axes, name=scope)
    fn.__name__ = "unsorted_segment_" + ("max" if is_max else "min")
    fn.__doc__ = (f"Each segment's {'largest' if is_max else 'smallest'} slice, as TF's "
                  f"tf.math.{fn.__name__} (an empty segment holds the dtype's "
                  f"{'lowest' if is_max else 'highest'} value). Costs num_segments times "
                  "the data's size.")
    return fn


unsorted_segment_max = _unsorted_segment_extreme("UnsortedSegmentMax", True)
unsorted_segment_min = _unsorted_segment_extreme("UnsortedSegmentMin", False)


def invert_permutation(x, name: str | None = None) -> Tensor:
    """y with y[x[i]] = i for a permutation x of [0, n), as TF's tf.invert_permutation
    (an index out of range is refused at run time; duplicates are not detected)."""
    x = convert_to_tensor(x)
    with op_errors("InvertPermutation", name, "InvertPermutation", [x]):
        check_dtype(x.dtype, INDEX_DTYPES, "x")
        if x.ndim != 1:
            raise ShapeError(f"x must be a vector, got shape {x.shape}")
    with x.graph.name_scope(name or "InvertPermutation") as scope:
        positions = iota_along(x, 0, x.dtype)
        count = x.shape[0] if x.shape[0] is not None else x
        rows = _checked_rows(x, count)
        return make("ScatterAddLike", [positions, rows, x], {"axis": 0}, name=scope)


__all__ = ["gather_nd", "scatter_nd", "unsorted_segment_sum", "unsorted_segment_mean",
           "unsorted_segment_max", "unsorted_segment_min", "invert_permutation"]
