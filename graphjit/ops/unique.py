"""tf.unique and tf.unique_with_counts: the distinct values of a tensor.

The primitive Unique(x) gives four outputs, as ONNX's Unique: the distinct values (of
the flattened x, or the distinct slices along `axis`), sorted ascending or in order of
first occurrence (`sorted`), each one's first index in x, every element's (or slice's)
index into them, and their counts; the index outputs are int64. How many values are
distinct depends on x's values, so the op is `dynamic_shape`: a compiled function runs
it on the host, between the plans before and after it (graphjit.staged), with NumPy's
unique, which sorts. It has no gradient (TF's tf.unique has none either).
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError
from graphjit.graph import Tensor
from graphjit.ops._util import check_dtype, convert_operands, op_errors
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register

_TYPES = frozenset(d for d in dtypes.ALL if not d.is_narrow) - {dtypes.string}


def _unique_infer(specs, attrs):
    (shape, dtype), = specs
    check_dtype(dtype, _TYPES)
    axis = attrs["axis"]
    if axis is None:
        size = None if any(d is None for d in shape) else int(np.prod(shape, dtype=np.int64))
        values, along = (None,), size
    else:
        if not 0 <= axis < len(shape):
            raise ShapeError(f"axis {axis} is out of range for an input of rank {len(shape)}")
        values = tuple(shape[:axis]) + (None,) + tuple(shape[axis + 1:])
        along = shape[axis]
    index = dtypes.int64
    return [(values, dtype), ((None,), index), ((along,), index), ((None,), index)]


def _unique_reference(x, *, axis, sorted):  # noqa: A002 - ONNX's attribute name
    data = x.reshape(-1) if axis is None else x
    values, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                               return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:  # order of first occurrence
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        values = np.take(values, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    return (np.ascontiguousarray(values, x.dtype),) + tuple(
        np.asarray(a, np.int64) for a in (first, inverse, counts))


register(OpDef("Unique", _unique_infer, _unique_reference, Fusion.HOST,
               Host("how many values are distinct depends on the values: it runs between "
                    "the plans before and after it, with NumPy's unique"),
               attrs={"axis": Attr(AttrKind.INT_OR_NONE), "sorted": Attr(AttrKind.BOOL)},
               dynamic_shape=True, differentiable=False, onnx=Onnx("Unique")))


def unique_op(x, axis: int | None = None, sorted: bool = True,  # noqa: A002
              name: str | None = None) -> list[Tensor]:
    """The Unique primitive's four outputs (values, first indices, inverse, counts)."""
    (x,) = convert_operands([x])
    op = x.graph.create_op("Unique", [x], {"axis": axis, "sorted": bool(sorted)}, name=name,
                           default_name="Unique")
    return list(op.outputs)


def _first_occurrence(x, out_idx, name: str | None, default_name: str) -> list[Tensor]:
    from graphjit.ops.elementwise import cast
    (x,) = convert_operands([x])
    with op_errors("Unique", name, default_name, [x]):
        if x.ndim != 1:
            raise ShapeError(f"{default_name} takes a 1-D tensor, got shape {x.shape}")
        out_idx = dtypes.as_dtype(out_idx)
        if out_idx not in (dtypes.int32, dtypes.int64):
            raise DTypeError(f"out_idx must be int32 or int64, got {out_idx}")
    values, _, inverse, counts = unique_op(x, None, False, name=name or default_name)
    return [values, cast(inverse, out_idx), cast(counts, out_idx)]


def unique(x, out_idx=dtypes.int32, name: str | None = None):
    """(y, idx): the distinct values of the 1-D x in order of first occurrence, and
    each element's index in y (x == y[idx]), as TF's tf.unique."""
    values, inverse, _ = _first_occurrence(x, out_idx, name, "Unique")
    return values, inverse


def unique_with_counts(x, out_idx=dtypes.int32, name: str | None = None):
    """(y, idx, count): tf.unique's outputs and how often each value occurs, as TF's
    tf.unique_with_counts."""
    return tuple(_first_occurrence(x, out_idx, name, "UniqueWithCounts"))


__all__ = ["unique", "unique_with_counts"]
