"""Compiled functions through ops whose output size depends on values (graphjit.staged):
the plans before and after a boolean_mask agree with the reference interpreter, run
each op once per call (a random draw feeding both sides is drawn once), chain through
several masks, and keep state and fetched operations working."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf


def both(fetches, feed_dict=None, setup=None):
    results = []
    for engine in ("reference", "compiled"):
        with tf.Session(engine=engine) as sess:
            if setup is not None:
                sess.run(setup)
            results.append(sess.run(fetches, feed_dict))
    return results


def test_chained_masks_and_values_from_both_sides(graph):
    x = tf.placeholder(tf.float64, [None], name="x")
    first = tf.boolean_mask(x, x > 0)
    second = tf.boolean_mask(first * 2, first < 3)
    total = tf.reduce_sum(second) + tf.reduce_sum(x) + tf.cast(tf.size(first), tf.float64)
    values = np.array([-1.0, 0.5, 2.0, 4.0, 1.0])
    reference, compiled = both([first, second, total], {x: values})
    for r, c in zip(reference, compiled):
        np.testing.assert_array_equal(r, c)
    np.testing.assert_array_equal(compiled[1], [1.0, 4.0, 2.0])
    assert compiled[2] == 7.0 + values.sum() + 4


def test_a_random_draw_on_both_sides_is_drawn_once(graph):
    noise = tf.random_uniform([6], seed=3)
    kept = tf.boolean_mask(noise, noise > 0.5)
    fn = tf.compile([noise, kept, tf.reduce_sum(noise) - tf.reduce_sum(kept)])
    for _ in range(3):
        n, k, rest = fn()
        np.testing.assert_array_equal(k, n[n > 0.5])
        np.testing.assert_allclose(rest, n[n <= 0.5].sum(), rtol=1e-6, atol=1e-6)


def test_variables_and_fetched_operations(graph):
    v = tf.Variable([1.0, -2.0, 3.0], name="v")
    step = tf.assign_add(v, [1.0, 1.0, 1.0])
    positive = tf.boolean_mask(v, v > 0)
    reference, compiled = both([positive, step, tf.group(step)],
                               setup=tf.global_variables_initializer())
    np.testing.assert_array_equal(reference[0], compiled[0])
    np.testing.assert_array_equal(compiled[0], [1.0, 3.0])  # read before the assignment
    np.testing.assert_array_equal(compiled[1], [2.0, -1.0, 4.0])
    assert compiled[2] is None


def test_a_mask_that_does_not_fit_fails_alike(graph):
    x = tf.placeholder(tf.float32, [None], name="x")
    m = tf.placeholder(tf.bool, [None], name="m")
    y = tf.boolean_mask(x, m) + 1
    for engine in ("reference", "compiled"):
        with tf.Session(engine=engine) as sess:
            with pytest.raises(tf.ShapeError, match="BooleanMask 'boolean_mask'.*does not match"):
                sess.run(y, {x: [1.0, 2.0], m: [True]})
