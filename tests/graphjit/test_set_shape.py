"""Tensor.set_shape as TF's: static shape information merges, incompatible shapes raise,
and a value that contradicts the set shape fails at run time in both engines."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_check import ENGINES, session


@pytest.fixture(autouse=True)
def graph():
    with tf.Graph().as_default() as g:
        yield g


def test_set_shape_merges_into_a_placeholder_and_checks_feeds():
    x = tf.placeholder(tf.float32, [None, None], name="x")
    x.set_shape([None, 3])
    x.set_shape([2, None])
    assert x.shape.as_list() == [2, 3] and x.name == "x:0"
    y = tf.reduce_sum(x, 1)
    assert y.shape.as_list() == [2]
    for engine in ENGINES:
        with session(engine) as sess:
            np.testing.assert_array_equal(sess.run(y, {x: np.ones((2, 3))}), [3, 3])
            with pytest.raises(tf.FeedError):
                sess.run(y, {x: np.ones((4, 3))})


def test_set_shape_gives_a_rank_to_a_placeholder_without_shape():
    x = tf.placeholder(tf.float32)
    x.set_shape([None, 4])
    assert x.shape.as_list() == [None, 4]
    assert tf.layers.dense(x, 2).shape.as_list() == [None, 2]  # needs the rank


def test_incompatible_shapes_raise():
    x = tf.placeholder(tf.float32, [None, 3])
    with pytest.raises(tf.ShapeError, match="incompatible"):
        x.set_shape([2, 4])
    with pytest.raises(ValueError):  # TF raises ValueError; ShapeError is one
        x.set_shape([None])


def test_set_shape_on_a_computed_tensor_is_checked_at_run_time():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = x * 2.0
    y.set_shape([2, 3])
    z = tf.reduce_sum(y + 1.0, 0)
    assert y.shape.as_list() == [2, 3] and z.shape.as_list() == [3]
    for engine in ENGINES:
        with session(engine) as sess:
            np.testing.assert_array_equal(sess.run(z, {x: np.ones((2, 3))}), [6, 6, 6])
            with pytest.raises(tf.ShapeError, match="set_shape"):
                sess.run(z, {x: np.ones((5, 3))})
    (grad,) = tf.gradients(tf.reduce_sum(z), x)  # flows through the check
    with session("compiled") as sess:
        np.testing.assert_array_equal(sess.run(grad, {x: np.ones((2, 3))}), np.full((2, 3), 2))


def test_set_shape_after_use_is_refused():
    x = tf.placeholder(tf.float32, [None, 3])
    y = x * 2.0
    _ = y + 1.0
    with pytest.raises(tf.UnsupportedError, match="ensure_shape"):
        y.set_shape([2, 3])
