"""tf.contrib.seq2seq.sequence_loss as TF1's character-RNN tutorials use it (a
dynamic_rnn, a fully_connected projection reshaped to [batch, time, classes]), in both
engines, against a NumPy cross-entropy, in each of TF 1.15's averaging modes."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_ops_check import ENGINES, check_gradient, run

BATCH, STEPS, CLASSES = 2, 4, 5
RNG = np.random.default_rng(3)
LOGITS = RNG.normal(size=(BATCH, STEPS, CLASSES)).astype(np.float32)
TARGETS = RNG.integers(0, CLASSES, size=(BATCH, STEPS)).astype(np.int32)
WEIGHTS = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], np.float32)


def _crossent(logits, targets):
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, targets[..., None], -1)[..., 0]


def _div_no_nan(total, count):
    count = np.asarray(count, np.float64)
    return np.where(count == 0, 0.0, total / np.where(count == 0, 1.0, count))


MODES = {  # the last step has weight 0 in both sequences: its average is 0, not NaN
    "mean": ({}, lambda c, w: _div_no_nan((c * w).sum(), w.sum())),
    "per_step": ({"average_across_timesteps": False},
                 lambda c, w: _div_no_nan((c * w).sum(0), w.sum(0))),
    "per_sequence": ({"average_across_batch": False},
                     lambda c, w: _div_no_nan((c * w).sum(1), w.sum(1))),
    "summed": ({"average_across_timesteps": False, "average_across_batch": False,
                "sum_over_timesteps": True, "sum_over_batch": True},
               lambda c, w: _div_no_nan((c * w).sum(), np.count_nonzero(w))),
    "none": ({"average_across_timesteps": False, "average_across_batch": False},
             lambda c, w: c * w),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", sorted(MODES))
def test_sequence_loss_modes(graph, engine, mode):
    kwargs, expected = MODES[mode]
    logits = tf.placeholder(tf.float32, [None, STEPS, CLASSES])
    targets = tf.placeholder(tf.int32, [None, STEPS])
    loss = tf.contrib.seq2seq.sequence_loss(logits=logits, targets=targets,
                                            weights=tf.constant(WEIGHTS), **kwargs)
    got = run(engine, loss, {logits: LOGITS, targets: TARGETS})
    np.testing.assert_allclose(got, expected(_crossent(LOGITS, TARGETS), WEIGHTS),
                               rtol=1e-5)


def test_sequence_loss_gradient(graph):
    logits = tf.placeholder(tf.float64, [BATCH, STEPS, CLASSES])
    loss = tf.contrib.seq2seq.sequence_loss(logits, tf.constant(TARGETS),
                                            tf.constant(WEIGHTS, tf.float64))
    check_gradient(loss, logits, LOGITS.astype(np.float64))


@pytest.mark.parametrize("engine", ENGINES)
def test_char_rnn_trains_with_sequence_loss(graph, engine):
    tf.set_random_seed(5)
    chars = np.array([[0, 1, 0, 2, 3, 3]])
    x = tf.placeholder(tf.float32, [None, 6, 5])
    y = tf.placeholder(tf.int32, [None, 6])
    cell = tf.contrib.rnn.BasicLSTMCell(num_units=5, state_is_tuple=True)
    outputs, _ = tf.nn.dynamic_rnn(cell, x, initial_state=cell.zero_state(1, tf.float32))
    logits = tf.contrib.layers.fully_connected(tf.reshape(outputs, [-1, 5]), 5,
                                               activation_fn=None)
    logits = tf.reshape(logits, [1, 6, 5])
    loss = tf.reduce_mean(tf.contrib.seq2seq.sequence_loss(logits=logits, targets=y,
                                                           weights=tf.ones([1, 6])))
    train = tf.train.AdamOptimizer(learning_rate=0.1).minimize(loss)
    feeds = {x: np.eye(5, dtype=np.float32)[chars], y: [[1, 0, 2, 3, 3, 4]]}
    with tf.Session(engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        first, logit_values = sess.run([loss, logits], feeds)
        np.testing.assert_allclose(first, _crossent(logit_values, np.array(feeds[y])).mean(),
                                   rtol=1e-5)
        losses = [sess.run([loss, train], feeds)[0] for _ in range(30)]
    assert losses[-1] < 0.5 * first


def test_sequence_loss_checks_ranks(graph):
    with pytest.raises(tf.ShapeError, match=r"\[batch, time, classes\]"):
        tf.contrib.seq2seq.sequence_loss(tf.zeros([2, 5]), tf.zeros([2], tf.int32),
                                         tf.ones([2]))
    with pytest.raises(tf.UnsupportedNameError, match="tf.contrib.seq2seq.BasicDecoder"):
        tf.contrib.seq2seq.BasicDecoder  # noqa: B018
