"""The gradient of a REFLECT or SYMMETRIC pad folds the mirrored borders back onto the
input without knowing the padded axes' sizes when it is built (placeholders of unknown
shape): checked against the fold computed one input cell at a time with np.pad."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate


def _fold(shape, pads, mode, weights):
    """d sum(np.pad(x) * weights) / dx, one unit vector at a time."""
    grad = np.zeros(shape, np.float32)
    for index in np.ndindex(*shape):
        unit = np.zeros(shape, np.float32)
        unit[index] = 1
        grad[index] = (np.pad(unit, pads, mode=mode.lower()) * weights).sum()
    return grad


@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
def test_mirrored_pad_gradient_with_unknown_sizes(mode):
    rng = np.random.default_rng(3)
    shape = (5, 6)
    cases = [[[2, 1], [0, 3]], [[1, 0], [3, 3]], [[0, 2], [1, 1]]]
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, None], name="x")
        grads, expected = [], []
        for pads in cases:
            padded = tuple(n + b + a for n, (b, a) in zip(shape, pads))
            weights = rng.standard_normal(padded).astype(np.float32)
            loss = tf.reduce_sum(tf.pad(x, pads, mode=mode) * tf.constant(weights))
            grads.append(tf.gradients(loss, [x])[0])
            expected.append(_fold(shape, pads, mode, weights))
    value = rng.standard_normal(shape).astype(np.float32)
    fn = tf.compile(grads, feeds=[x])
    for want, ref, got in zip(expected, evaluate(grads, {x: value}), fn(value)):
        np.testing.assert_allclose(ref, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
