"""Rearranging arrays: reverse (reverse_v2), reverse_sequence, meshgrid and
sequence_mask, as composites of slices, gathers and comparisons with position grids."""

from __future__ import annotations

import builtins

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    convert_to_tensor,
    graph_of,
    normalize_axis,
    op_errors,
)
from graphjit.ops.core import identity
from graphjit.ops.indexing import (
    INDEX_DTYPES,
    gather,
    getitem,
    static_int,
    static_ints,
)
from graphjit.ops.nd_indexing import iota_along
from graphjit.ops.shape_ops import expand_dims, ones_like, reshape, shape, transpose
from graphjit.ops.shape_ops import range as range_


def reverse(tensor, axis, name: str | None = None) -> Tensor:
    """tensor with the order along each axis in `axis` (a list; negative counts from the
    end) reversed, as TF's tf.reverse (ReverseV2): one StridedSlice of step -1."""
    x = convert_to_tensor(tensor)
    with op_errors("ReverseV2", name, "ReverseV2", [x]):
        axes = [normalize_axis(a, x.ndim) for a in static_ints(axis, "axis")]
        if len(set(axes)) != len(axes):
            raise ShapeError(f"axis {list(static_ints(axis, 'axis'))} repeats an axis")
    if not axes:
        return identity(x, name=name or "ReverseV2")
    key = tuple(builtins.slice(None, None, -1) if a in axes else builtins.slice(None)
                for a in builtins.range(x.ndim))
    with x.graph.name_scope(name or "ReverseV2") as scope:
        return getitem(x, key, name=scope)


reverse_v2 = reverse


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None,  # noqa: A002
                     name: str | None = None, seq_dim=None, batch_dim=None) -> Tensor:
    """For each batch entry b, its first seq_lengths[b] elements along seq_axis reversed
    and the rest kept, as TF's tf.reverse_sequence (seq_dim/batch_dim: TF1's names).

    Batch and sequence axes are moved first, the rest flattened into rows, and one
    GatherV2 picks row b * T + source(t); a length past T is refused at run time.
    """
    graph = graph_of(input, seq_lengths)
    x = convert_to_tensor(input, graph=graph)
    lengths = convert_to_tensor(seq_lengths, graph=graph)
    with op_errors("ReverseSequence", name, "ReverseSequence", [x, lengths]):
        seq = seq_axis if seq_axis is not None else seq_dim
        batch = batch_axis if batch_axis is not None else batch_dim
        if seq is None:
            raise ShapeError("seq_axis is required")
        seq = normalize_axis(static_int(seq, "seq_axis"), x.ndim)
        batch = normalize_axis(static_int(0 if batch is None else batch, "batch_axis"),
                               x.ndim)
        if seq == batch:
            raise ShapeError(f"seq_axis and batch_axis must differ, both are {seq}")
        if lengths.dtype not in INDEX_DTYPES or lengths.ndim != 1:
            raise DTypeError(f"seq_lengths must be an int32 or int64 vector, got "
                             f"{lengths.dtype} of shape {lengths.shape}")
        if not lengths.shape.is_compatible_with([x.shape[batch]]):
            raise ShapeError(f"seq_lengths of shape {lengths.shape} needs one length per "
                             f"batch entry ({x.shape[batch]})")
        rest = [a for a in builtins.range(x.ndim) if a not in (batch, seq)]
        if any(x.shape[a] is None for a in rest):
            raise UnsupportedError(f"the dims other than the batch and sequence axes must "
                                   f"be known at build time, got {x.shape}")
    perm = [batch, seq] + rest
    with graph.name_scope(name or "ReverseSequence") as scope:
        moved = transpose(x, perm) if perm != list(builtins.range(x.ndim)) else x
        rows = reshape(moved, [-1] + [x.shape[a] for a in rest])
        count = x.shape[seq] if x.shape[seq] is not None \
            else getitem(shape(x, out_type=lengths.dtype), seq)
        t = expand_dims(range_(count, dtype=lengths.dtype) if isinstance(count, int)
                        else _positions(moved, lengths.dtype), 0)  # [1, T]
        length = expand_dims(lengths, 1)  # [B, 1]
        source = ew.where(ew.less(t, length), ew.subtract(ew.subtract(length, 1), t), t)
        too_long = ew.greater(length, count)
        b = expand_dims(_batch_positions(lengths), 1)
        picked = ew.where(too_long, -1, ew.add(ew.multiply(b, count), source))
        out = gather(rows, picked)
        inverse = [perm.index(a) for a in builtins.range(x.ndim)]
        if inverse == list(builtins.range(x.ndim)):
            return identity(out, name=scope)
        return transpose(out, inverse, name=scope)


def _positions(moved: Tensor, dtype) -> Tensor:
    """[T]: 0..T-1 for the run-time length of moved's axis 1 (batch entry 0's row of
    positions; a batch of size 0 has nothing to reverse)."""
    column = getitem(moved, (0, builtins.slice(None)) + (0,) * (moved.ndim - 2))
    return iota_along(column, 0, dtype)


