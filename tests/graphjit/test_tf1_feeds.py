"""Feeds as TF1 programs write them: int labels built with NumPy's float helpers
(`np.concatenate([np.ones([n]), np.zeros([n])])` fed to an int32 placeholder) are taken,
as TF1 takes them; floats with fractions are still refused (TF1 would truncate them)."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_ops_check import ENGINES, run


@pytest.mark.parametrize("engine", ENGINES)
def test_whole_float_labels_feed_int_placeholder(graph, engine):
    logits = tf.placeholder(tf.float32, [None, 2])
    target = tf.placeholder(tf.int32, shape=[None])
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        logits=logits, labels=target))
    batch = 3
    labels = np.concatenate([np.ones([batch]), np.zeros([batch])], axis=0)  # float64
    value = np.random.default_rng(0).normal(size=(2 * batch, 2)).astype(np.float32)
    got = run(engine, loss, {logits: value, target: labels})
    shifted = value - value.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(2 * batch), labels.astype(int)].mean()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert labels.dtype == np.float64  # the caller's array is left as it was


@pytest.mark.parametrize("engine", ENGINES)
def test_fractional_floats_into_int_are_refused(graph, engine):
    target = tf.placeholder(tf.int32, shape=[None], name="target")
    with pytest.raises(tf.FeedError, match="'target:0'.*whole numbers"):
        run(engine, target * 2, {target: np.array([1.0, 0.5])})
