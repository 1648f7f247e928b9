"""TF1's smaller tf.math functions, as composites of existing primitives: the casts
(to_int32, to_int64, to_double, saturate_cast), squared_difference, count_nonzero and
linspace. Each opens a name scope and names its final op after it, as TF does."""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    FLOAT,
    NUMERIC,
    check_dtype,
    convert_operands,
    op_errors,
    same_dtype,
)
from graphjit.ops.core import identity
from graphjit.ops.indexing import static_int
from graphjit.ops.reductions import _pick, reduce_sum
from graphjit.ops.shape_ops import range as range_
from graphjit.ops.shape_ops import reshape


def to_int32(x, name: str = "ToInt32") -> Tensor:
    """x cast to int32 (floats truncate toward zero), TF1's deprecated tf.to_int32."""
    return ew.cast(x, dtypes.int32, name=name)


def to_int64(x, name: str = "ToInt64") -> Tensor:
    """x cast to int64, TF1's tf.to_int64."""
    return ew.cast(x, dtypes.int64, name=name)


def to_double(x, name: str = "ToDouble") -> Tensor:
    """x cast to float64, TF1's tf.to_double."""
    return ew.cast(x, dtypes.float64, name=name)


def _limits(dtype: dtypes.DType) -> tuple:
    info = np.finfo(dtype.np) if dtype.is_floating else np.iinfo(dtype.np)
    return info.min, info.max


def _bound_in(source: dtypes.DType, value):
    """`value` (a limit of the target dtype) as the source dtype holds it, moved toward
    zero where rounding pushed it past the limit (float32(2**31 - 1) is 2**31, whose
    cast to int32 would overflow)."""
    held = np.array(value).astype(source.np)
    if source.is_floating and abs(float(held)) > abs(float(value)):
        held = np.nextafter(held, source.np.type(0))
    return held.item()


def saturate_cast(value, dtype, name: str | None = None) -> Tensor:
    """value clamped to dtype's range, then cast: out-of-range values give dtype's
    min or max instead of wrapping, as TF's tf.saturate_cast."""
    (x,) = convert_operands([value])
    dtype = dtypes.as_dtype(dtype)
    with op_errors("Cast", name, "saturate_cast", [x]):
        check_dtype(x.dtype, NUMERIC)
        check_dtype(dtype, NUMERIC, "the target dtype")
    low, high = _limits(x.dtype)
    target_low, target_high = _limits(dtype)
    with x.graph.name_scope(name or "saturate_cast") as scope:
        if low < target_low:
            x = ew.maximum(x, _bound_in(x.dtype, target_low))
        if high > target_high:
            x = ew.minimum(x, _bound_in(x.dtype, target_high))
        if x.dtype == dtype:
            return identity(x, name=scope)
        return ew.cast(x, dtype, name=scope)


def squared_difference(x, y, name: str | None = None) -> Tensor:
    """(x - y)^2 elementwise with broadcasting, as TF's tf.math.squared_difference."""
    x, y = convert_operands([x, y])
    with op_errors("SquaredDifference", name, "SquaredDifference", [x, y]):
        check_dtype(same_dtype([(x.shape, x.dtype), (y.shape, y.dtype)], "x and y"), NUMERIC)
    with x.graph.name_scope(name or "SquaredDifference") as scope:
        return ew.square(ew.subtract(x, y), name=scope)


def count_nonzero(input_tensor=None, axis=None, keepdims=None, dtype=dtypes.int64,
                  name: str | None = None, reduction_indices=None, keep_dims=None,
                  input=None) -> Tensor:  # noqa: A002 - TF's argument name
    """The number of elements that are not zero (bools: not False) over `axis`, as TF1's
    tf.count_nonzero: counted in int64, then cast to `dtype`."""
    (x,) = convert_operands([_pick("input_tensor", input_tensor, "input", input)])
    with op_errors("NotEqual", name, "count_nonzero", [x]):
        axis = _pick("axis", axis, "reduction_indices", reduction_indices)
        keepdims = bool(_pick("keepdims", keepdims, "keep_dims", keep_dims))
        if x.dtype.is_string:
            raise DTypeError("count_nonzero of strings is not supported")
        dtype = dtypes.as_dtype(dtype)
    with x.graph.name_scope(name or "count_nonzero") as scope:
        zero = False if x.dtype.is_bool else 0
        nonzero = ew.cast(ew.not_equal(x, zero), dtypes.int64)
        if dtype == dtypes.int64:
            return reduce_sum(nonzero, axis, keepdims=keepdims, name=scope)
        return ew.cast(reduce_sum(nonzero, axis, keepdims=keepdims), dtype, name=scope)


def linspace(start, stop, num, name: str | None = None) -> Tensor:
    """`num` evenly spaced values from start to stop, as TF's tf.linspace (LinSpace):
    start + i * (stop - start) / (num - 1) in the inputs' float dtype. start and stop
    are scalars and may be computed at run time; num is a static int > 0."""
    start, stop = convert_operands([start, stop])
    with op_errors("LinSpace", name, "LinSpace", [start, stop]):
        dtype = same_dtype([(start.shape, start.dtype), (stop.shape, stop.dtype)],
                           "start and stop")
        check_dtype(dtype, FLOAT, "start")
        if start.ndim != 0 or stop.ndim != 0:
            raise ShapeError(f"start and stop must be scalars, got shapes "
                             f"{start.shape} and {stop.shape}")
        num = static_int(num, "num")
        if num <= 0:
            raise ShapeError(f"num must be positive, got {num}")
    with start.graph.name_scope(name or "LinSpace") as scope:
        if num == 1:
            return reshape(start, [1], name=scope)
        step = ew.realdiv(ew.subtract(stop, start), np.array(num - 1, dtype.np))
        steps = ew.cast(range_(num), dtype)
        return ew.add(start, ew.multiply(steps, step), name=scope)


lin_space = linspace

__all__ = ["to_int32", "to_int64", "to_double", "saturate_cast", "squared_difference",
           "count_nonzero", "linspace", "lin_space"]
