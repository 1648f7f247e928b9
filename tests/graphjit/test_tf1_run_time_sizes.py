"""Sizes TF1 programs learn only at run time, in both engines, against NumPy: counting
along a batch (`tf.range(0, tf.shape(x)[0]) * steps + (lengths - 1)` to pick each
sequence's last output), splitting a reshaped batch into equal pieces (`tf.split(
tf.reshape(x, [-1, n]), steps, 0)`), and the gradient of a concat of two batches."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_ops_check import ENGINES, check_gradient, run

STEPS, UNITS = 5, 3


def _outputs():
    return np.arange(4 * STEPS * UNITS, dtype=np.float32).reshape(4, STEPS, UNITS)


@pytest.mark.parametrize("engine", ENGINES)
def test_last_relevant_output(graph, engine):
    outputs = tf.placeholder(tf.float32, [None, STEPS, UNITS])
    lengths = tf.placeholder(tf.int32, [None])
    batch = tf.shape(outputs)[0]
    index = tf.range(0, batch) * STEPS + (lengths - 1)
    last = tf.gather(tf.reshape(outputs, [-1, UNITS]), index)
    odd = tf.range(1, batch, 2)
    value, lens = _outputs(), np.array([5, 1, 3, 2], np.int32)
    got, got_odd = run(engine, [last, odd], {outputs: value, lengths: lens})
    np.testing.assert_array_equal(got, value[np.arange(4), lens - 1])
    np.testing.assert_array_equal(got_odd, np.arange(1, 4, 2))
    assert index.dtype == tf.int32 and index.shape.as_list() == [None]
    three, _ = run(engine, [last, odd], {outputs: value[:3], lengths: lens[:3]})
    np.testing.assert_array_equal(three, value[np.arange(3), lens[:3] - 1])


@pytest.mark.parametrize("engine", ENGINES)
def test_split_of_unknown_batch(graph, engine):
    x = tf.placeholder(tf.float32, [None, STEPS, UNITS])
    rows = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, UNITS])
    pieces = tf.split(rows, STEPS, 0)
    assert len(pieces) == STEPS and pieces[0].shape.as_list() == [None, UNITS]
    value = _outputs()
    got = run(engine, pieces, {x: value})
    for step, piece in enumerate(got):
        np.testing.assert_array_equal(piece, value[:, step])


def test_split_of_unknown_batch_gradient(graph):
    x = tf.placeholder(tf.float64, [None, 2])
    first, second = tf.split(x, 2, 0)
    check_gradient(first * 3.0 + second * second, x, np.arange(8.0).reshape(4, 2) / 7)


def test_concat_of_two_unknown_batches_gradient(graph):
    x = tf.placeholder(tf.float64, [None, 2])
    y = tf.placeholder(tf.float64, [None, 2])
    both = tf.concat([x * x, y * 2.0, x], axis=0)
    feeds = {y: np.ones((3, 2))}
    check_gradient(both, x, np.arange(4.0).reshape(2, 2) / 3, feeds)
    check_gradient(both, y, np.arange(6.0).reshape(3, 2) / 5, {x: np.ones((2, 2))})


def test_split_needing_other_sizes_names_the_fix(graph):
    x = tf.placeholder(tf.float32, [None, None])
    with pytest.raises(tf.UnsupportedError, match="list of sizes"):
        tf.split(x, 2, 0)
