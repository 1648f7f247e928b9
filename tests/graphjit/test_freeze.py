"""Training graph -> inference graph: freeze() and convert_variables_to_constants keep
what the outputs need, with the trained values as constants, and nothing of training."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf

TRAINING_OP_TYPES = {"VariableV2", "Assign", "NoOp"}


def _trained_classifier(steps=5):
    rng = np.random.default_rng(1)
    x_data = rng.standard_normal((40, 4)).astype(np.float32)
    labels = (x_data[:, 0] + x_data[:, 1] > 0).astype(np.int32)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(3)
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        y = tf.placeholder(tf.int32, [None], name="y")
        with tf.name_scope("hidden"):
            w1 = tf.Variable(tf.glorot_uniform_initializer()([4, 8]), name="w")
            b1 = tf.Variable(tf.zeros([8]), name="b")
            h = tf.nn.relu(tf.matmul(x, w1) + b1)
        w2 = tf.Variable(tf.glorot_uniform_initializer()([8, 2]), name="w2")
        logits = tf.matmul(h, w2)
        probs = tf.nn.softmax(logits, name="probs")
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.AdamOptimizer(0.05).minimize(
            loss, global_step=tf.train.create_global_step())
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph)
    sess.run(init)
    for _ in range(steps):
        sess.run(train, {x: x_data, y: labels})
    return sess, x, probs, x_data


def test_freeze_keeps_only_inference_with_trained_values():
    sess, x, probs, x_data = _trained_classifier()
    with sess:
        expected = sess.run(probs, {x: x_data})
        frozen, fetched = tf.freeze(sess, {"probs": probs})
        types = {op.type for op in frozen.get_operations()}
        names = {op.name for op in frozen.get_operations()}
        assert not types & TRAINING_OP_TYPES
        assert not any(n.startswith(("gradients", "Adam")) or "/Adam" in n for n in names)
        assert {"x", "probs", "hidden/w", "hidden/b", "w2"} <= names  # same names
        assert frozen.get_operation_by_name("hidden/w").type == "Const"
        assert frozen.get_collection(tf.GraphKeys.GLOBAL_VARIABLES) == []
        out = fetched["probs"]
        assert out.graph is frozen and out.name == "probs:0"
        # the frozen graph runs without initialization, compiled or in a session
        np.testing.assert_allclose(tf.compile(out)(x_data), expected, rtol=1e-5, atol=1e-6)
        with tf.Session(graph=frozen) as inference:
            np.testing.assert_allclose(inference.run("probs:0", {"x:0": x_data}), expected,
                                       rtol=1e-5, atol=1e-6)
        # training on does not change what was frozen
        hidden_w = frozen.get_operation_by_name("hidden/w").attrs["value"].copy()
        sess.run(sess.graph.get_tensor_by_name("hidden/w:0").assign_add(tf.ones([4, 8])))
        np.testing.assert_array_equal(frozen.get_operation_by_name("hidden/w").attrs["value"],
                                      hidden_w)


def test_convert_variables_to_constants_by_output_names():
    sess, x, probs, x_data = _trained_classifier(steps=2)
    with sess:
        expected = sess.run(probs, {x: x_data})
        frozen = tf.graph_util.convert_variables_to_constants(sess, sess.graph, ["probs"])
    assert not {op.type for op in frozen.get_operations()} & TRAINING_OP_TYPES
    fn = tf.compile(frozen, fetches="probs:0")
    np.testing.assert_allclose(fn(x=x_data), expected, rtol=1e-5, atol=1e-6)


def test_freeze_errors():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.ones(3, np.float32), name="w")
        y = w * 2
        update = w.assign(y)
    with tf.Session(graph=graph) as sess:
        with pytest.raises(tf.FailedPreconditionError, match="'w'"):
            tf.freeze(sess, y)
        sess.run(w.initializer)
        with pytest.raises(tf.UnsupportedError, match="assigns"):
            tf.freeze(sess, update)
        frozen, value = tf.freeze(sess, update.op.inputs[1])  # the value, not the update
        np.testing.assert_array_equal(tf.compile(value)(), [2, 2, 2])
