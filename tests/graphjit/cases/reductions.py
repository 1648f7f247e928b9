"""Cases for reductions and argmax/argmin.

The axes are fixed when a Case builds its graph, so each axis rule (a function
of the rank: None, 0, -1, [0, -1], every axis but the first, ...) is its own
Case and hypothesis draws shapes of every rank the rule accepts, 0-d included.
Expectations reduce the float64 copy of the input with NumPy.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, uniform

NUMERIC = FLOATS + INTS

# name -> (minimum rank, the axis argument for a tensor of that rank)
AXES = {
    "all": (0, lambda r: None),
    "first": (1, lambda r: 0),
    "last": (1, lambda r: -1),
    "first_last": (2, lambda r: [0, -1]),
    "tail": (2, lambda r: list(range(1, r))),
    "odd_negative": (2, lambda r: [-a for a in range(1, r + 1, 2)]),
    "empty_list": (0, lambda r: []),
}

# float32 sums of up to 625 terms near zero need an absolute tolerance
SUM_TOL = {"rtol": {"float32": 1e-5, "float64": 1e-12}, "atol": 1e-4}


def _np_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _shapes(min_rank: int, max_rank: int = 4, max_side: int = 5, min_side: int = 1):
    return st.tuples(hnp.array_shapes(min_dims=min_rank, max_dims=max_rank, min_side=min_side,
                                      max_side=max_side))


def _f64(a):
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def _int_mean(a, axis, keepdims):
    total = np.sum(a.astype(np.int64), axis=axis, keepdims=keepdims)
    count = a.size // max(np.size(total), 1) if a.size else 1
    return np.trunc(total / count).astype(a.dtype)  # C-style truncation, as TF


def _mean(a, axis, keepdims):
    if a.dtype.kind in "iu":
        return _int_mean(a, axis, keepdims)
    return np.mean(_f64(a), axis=axis, keepdims=keepdims)


def reduction(fn_name, np_fn, rule, keepdims=False, dtypes=NUMERIC, max_rank=4, max_side=5,
              inputs=None, **kw):
    min_rank, axis_of = AXES[rule]
    fn = getattr(tf, fn_name)
    default = ((2, 3, 4),) if min_rank <= 3 else ((2, 3, 4, 2),)
    return Case(
        f"{fn_name}_{rule}{'_keepdims' if keepdims else ''}",
        lambda x: fn(x, axis=axis_of(x.ndim), keepdims=keepdims),
        lambda a: np_fn(_f64(a), _np_axis(axis_of(a.ndim)), keepdims),
        default_shapes=default, shapes=_shapes(min_rank, max_rank, max_side), dtypes=dtypes,
        inputs=inputs or uniform(), **kw)


def _sum(a, axis, keepdims):
    return np.sum(a, axis=axis, keepdims=keepdims)


def _prod(a, axis, keepdims):
    return np.prod(a, axis=axis, keepdims=keepdims)


def _max(a, axis, keepdims):
    return np.max(a, axis=axis, keepdims=keepdims, initial=-np.inf)


def _min(a, axis, keepdims):
    return np.min(a, axis=axis, keepdims=keepdims, initial=np.inf)


def _max_exact(a, axis, keepdims):
    return np.max(a, axis=axis, keepdims=keepdims) if a.size else _max(a, axis, keepdims)


def _min_exact(a, axis, keepdims):
    return np.min(a, axis=axis, keepdims=keepdims) if a.size else _min(a, axis, keepdims)


def _any(a, axis, keepdims):
    return np.any(a, axis=axis, keepdims=keepdims)


def _all(a, axis, keepdims):
    return np.all(a, axis=axis, keepdims=keepdims)


def _bools(p_true):
    return lambda rng, shape, dtype: rng.random(shape) < p_true


def _argmax_expected(np_fn, axis):
    return lambda a: np_fn(_f64(a), axis=axis(a.ndim))


CASES = [
    *(reduction("reduce_sum", _sum, rule, keepdims, **SUM_TOL)
      for rule, keepdims in [("all", False), ("all", True), ("first", False), ("last", True),
                             ("first_last", False), ("tail", True), ("odd_negative", False),
                             ("empty_list", False)]),
    Case("reduce_sum_tf1_aliases",
         lambda x: tf.reduce_sum(x, reduction_indices=[-1], keep_dims=True),
         lambda a: np.sum(_f64(a), axis=-1, keepdims=True), default_shapes=((3, 4),),
         shapes=_shapes(1), dtypes=NUMERIC, **SUM_TOL),
    Case("reduce_sum_zero_size", lambda x: tf.reduce_sum(x, axis=-1),
         lambda a: np.sum(_f64(a), axis=-1), default_shapes=((2, 0),),
         shapes=_shapes(1, 3, min_side=0), dtypes=NUMERIC, **SUM_TOL),
    *(reduction("reduce_mean", _mean, rule, keepdims, **SUM_TOL)
      for rule, keepdims in [("all", False), ("last", False), ("first_last", True),
                             ("tail", False), ("empty_list", True)]),
    Case("reduce_mean_int_truncates", lambda x: tf.reduce_mean(x, axis=0),
         lambda a: _int_mean(a, 0, False), default_shapes=((3, 2),), shapes=_shapes(1),
         dtypes=INTS, inputs=uniform(-7, 7)),
    *(reduction("reduce_max", _max_exact, rule, keepdims)
      for rule, keepdims in [("all", False), ("first", True), ("odd_negative", False),
                             ("empty_list", False)]),
    *(reduction("reduce_min", _min_exact, rule, keepdims)
      for rule, keepdims in [("all", True), ("last", False), ("tail", False)]),
    Case("reduce_max_zero_size_is_lowest", lambda x: tf.reduce_max(x, axis=1),
         lambda a: _max(_f64(a), 1, False), default_shapes=((3, 0),),
         shapes=_shapes(2, 3, min_side=0)),
    Case("reduce_min_zero_size_is_highest", lambda x: tf.reduce_min(x, axis=0),
         lambda a: _min(_f64(a), 0, False), default_shapes=((0, 2),),
         shapes=_shapes(1, 3, min_side=0)),
    # Small tensors and factors near 1 keep products finite (and exact in int32).
    *(reduction("reduce_prod", _prod, rule, keepdims, max_rank=3, max_side=3,
                inputs=uniform(-2, 2))
      for rule, keepdims in [("all", False), ("last", False), ("first_last", True)]),
    *(reduction("reduce_any", _any, rule, keepdims, dtypes=("bool",), inputs=_bools(0.15))
      for rule, keepdims in [("all", False), ("last", True), ("tail", False)]),
    *(reduction("reduce_all", _all, rule, keepdims, dtypes=("bool",), inputs=_bools(0.85))
      for rule, keepdims in [("all", False), ("first", False), ("first_last", True)]),
    Case("argmax_default_axis_0", tf.argmax, _argmax_expected(np.argmax, lambda r: 0),
         default_shapes=((3, 4),), shapes=_shapes(1), dtypes=NUMERIC),
    Case("argmax_last", lambda x: tf.argmax(x, -1),
         _argmax_expected(np.argmax, lambda r: -1), default_shapes=((3, 4),),
         shapes=_shapes(1), dtypes=NUMERIC),
    Case("argmax_dimension_int32", lambda x: tf.argmax(x, dimension=1, output_type=tf.int32),
         lambda a: np.argmax(_f64(a), axis=1).astype(np.int32), default_shapes=((2, 3, 4),),
         shapes=_shapes(2), dtypes=NUMERIC),
    Case("argmin_default_axis_0", tf.argmin, _argmax_expected(np.argmin, lambda r: 0),
         default_shapes=((3, 4),), shapes=_shapes(1), dtypes=NUMERIC),
    Case("argmin_middle", lambda x: tf.argmin(x, axis=x.ndim // 2),
         _argmax_expected(np.argmin, lambda r: r // 2), default_shapes=((2, 3, 4),),
         shapes=_shapes(1), dtypes=NUMERIC),
    Case("mean_square_error", lambda x, y: tf.reduce_mean(tf.square(x - y)),
         lambda a, b: np.mean(np.square(_f64(a) - _f64(b))), default_shapes=((4, 3), (4, 3)),
         shapes=st.tuples(hnp.array_shapes(max_dims=4, max_side=5)).map(lambda s: s * 2),
         **SUM_TOL),
]
