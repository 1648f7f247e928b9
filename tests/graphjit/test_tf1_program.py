"""A TF1 program mixing what tutorials combine: "float" placeholders, a variable scope
with tf.layers (dense, batch normalization with its UPDATE_OPS, dropout fed keep_prob),
tf.losses, RMSProp under the update dependencies, a merged summary, an
InteractiveSession with .run()/.eval(). Each piece has its own exact tests; this one
checks they work together (it found slots waiting on the batch-norm updates)."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf


@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_a_tutorial_style_program_trains(engine):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((128, 6)).astype(np.float32)
    labels = (data[:, 0] + data[:, 1] > 0).astype(np.int64)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(7)  # initial weights and dropout masks, the same every run
        x = tf.placeholder("float", [None, 6])
        y = tf.placeholder(tf.int64, [None])
        keep_prob = tf.placeholder(tf.float32)  # no shape, as tutorials write it
        training = tf.placeholder(tf.bool)
        with tf.variable_scope("model"):
            h = tf.layers.dense(x, 16, activation=tf.nn.relu)
            h = tf.layers.batch_normalization(h, training=training)
            logits = tf.layers.dense(tf.nn.dropout(h, keep_prob), 2)
        loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
        correct = tf.equal(tf.argmax(logits, 1), y)
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
        with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
            train = tf.train.RMSPropOptimizer(0.01).minimize(loss)
        tf.summary.scalar("loss", loss)
        merged = tf.summary.merge_all()
        sess = tf.InteractiveSession(engine=engine)
    try:
        assert x.dtype == tf.float32
        tf.global_variables_initializer().run()
        test = {x: data, y: labels, keep_prob: 1.0, training: False}
        before = loss.eval(test)
        for _ in range(60):
            summary, _ = sess.run([merged, train],
                                  {x: data, y: labels, keep_prob: 0.9, training: True})
        assert isinstance(summary, bytes) and b"loss" in summary
        assert loss.eval(test) < before * 0.7
        # (test mode normalizes with moving averages still 1 - 0.99**60 of the way there)
        assert accuracy.eval(test) > 0.9
        moving = graph.get_tensor_by_name("model/batch_normalization/moving_mean:0")
        assert np.abs(moving.eval()).max() > 0  # the updates ran with the train op
    finally:
        sess.close()
