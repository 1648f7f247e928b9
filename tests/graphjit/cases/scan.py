"""Cases for cumsum.

The expectation does not scan: each output element is the sum of the input elements a
0/1 matrix picks along the axis (j <= i; exclusive j < i; reverse j >= i or j > i),
in float64 (or int64) with NumPy. Each axis rule is its own Case, and hypothesis draws
shapes of every rank it accepts.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case

NUMERIC = FLOATS + INTS
SUM_TOL = {"rtol": {"float32": 1e-5, "float64": 1e-12}, "atol": 1e-4}


def _shapes(min_rank: int = 1, max_rank: int = 4, min_side: int = 1):
    return st.tuples(hnp.array_shapes(min_dims=min_rank, max_dims=max_rank, min_side=min_side,
                                      max_side=5))


def expected_cumsum(a, axis: int, exclusive: bool = False, reverse: bool = False):
    wide = a.astype(np.float64 if a.dtype.kind == "f" else np.int64)
    axis %= a.ndim
    n = a.shape[axis]
    i, j = np.indices((n, n))
    if reverse:
        picks = j > i if exclusive else j >= i
    else:
        picks = j < i if exclusive else j <= i
    moved = np.moveaxis(wide, axis, -1)
    summed = moved @ picks.T.astype(wide.dtype) if n else moved
    out = np.moveaxis(summed, -1, axis)
    return out if a.dtype.kind == "f" else out.astype(a.dtype)


def cumsum_case(name: str, axis_of, exclusive=False, reverse=False, min_rank=1,
                default=((3, 4),), **kw):
    def build(x):
        return tf.cumsum(x, axis_of(x.ndim), exclusive=exclusive, reverse=reverse)

    def expected(a):
        return expected_cumsum(a, axis_of(a.ndim), exclusive, reverse)
    return Case(name, build, expected, default_shapes=default,
                shapes=_shapes(min_rank, **kw), dtypes=NUMERIC, **SUM_TOL)


CASES = [
    Case("cumsum_default_axis_0", tf.cumsum, lambda a: expected_cumsum(a, 0),
         default_shapes=((4, 3),), shapes=_shapes(), dtypes=NUMERIC, **SUM_TOL),
    cumsum_case("cumsum_last_exclusive", lambda r: -1, exclusive=True),
    cumsum_case("cumsum_middle_reverse", lambda r: r // 2, reverse=True, default=((2, 5, 3),)),
    cumsum_case("cumsum_negative_exclusive_reverse", lambda r: -2, exclusive=True,
                reverse=True, min_rank=2, default=((3, 4, 2),)),
    cumsum_case("cumsum_zero_size", lambda r: r - 1, default=((3, 0),), max_rank=3,
                min_side=0),
    Case("cumsum_constant_axis_tensor",
         lambda x: tf.cumsum(x, axis=tf.constant(1), reverse=True, name="scan"),
         lambda a: expected_cumsum(a, 1, reverse=True), default_shapes=((2, 6),),
         shapes=_shapes(2), dtypes=("float64", "int32"), **SUM_TOL),
]


def expected_cumprod(a, axis: int, exclusive: bool = False, reverse: bool = False):
    """Products of the elements a 0/1 mask picks along the axis (1 where none is)."""
    wide = a.astype(np.float64 if a.dtype.kind == "f" else np.int64)
    axis %= a.ndim
    n = a.shape[axis]
    moved = np.moveaxis(wide, axis, -1)
    out = np.ones_like(moved)
    for i in range(n):
        for j in range(n):
            picked = (j > i if exclusive else j >= i) if reverse else \
                (j < i if exclusive else j <= i)
            if picked:
                out[..., i] = out[..., i] * moved[..., j]
    out = np.moveaxis(out, -1, axis)
    return out if a.dtype.kind == "f" else out.astype(a.dtype)


def cumprod_case(name: str, axis_of, exclusive=False, reverse=False, default=((3, 4),), **kw):
    def build(x):
        return tf.cumprod(x, axis_of(x.ndim), exclusive=exclusive, reverse=reverse)

    def expected(a):
        return expected_cumprod(a, axis_of(a.ndim), exclusive, reverse)
    # factors in [0.5, 1.5] (ints: [-2, 2], zeros included) keep products in range
    return Case(name, build, expected, default_shapes=default, shapes=_shapes(1, 3, **kw),
                dtypes=NUMERIC, inputs=_factors, **SUM_TOL)


def _factors(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.uniform(0.5, 1.5, size=shape).astype(dtype)
    return rng.integers(-2, 3, size=shape).astype(dtype)


CASES += [
    cumprod_case("cumprod_default", lambda r: 0),
    cumprod_case("cumprod_last_exclusive", lambda r: -1, exclusive=True),
    cumprod_case("cumprod_negative_reverse", lambda r: -r, reverse=True, default=((4, 2),)),
    cumprod_case("cumprod_exclusive_reverse", lambda r: r - 1, exclusive=True, reverse=True,
                 default=((2, 3, 4),)),
    cumprod_case("cumprod_zero_size", lambda r: 0, default=((0, 3),), min_side=0),
]
