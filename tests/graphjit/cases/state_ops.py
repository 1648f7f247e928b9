"""Cases for the ops with state, as far as one stateless run can check them: an Assign
returns the value it stores, a NoOp control input runs, random draws have their
static or run-time shape (multiplied by zero, so the expectation stays exact). Their
semantics across runs are tested in tests/graphjit/test_variables.py and
tests/graphjit/test_random_shapes.py."""

from __future__ import annotations

import numpy as np
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, Case


def _assign(x):
    v = tf.Variable(np.zeros((2, 3), x.dtype.np), name="v")
    return tf.assign(v, x)


def _after_no_op(x):
    with tf.control_dependencies([tf.no_op()]):
        return tf.identity(x)


def _plus_zero_times(draw):
    def build(x):
        return x + 0 * draw([3], dtype=x.dtype, seed=1)
    return build


def _plus_zero_times_run_time_shape(draw):
    def build(x):  # a shape known only at run time (x's dims hidden): a RandomLike draw
        hidden = tf.placeholder_with_default(x, [None] * x.ndim)
        return x + 0 * draw(tf.shape(hidden), dtype=x.dtype, seed=1)
    return build


def _unknown_dims(max_dims: int):
    return hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=0, max_side=4).map(
        lambda shape: (shape,))


CASES = [
    Case("assign", _assign, lambda x: x, default_shapes=((2, 3),), dtypes=FLOATS + ("int32",)),
    Case("no_op_control_input", _after_no_op, lambda x: x, default_shapes=((2, 3),)),
    Case("random_normal", _plus_zero_times(tf.random_normal), lambda x: x,
         default_shapes=((2, 3),)),
    Case("random_uniform", _plus_zero_times(tf.random_uniform), lambda x: x,
         default_shapes=((2, 3),)),
    Case("truncated_normal", _plus_zero_times(tf.truncated_normal), lambda x: x,
         default_shapes=((2, 3),)),
    Case("random_normal_of_run_time_shape", _plus_zero_times_run_time_shape(tf.random_normal),
         lambda x: x, default_shapes=((2, 3),), shapes=_unknown_dims(3)),
    Case("random_uniform_of_run_time_shape",
         _plus_zero_times_run_time_shape(tf.random_uniform), lambda x: x,
         default_shapes=((4,),), shapes=_unknown_dims(2)),
    Case("truncated_normal_of_run_time_shape",
         _plus_zero_times_run_time_shape(tf.truncated_normal), lambda x: x,
         default_shapes=((3, 1),), shapes=_unknown_dims(2)),
]
