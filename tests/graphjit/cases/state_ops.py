"""Cases for the ops with state, as far as one stateless run can check them: an Assign
returns the value it stores, a NoOp control input runs, random draws have their
static shape (multiplied by zero, so the expectation stays exact). Their semantics
across runs are tested in tests/graphjit/test_variables.py."""

from __future__ import annotations

import numpy as np

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


CASES = [
    Case("assign", _assign, lambda x: x, default_shapes=((2, 3),), dtypes=FLOATS + ("int32",)),
    Case("no_op_control_input", _after_no_op, lambda x: x, default_shapes=((2, 3),)),
    Case("random_normal", _plus_zero_times(tf.random_normal), lambda x: x,
         default_shapes=((2, 3),)),
    Case("random_uniform", _plus_zero_times(tf.random_uniform), lambda x: x,
         default_shapes=((2, 3),)),
    Case("truncated_normal", _plus_zero_times(tf.truncated_normal), lambda x: x,
         default_shapes=((2, 3),)),
]
