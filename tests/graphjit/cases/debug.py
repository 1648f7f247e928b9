"""Cases for the identity-like ops of TF1 scripts: placeholder_with_default (not fed
here: its default; with shape=None, of unknown rank), ensure_shape, check_numerics
(finite values pass) and tf.Print (its input; it prints to stderr, which pytest
captures)."""

from __future__ import annotations

from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, broadcastable

ANY = FLOATS + INTS + ("bool",)


def _any_shape(n: int = 1):
    return hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4).map(
        lambda s: (s,) * n)


CASES = [
    Case("placeholder_with_default",
         lambda x: tf.placeholder_with_default(x, [None] * x.ndim) * 2, lambda a: a * 2,
         default_shapes=((2, 3),), shapes=_any_shape(), dtypes=FLOATS + INTS),
    Case("placeholder_with_default_bool",
         lambda x: tf.placeholder_with_default(x, x.shape, name="flags"), lambda a: a,
         default_shapes=((4,),), shapes=_any_shape(), dtypes=("bool",)),
    Case("ensure_shape", lambda x: tf.ensure_shape(x * 2, [None] * x.ndim) + 1,
         lambda a: a * 2 + 1, default_shapes=((2, 3),), shapes=_any_shape(),
         dtypes=FLOATS + INTS),
    # shape=None: a rank known only when the graph runs (graphjit.specialize), and a
    # gradient through it, built then (DeferredGrad)
    Case("placeholder_with_default_unknown_rank",
         lambda x: tf.placeholder_with_default(x, None) * 3, lambda a: a * 3,
         default_shapes=((2, 3),), shapes=_any_shape(), dtypes=FLOATS + INTS),
    Case("gradient_through_unknown_rank",
         lambda x: tf.gradients(tf.reduce_sum(tf.placeholder_with_default(x, None) ** 2),
                                x)[0],
         lambda a: 2 * a, default_shapes=((2, 3),), shapes=_any_shape(), dtypes=FLOATS),
    Case("check_numerics", lambda x: tf.check_numerics(x * 3, "x * 3 went bad") + 1,
         lambda a: a * 3 + 1, default_shapes=((2, 3),), shapes=_any_shape(), dtypes=FLOATS),
    Case("Print", lambda x, y: tf.Print(x, [x, y], "x and y: ", summarize=2) - y,
         lambda a, b: a - b, default_shapes=((2, 3), (3,)), shapes=broadcastable(2),
         dtypes=FLOATS + INTS),
]
