"""A MatMul of a batched operand by a matrix runs as one GEMM over the batch and row
axes flattened: checked by the loop IR and against the interpreter, compiled."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from tests.graphjit.passes.util import assert_same_values

RNG = np.random.default_rng(0)
W = RNG.standard_normal((7, 5)).astype(np.float32)


@pytest.fixture(scope="module")
def batched_by_matrix():
    """(x, fetches, compiled): x [?, 3, 5] times W^T, x [?, 3, 5] times W^T's transpose
    flag off (W as [5, 7]), and a batched-by-batched product that stays batched."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3, 5], name="x")
        by_transposed = tf.matmul(x, tf.constant(W), transpose_b=True)  # [?, 3, 7]
        by_plain = tf.matmul(x, tf.constant(W.T.copy()))
        batched = tf.matmul(by_plain, by_transposed, transpose_b=True)  # [?, 3, 3]
        fetches = [by_transposed, by_plain * 2.0, batched]
    return x, fetches, tf.compile(g, fetches)


def test_rows_flattened_in_the_extern_call(batched_by_matrix):
    _, _, fn = batched_by_matrix
    fn(np.zeros((2, 3, 5), np.float32))
    source = fn.ir("python")
    flattened = source.count("in0.reshape(((in0.shape[0] * in0.shape[1]), in0.shape[2]))")
    assert flattened == 2  # the two products by W; the batched one keeps its batch loop


@pytest.mark.parametrize("batch", [1, 3])
def test_matches_interpreter(batched_by_matrix, batch):
    x, fetches, fn = batched_by_matrix
    feed = RNG.standard_normal((batch, 3, 5)).astype(np.float32)
    for want, got, name in zip(evaluate(fetches, {x: feed}), fn(feed), ("t", "plain", "b")):
        assert_same_values(want, got, name)


def test_non_contiguous_feed(batched_by_matrix):
    x, fetches, fn = batched_by_matrix
    feed = RNG.standard_normal((3, 5, 3)).astype(np.float32).transpose(0, 2, 1)
    for want, got in zip(evaluate(fetches, {x: feed}), fn(feed)):
        assert_same_values(want, got, "strided feed")
