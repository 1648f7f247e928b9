"""Cases for boolean_mask (the primitive BooleanMask): the expectation picks the kept
slices with a Python loop over the mask's positions in row-major order."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, uniform

ANY = FLOATS + INTS + ("bool",)


def _kept(x, mask, axis: int):
    """x's slices at the True positions of `mask` (dims axis.. of x), stacked on `axis`."""
    rest = x.shape[:axis] + x.shape[axis + mask.ndim:]
    picked = [x[(slice(None),) * axis + position]
              for position in itertools.product(*map(range, mask.shape)) if mask[position]]
    if not picked:
        return np.zeros(x.shape[:axis] + (0,) + x.shape[axis + mask.ndim:], x.dtype)
    return np.stack(picked, axis=axis).reshape(x.shape[:axis] + (len(picked),) + rest[axis:])


@st.composite
def _with_mask(draw, axis: int, mask_rank: int):
    x = draw(hnp.array_shapes(min_dims=axis + mask_rank, max_dims=axis + mask_rank + 1,
                              min_side=0, max_side=4))
    return (x, x[axis:axis + mask_rank])


def case(name, axis, mask_rank, default, **kw):
    def build(x, m):
        return tf.boolean_mask(x, m, axis=axis) if axis else tf.boolean_mask(x, m)
    return Case(name, build, lambda x, m: _kept(x, m, axis), default_shapes=default,
                shapes=_with_mask(axis, mask_rank), dtypes=ANY,
                inputs=(uniform(), uniform()), input_dtypes={1: "bool"}, **kw)


_NONE_KEPT = lambda rng, shape, dtype: np.zeros(shape, bool)  # noqa: E731

CASES = [
    case("boolean_mask", 0, 1, ((5, 3), (5,))),
    case("boolean_mask_2d_mask", 0, 2, ((3, 4, 2), (3, 4))),
    case("boolean_mask_axis1", 1, 1, ((2, 5, 3), (5,))),
    Case("boolean_mask_none_kept", lambda x, m: tf.boolean_mask(x, m) * 2,
         lambda x, m: _kept(x, m, 0) * 2, default_shapes=((4, 2), (4,)),
         shapes=_with_mask(0, 1), dtypes=FLOATS, inputs=(uniform(), _NONE_KEPT),
         input_dtypes={1: "bool"}),
]
