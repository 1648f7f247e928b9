"""Helpers for the TF1-name tests: run fetches in both engines, and check a gradient
against central finite differences of the reference interpreter (float64)."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from graphjit import interpreter

ENGINES = ["reference", "compiled"]


def run(engine: str, fetches, feed_dict=None):
    with tf.Session(engine=engine) as sess:
        return sess.run(fetches, feed_dict)


def check_gradient(output, x, value: np.ndarray, feeds=None, eps: float = 1e-6,
                   rtol: float = 1e-5, atol: float = 1e-7) -> np.ndarray:
    """d sum(output * W)/dx (W fixed random weights) from tf.gradients, compiled and by
    the reference interpreter, against central differences; returns the gradient."""
    feeds = {t: np.asarray(v, t.dtype.np) for t, v in (feeds or {}).items()}
    feeds[x] = value
    shape = interpreter.evaluate([output], feeds)[0].shape
    weights = tf.constant(np.random.default_rng(0).uniform(0.5, 1.5, size=shape))
    loss = tf.reduce_sum(output * weights)
    (grad,) = tf.gradients(loss, [x])
    assert grad is not None, "no gradient"
    analytic = [run(engine, grad, feeds) for engine in ENGINES]
    np.testing.assert_allclose(analytic[1], analytic[0], rtol=1e-10, atol=1e-12)
    numeric = np.zeros_like(value)
    for k in range(value.size):
        sides = []
        for sign in (1, -1):
            shifted = np.array(value, copy=True)
            shifted.flat[k] += sign * eps
            sides.append(float(interpreter.evaluate([loss], {**feeds, x: shifted})[0]))
        numeric.flat[k] = (sides[0] - sides[1]) / (2 * eps)
    np.testing.assert_allclose(analytic[0], numeric, rtol=rtol, atol=atol)
    return analytic[0]
