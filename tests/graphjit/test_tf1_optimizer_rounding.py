"""AdamOptimizer and RMSPropOptimizer in float32 round as TF's ApplyAdam and
ApplyRMSProp kernels do, so a TF1 program prints TF's digits: for Adam
m += (g - m) * (1 - beta1) with 1 - beta1 computed in float32
(0.100000024, where Python's float64 1 - 0.9 rounds to float32 0.1), v likewise, and
var -= m * lr_t / (sqrt(v) + epsilon); RMSProp's ms likewise. Checked bit for bit
against NumPy float32 replays of those kernels, in both engines."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_ops_check import ENGINES

F = np.float32


def _tf_adam_replay(w, grads_of, steps, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8):
    m, v = np.zeros_like(w), np.zeros_like(w)
    b1p, b2p = F(beta1), F(beta2)
    for _ in range(steps):
        g = grads_of(w)
        alpha = F(lr) * np.sqrt(F(1) - b2p) / (F(1) - b1p)
        m = m + (g - m) * (F(1) - F(beta1))
        v = v + (g * g - v) * (F(1) - F(beta2))
        w = w - (m * alpha) / (np.sqrt(v) + F(eps))
        b1p, b2p = b1p * F(beta1), b2p * F(beta2)
    return w, m, v


@pytest.mark.parametrize("engine", ENGINES)
def test_adam_float32_steps_round_as_tfs_kernel(graph, engine):
    start = np.array([1.7640524, -0.4001572, 0.978738], F)
    x = tf.placeholder(tf.float32, [3])
    w = tf.Variable(start)
    loss = tf.reduce_sum(tf.square(w * x - 1.0))
    opt = tf.train.AdamOptimizer(learning_rate=0.01)
    train = opt.minimize(loss)
    feed = np.array([3.3, 4.4, 5.5], F)
    with tf.Session(engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(7):
            sess.run(train, {x: feed})
        got = sess.run([w, opt.get_slot(w, "m"), opt.get_slot(w, "v")])
    expected = _tf_adam_replay(start, lambda w: F(2) * (w * feed - F(1)) * feed, 7)
    for have, want in zip(got, expected):
        np.testing.assert_array_equal(have, want.astype(F))


def _tf_rmsprop_replay(w, grads_of, steps, lr=0.001, decay=0.9, eps=1e-10):
    ms, mom = np.ones_like(w), np.zeros_like(w)
    for _ in range(steps):
        g = grads_of(w)
        ms = ms + (g * g - ms) * (F(1) - F(decay))
        mom = mom * F(0) + (g * F(lr)) / np.sqrt(ms + F(eps))
        w = w - mom
    return w, ms


@pytest.mark.parametrize("engine", ENGINES)
def test_rmsprop_float32_steps_round_as_tfs_kernel(graph, engine):
    start = np.array([0.3, -1.25, 2.5], F)
    w = tf.Variable(start)
    loss = tf.reduce_sum(tf.square(w - 1.0))
    opt = tf.train.RMSPropOptimizer(0.001, 0.9)
    train = opt.minimize(loss)
    with tf.Session(engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(6):
            sess.run(train)
        got = sess.run([w, opt.get_slot(w, "rms")])
    expected = _tf_rmsprop_replay(start, lambda w: F(2) * (w - F(1)), 6)
    for have, want in zip(got, expected):
        np.testing.assert_array_equal(have, want.astype(F))
