"""Spread and size of tensors: tf.math.reduce_variance, reduce_std,
reduce_euclidean_norm and tf.norm (tf.linalg.norm), as composites of reductions and
elementwise ops written as TF 1.15 writes them, so values and gradients agree."""

from __future__ import annotations

import numbers

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    FLOAT,
    NUMERIC,
    check_dtype,
    convert_operands,
    normalize_axes,
    normalize_axis,
    op_errors,
    static_value,
)
from graphjit.ops.core import identity
from graphjit.ops.reductions import _pick, reduce_max, reduce_mean, reduce_sum
from graphjit.ops.shape_ops import squeeze


def _axes(x: Tensor, axis) -> tuple[int, ...]:
    if isinstance(axis, Tensor):  # a constant axis tensor, read at build time
        axis = static_value(axis, "axis").tolist()
    return normalize_axes(axis, x.ndim)


def reduce_variance(input_tensor, axis=None, keepdims: bool = False,
                    name: str | None = None) -> Tensor:
    """mean((x - mean(x))^2) over `axis` (None: all), as tf.math.reduce_variance; the
    gradient flows through the mean too (unlike tf.nn.moments)."""
    (x,) = convert_operands([input_tensor])
    with op_errors("Mean", name, "reduce_variance", [x]):
        check_dtype(x.dtype, FLOAT)
        axes = _axes(x, axis)
    with x.graph.name_scope(name or "reduce_variance") as scope:
        mean = reduce_mean(x, axes, keepdims=True)
        return reduce_mean(ew.square(x - mean), axes, keepdims=bool(keepdims), name=scope)


def reduce_std(input_tensor, axis=None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    """sqrt(reduce_variance(x)), as tf.math.reduce_std."""
    (x,) = convert_operands([input_tensor])
    with op_errors("Mean", name, "reduce_std", [x]):
        check_dtype(x.dtype, FLOAT)
        axes = _axes(x, axis)
    with x.graph.name_scope(name or "reduce_std") as scope:
        return ew.sqrt(reduce_variance(x, axes, keepdims), name=scope)


def reduce_euclidean_norm(input_tensor, axis=None, keepdims: bool = False,
                          name: str | None = None) -> Tensor:
    """sqrt(sum(x^2)) over `axis`, as tf.math.reduce_euclidean_norm. Integers are summed
    in their dtype and the root truncated, as TF's integer kernel does."""
    (x,) = convert_operands([input_tensor])
    with op_errors("EuclideanNorm", name, "EuclideanNorm", [x]):
        check_dtype(x.dtype, NUMERIC)
        axes = _axes(x, axis)
    with x.graph.name_scope(name or "EuclideanNorm") as scope:
        total = reduce_sum(ew.square(x), axes, keepdims=bool(keepdims))
        if x.dtype.is_floating:
            return ew.sqrt(total, name=scope)
        return ew.cast(ew.sqrt(ew.cast(total, dtypes.float64)), x.dtype, name=scope)


_MATRIX_ORDS = ("euclidean", "fro", 1, np.inf)


def _is_ord(ord, *choices) -> bool:  # noqa: A002
    """ord is one of `choices`: strings compare as strings, numbers as numbers (not bools)."""
    if isinstance(ord, (bool, np.bool_)):
        return False
    return any(ord == c for c in choices if isinstance(c, str) == isinstance(ord, str))


def _norm_axes(x: Tensor, ord, axis) -> tuple[tuple[int, ...] | None, bool]:
    """(axes, is a matrix norm); checks `ord` against the axes as TF 1.15 does."""
    if isinstance(axis, Tensor):
        axis = static_value(axis, "axis").tolist()
    if isinstance(axis, (list, tuple)) and len(axis) == 2:
        rows, cols = (normalize_axis(a, x.ndim) for a in axis)
        if rows == cols:
            raise ShapeError(f"'axis' must be None, an integer, or a tuple of 2 unique "
                             f"integers, got {axis}")
        if ord == 2:
            raise UnsupportedError("the matrix 2-norm (the largest singular value) is not "
                                   "supported: it needs an SVD")
        if not _is_ord(ord, *_MATRIX_ORDS):
            raise ShapeError(f"'ord' must be a supported matrix norm in "
                             f"['euclidean', 'fro', 1, inf], got {ord!r}")
        return (rows, cols), True
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise ShapeError(f"'axis' must be None, an integer, or a tuple of 2 unique "
                         f"integers, got {axis}")
    if isinstance(ord, str):
        if ord == "fro" and axis is not None:
            raise ShapeError("'ord'='fro' is a matrix norm: give axis as a pair of axes")
        if ord not in ("euclidean", "fro"):
            raise ShapeError(f"'ord' must be a supported vector norm, got {ord!r}")
    elif not isinstance(ord, numbers.Real) or isinstance(ord, bool) or not ord > 0:
        raise ShapeError(f"'ord' must be a supported vector norm ('euclidean', 1, 2, inf "
                         f"or a real p > 0), got {ord!r}")
    if axis is None:
        return None, False
    return (normalize_axis(axis, x.ndim),), False


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name: str | None = None,
         keep_dims=None) -> Tensor:  # noqa: A002 - TF's argument name
    """Vector and matrix norms, as TF 1.15's tf.norm (tf.linalg.norm).

    axis None: the whole tensor as one vector; an int: vectors along it; a pair: matrices
    in those two axes. Vector ords: 'euclidean' (2), 1, inf, any real p > 0 (and 'fro'
    with axis None); matrix ords: 'euclidean'/'fro' (Frobenius), 1 (largest column sum
    of |x|), inf (largest row sum).
    """
    (x,) = convert_operands([tensor])
    with op_errors("Sqrt", name, "norm", [x]):
        check_dtype(x.dtype, FLOAT)
        keepdims = bool(_pick("keepdims", keepdims, "keep_dims", keep_dims))
        axes, matrix = _norm_axes(x, ord, axis)
    every = tuple(range(x.ndim)) if axes is None else axes
    with x.graph.name_scope(name or "norm") as scope:
        if _is_ord(ord, "euclidean", "fro", 2):
            result = ew.sqrt(reduce_sum(x * x, every, keepdims=True))
        elif _is_ord(ord, 1) and matrix:
            columns = reduce_sum(ew.abs(x), every[0], keepdims=True)
            result = reduce_max(columns, every[1], keepdims=True)
        elif _is_ord(ord, 1):
            result = reduce_sum(ew.abs(x), every, keepdims=True)
        elif _is_ord(ord, np.inf) and matrix:
            rows = reduce_sum(ew.abs(x), every[1], keepdims=True)
            result = reduce_max(rows, every[0], keepdims=True)
        elif _is_ord(ord, np.inf):
            result = reduce_max(ew.abs(x), every, keepdims=True)
        else:
            powered = ew.pow(ew.abs(x), np.array(ord, x.dtype.np))
            result = ew.pow(reduce_sum(powered, every, keepdims=True),
                            np.array(1.0 / ord, x.dtype.np))
        if keepdims:
            return identity(result, name=scope)
        return squeeze(result, list(every), name=scope)




__all__ = ["reduce_variance", "reduce_std", "reduce_euclidean_norm", "norm"]
