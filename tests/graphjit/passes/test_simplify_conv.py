"""Simplification rules around convolutions: layout transposes of one-channel images and
of the Flatten before a dense layer, and activations moved after max pooling; each by
structure and by numbers (NaN, infinities and signed zeros included)."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.passes.util import op_types, optimize_and_compare

PASSES = ["simplify", "dce"]
RNG = np.random.default_rng(0)


def _image(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[:4] = [np.nan, np.inf, -np.inf, -0.0]
    return x


def test_transpose_of_size_one_axes_is_a_reshape():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 1, 3, 4], name="x")  # NCHW, one channel
        out = tf.abs(tf.transpose(x, [0, 2, 3, 1]), name="out")
    new, _ = optimize_and_compare(g, [out], {x: _image((2, 1, 3, 4))}, passes=PASSES)
    (reshape,) = [op for op in new.get_operations() if op.type == "Reshape"]
    assert "Transpose" not in op_types(new)
    assert reshape.attrs["shape"] == (-1, 3, 4, 1)


def test_transpose_moving_a_longer_axis_stays():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 2, 3, 1], name="x")
        out = tf.abs(tf.transpose(x, [0, 2, 1, 3]), name="out")
    new, _ = optimize_and_compare(g, [out], {x: _image((2, 2, 3, 1))}, passes=PASSES)
    assert op_types(new)["Transpose"] == 1 and "Reshape" not in op_types(new)


def _pool(x, padding="VALID"):
    return tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], padding)


def _pooled_first(new) -> bool:
    (pool,) = [op for op in new.get_operations() if op.type == "MaxPool"]
    return pool.inputs[0].op.type == "Placeholder"


def test_max_pool_moves_before_bias_and_relu():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 5, 4, 3], name="x")
        bias = tf.constant(np.array([0.5, -np.inf, 0.0], np.float32))
        out = tf.abs(_pool(tf.nn.relu(x + bias), "SAME"), name="out")
    new, _ = optimize_and_compare(g, [out], {x: _image((2, 5, 4, 3))}, passes=PASSES)
    assert _pooled_first(new), new.as_text()
    assert op_types(new)["Relu"] == 1 and op_types(new)["Add"] == 1


def test_max_pool_stays_after_what_it_cannot_move_through():
    """A bias that varies along W, a Relu read elsewhere too, a non-monotone op."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4, 4, 3], name="x")
        along_w = tf.constant(RNG.standard_normal((4, 1)).astype(np.float32))
        a = _pool(x + along_w)
        shared = tf.nn.relu(x)
        b = _pool(shared) + tf.reduce_sum(shared)
        c = _pool(tf.negative(x))
        out = tf.abs(a + b + c, name="out")
    new, _ = optimize_and_compare(g, [out], {x: _image((2, 4, 4, 3))}, passes=PASSES)
    assert all(op.inputs[0].op.type != "Placeholder"
               for op in new.get_operations() if op.type == "MaxPool"), new.as_text()


@pytest.mark.parametrize("transpose_b", [False, True])
def test_flatten_transpose_folds_into_the_dense_weights(transpose_b):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3, 2, 4], name="x")  # NHWC
        flat = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, 24])  # NCHW's Flatten
        w = RNG.standard_normal((5, 24) if transpose_b else (24, 5)).astype(np.float32)
        out = tf.abs(tf.matmul(flat, tf.constant(w), transpose_b=transpose_b), name="out")
    feed = RNG.standard_normal((2, 3, 2, 4)).astype(np.float32)
    new, _ = optimize_and_compare(g, [out], {x: feed}, passes=PASSES)
    assert "Transpose" not in op_types(new), new.as_text()


def test_flatten_transpose_read_elsewhere_stays():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3, 2, 4], name="x")
        nchw = tf.transpose(x, [0, 3, 1, 2])
        dense = tf.matmul(tf.reshape(nchw, [-1, 24]), tf.constant(np.ones((24, 5), np.float32)))
        out = tf.add(tf.abs(dense), tf.reduce_sum(nchw), name="out")
    new, _ = optimize_and_compare(g, [out], {x: np.ones((2, 3, 2, 4), np.float32)},
                                  passes=PASSES)
    assert op_types(new)["Transpose"] == 1