def _batch_positions(lengths: Tensor) -> Tensor:
    return iota_along(lengths, 0, lengths.dtype)


def meshgrid(*args, **kwargs) -> list[Tensor]:
    """Coordinate grids from N vectors, as TF's tf.meshgrid: indexing='xy' (default)
    gives grids of shape [len(y), len(x), ...], 'ij' [len(x), len(y), ...]. Each grid
    is its vector reshaped along its axis times ones of the other vectors' lengths."""
    indexing = kwargs.pop("indexing", "xy")
    name = kwargs.pop("name", "meshgrid")
    if kwargs:
        raise TypeError(f"meshgrid() got unexpected keyword arguments {sorted(kwargs)}")
    graph = graph_of(*args)
    vectors = [convert_to_tensor(a, graph=graph) for a in args]
    with op_errors("Mul", name, "meshgrid", vectors):
        if indexing not in ("xy", "ij"):
            raise ShapeError(f"indexing must be 'xy' or 'ij', got {indexing!r}")
        if len({v.dtype for v in vectors}) > 1:
            raise DTypeError("meshgrid's inputs must share a dtype, got " +
                             ", ".join(str(v.dtype) for v in vectors))
    n = len(vectors)
    with graph.name_scope(name or "meshgrid"):
        flat = [reshape(v, [-1]) if v.ndim != 1 else v for v in vectors]
        axes = list(builtins.range(n))
        if indexing == "xy" and n > 1:
            axes[0], axes[1] = 1, 0
        shaped = [reshape(v, [-1 if j == axes[i] else 1 for j in builtins.range(n)])
                  for i, v in enumerate(flat)]
        if n < 2:
            return shaped
        ones = None
        for v in shaped:
            unit = ones_like(v)
            ones = unit if ones is None else ew.multiply(ones, unit)
        return [ew.multiply(v, ones) for v in shaped]


def sequence_mask(lengths, maxlen=None, dtype=dtypes.bool_, name: str | None = None) -> Tensor:
    """mask[..., j] = j < lengths[...], as TF's tf.sequence_mask: shape lengths.shape +
    [maxlen]. maxlen is a static int or a dim of a tensor measured at run time
    (tf.shape(x)[1]); without it TF takes max(lengths), a size known only from values,
    which graphjit does not support."""
    graph = graph_of(lengths, maxlen)
    lengths = convert_to_tensor(lengths, graph=graph)
    with op_errors("SequenceMask", name, "SequenceMask", [lengths]):
        if not lengths.dtype.is_integer:
            raise DTypeError(f"lengths must be integers, got {lengths.dtype}")
        if maxlen is None:
            raise UnsupportedError("maxlen=None sizes the mask by max(lengths), a value "
                                   "known only at run time; pass maxlen (an int, or "
                                   "tf.shape(x)[axis])")
        dtype = dtypes.as_dtype(dtype)
        positions = _static_or_measured_range(maxlen, lengths.dtype)
    with graph.name_scope(name or "SequenceMask") as scope:
        below = ew.less(positions, expand_dims(lengths, -1))
        if dtype == dtypes.bool_:
            return identity(below, name=scope)
        return ew.cast(below, dtype, name=scope)


def _static_or_measured_range(maxlen, dtype) -> Tensor:
    """0..maxlen-1 for a static maxlen, or for tf.shape(x)[k] the positions along x's
    axis k, counted at run time."""
    sliced = maxlen.op.inputs[0] if isinstance(maxlen, Tensor) \
        and maxlen.op.type == "Squeeze" else maxlen  # shape(x)[k]: a slice, squeezed
    if isinstance(sliced, Tensor) and sliced.op.type == "StridedSlice" \
            and sliced.op.inputs[0].op.type == "Shape" and maxlen.ndim == 0:
        measured = sliced.op.inputs[0].op.inputs[0]
        (start, _, _), = sliced.op.attrs["slices"]
        axis = normalize_axis(start, measured.ndim)
        if measured.shape[axis] is not None:
            return range_(measured.shape[axis], dtype=dtype)
        row = getitem(measured, tuple(builtins.slice(None) if a == axis else 0
                                      for a in builtins.range(measured.ndim)))
        return iota_along(row, 0, dtype)
    try:
        n = static_int(maxlen, "maxlen")
    except UnsupportedError:
        raise UnsupportedError("maxlen must be an int, a constant or tf.shape(x)[axis]; "
                               "a value computed otherwise at run time is not supported"
                               ) from None
    if n < 0:
        raise ShapeError(f"maxlen must be >= 0, got {n}")
    return range_(n, dtype=dtype)


__all__ = ["reverse", "reverse_v2", "reverse_sequence", "meshgrid", "sequence_mask"]
