"""graphjit.lower.scan: Cumsum's kernel where the registry cases do not reach (their
inputs are small): the parallel outer loop of a large input, bit for bit against the
reference, and integer sums that wrap in the input dtype as TF's do."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit import interpreter
from graphjit.lower.emit import PARALLEL_MIN_ELEMENTS


@pytest.mark.parametrize("axis", [0, -1])
def test_a_large_scan_runs_in_parallel_and_rounds_as_the_reference(axis):
    shape = (64, PARALLEL_MIN_ELEMENTS // 64 + 7)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, None], name="x")
        ys = [tf.cumsum(x, axis, exclusive=e, reverse=r) for e in (False, True)
              for r in (False, True)]
    fn = tf.compile(ys, feeds=[x])
    value = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    compiled = fn(value)
    loops = fn.ir("loops")
    assert loops.count("kernel scan_cumsum") == 4 and loops.count("parallel for o0") == 4
    assert "reduce_add" not in fn.ir("python")  # partial sums round in order
    for got, want in zip(compiled, interpreter.evaluate(ys, {x: value})):
        np.testing.assert_array_equal(got, want)


def test_integer_sums_wrap_in_the_input_dtype():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.int8, [None], name="x")
        y = tf.cumsum(x, reverse=True)
    value = np.array([100, 100, 100, -7], np.int8)
    want = np.array([37, -63, 93, -7], np.int8)  # 193 wraps to -63, then -63 + 100
    np.testing.assert_array_equal(interpreter.evaluate([y], {x: value})[0], want)
    np.testing.assert_array_equal(tf.compile(y, feeds=[x])(value), want)
