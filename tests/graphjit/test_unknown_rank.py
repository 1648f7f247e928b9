"""Placeholders made without a shape (`tf.placeholder("float")`, TF1's default): their
rank is known only when a value is fed, and the graph is specialized to each fed rank
before it runs (graphjit.specialize). Each program runs on both engines; numbers are
checked against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line

ENGINES = ["reference", "compiled"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def test_a_placeholder_without_a_shape_has_unknown_rank():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32)
        assert x.shape.rank is None and x.shape.ndims is None and str(x.shape) == "<unknown>"
        assert not x.shape.is_fully_defined() and x.shape.num_elements() is None
        assert x.shape.is_compatible_with([2, 3]) and tf.TensorShape(None) == x.shape
        assert x.shape != tf.TensorShape([]) and (x * 2.0).shape.rank is None
        with pytest.raises(tf.UnknownRankError, match="as_list"):
            x.shape.as_list()
        with pytest.raises(tf.UnknownRankError):
            len(x.shape)  # never passes for a scalar's empty tuple
        assert tf.reduce_sum(x).shape == ()  # over every axis: a scalar whatever the rank
        assert tf.reduce_sum(x, 1).shape.rank is None
        assert tf.shape(x).shape == (None,) and tf.reshape(x, [-1, 2]).shape == (None, 2)


def test_linear_regression_feeding_scalars_then_vectors(engine):
    """TensorFlow-Examples' linear regression: X and Y are fed one sample (scalars) per
    training step and the whole set (vectors) to evaluate the cost."""
    xs = np.array([3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182], np.float32)
    ys = np.array([1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596], np.float32)
    with tf.Graph().as_default():
        X = tf.placeholder("float")
        Y = tf.placeholder("float")
        W = tf.Variable(0.3, name="weight")
        b = tf.Variable(-0.2, name="bias")
        pred = tf.add(tf.multiply(X, W), b)
        cost = tf.reduce_sum(tf.pow(pred - Y, 2)) / (2 * len(xs))
        optimizer = tf.train.GradientDescentOptimizer(0.01).minimize(cost)
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                for x, y in zip(xs, ys):
                    sess.run(optimizer, feed_dict={X: x, Y: y})
            final = sess.run([cost, W, b], feed_dict={X: xs, Y: ys})
            on_a_matrix = sess.run(pred, feed_dict={X: xs.reshape(2, 4)})
    w, c = np.float32(0.3), np.float32(-0.2)
    for _ in range(3):
        for x, y in zip(xs, ys):
            error = (x * w + c - y) / len(xs)  # d cost / d pred for one sample
            w, c = w - np.float32(0.01) * error * x, c - np.float32(0.01) * error
    np.testing.assert_allclose(final[1:], [w, c], rtol=1e-5)
    np.testing.assert_allclose(final[0], np.sum((xs * w + c - ys) ** 2) / (2 * len(xs)),
                               rtol=1e-5)
    np.testing.assert_allclose(on_a_matrix, xs.reshape(2, 4) * w + c, rtol=1e-5)


def test_classifier_whose_inputs_have_no_shape(engine):
    """x and y made without shapes flow through matmul, softmax, a cross entropy, argmax
    and a gradient step, as in the oldest MNIST tutorials."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(12, 4)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]
    with tf.Graph().as_default():
        x, y = tf.placeholder("float"), tf.placeholder("float")
        W = tf.Variable(tf.zeros([4, 3]))
        b = tf.Variable(tf.zeros([3]))
        logits = tf.matmul(x, W) + b
        pred = tf.nn.softmax(logits)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        correct = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
        accuracy = tf.reduce_mean(tf.cast(correct, "float"))
        assert loss.shape == () and accuracy.shape == ()
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(5):
                sess.run(step, {x: inputs, y: labels})
            probs, acc, weights, bias = sess.run([pred, accuracy, W, b],
                                                 {x: inputs, y: labels})
    w, c = np.zeros((4, 3), np.float32), np.zeros(3, np.float32)
    for _ in range(5):
        z = inputs @ w + c
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        d = (p - labels) / len(inputs)
        w, c = w - 0.5 * inputs.T @ d, c - 0.5 * d.sum(0)
    np.testing.assert_allclose(weights, w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bias, c, rtol=1e-4, atol=1e-6)
    z = inputs @ w + c
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    assert acc == pytest.approx(np.mean(expected.argmax(1) == labels.argmax(1)))


def test_keep_prob_and_is_training_without_shapes(engine):
    """keep_prob and is_training as tutorials make them: tf.nn.dropout, batch
    normalization's training= and tf.cond take them as the scalars they are fed."""
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(8, 4)).astype(np.float32)
    with tf.Graph().as_default():
        tf.set_random_seed(3)
        x = tf.placeholder(tf.float32, [None, 4])
        keep_prob = tf.placeholder(tf.float32)
        is_training = tf.placeholder(tf.bool)
        h = tf.nn.dropout(tf.layers.dense(x, 5, activation=tf.nn.relu), keep_prob)
        h = tf.layers.batch_normalization(h, training=is_training)
        logits = tf.layers.dense(h, 3)  # needs h's last dim: dropout kept it
        doubled = tf.cond(is_training, lambda: logits * 2.0, lambda: logits)
        assert h.shape == (None, 5) and doubled.shape == (None, 3)
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            test = sess.run(logits, {x: inputs, keep_prob: 1.0, is_training: False})
            both = sess.run([logits, doubled], {x: inputs, keep_prob: 1.0, is_training: True})
            halved = sess.run(h, {x: inputs, keep_prob: 0.5, is_training: False})
            kernel, bias = sess.run(tf.trainable_variables()[:2])
    np.testing.assert_allclose(both[1], 2 * both[0], rtol=1e-6)
    kept = np.maximum(inputs @ kernel + bias, 0)
    # Not training: the moving statistics (0 and 1) normalize: h = kept / sqrt(1 + eps).
    np.testing.assert_allclose(halved[halved != 0], (2 * kept / np.sqrt(1.001))[halved != 0],
                               rtol=1e-5)
    assert test.shape == (8, 3)


def test_one_compiled_function_for_several_ranks():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, name="x")
        total = tf.reduce_sum(x * 2.0)
        line = caller_line(); last = tf.reduce_max(x, axis=-1)  # noqa: E702
        fn = tf.compile([total, last])
        fn_total = tf.compile(total)
    for shape in [(3,), (2, 3), (2, 1, 3), (2, 3)]:  # the last reuses its specialization
        value = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        got_total, got_last = fn(value)
        assert got_total == pytest.approx(2 * value.sum())
        np.testing.assert_array_equal(got_last, value.max(-1))
    assert fn_total(np.float32(4.0)) == 8.0
    with pytest.raises(tf.ShapeError) as info:
        fn(np.float32(4.0))  # axis -1 of a scalar: as TF, an error
    assert_points_here(info, "Max", "axis", line=line)


def test_a_fed_value_that_breaks_what_the_graph_was_built_for(engine):
    """keep_prob is a scalar to dropout: a vector fed for it fails naming the user's line."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        keep_prob = tf.placeholder(tf.float32)
        line = caller_line(); h = tf.nn.dropout(x, keep_prob)  # noqa: E702
        with tf.Session(engine=engine) as sess, pytest.raises(tf.ShapeError) as info:
            sess.run(h, {x: np.ones((2, 3)), keep_prob: [0.5, 0.5]})
    assert_points_here(info, "keep_prob", "float32[?]", line=line)


def test_unfed_placeholder_without_shape(engine):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, name="x")
        y = tf.placeholder(tf.float32, name="y")
        total = x + y
        with tf.Session(engine=engine) as sess, pytest.raises(tf.FeedError, match="'y'"):
            sess.run(total, {x: 1.0})


def test_code_that_needs_the_rank_says_so():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32)
        with pytest.raises(tf.UnknownRankError) as info:
            line = caller_line(); tf.transpose(x)  # noqa: E702
        assert_points_here(info, "transpose", "shape=[None, 784]", line=line)
        with pytest.raises(tf.UnknownRankError, match="rank of this tensor is unknown"):
            tf.layers.dense(x, 3)  # as TF: Dense needs the inputs' last dim


def test_save_load_and_optimize_keep_unknown_ranks(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, name="x")
        y = tf.nn.softmax(x * (tf.constant(2.0) * 3.0), name="y")
        total = tf.reduce_sum(tf.nn.dropout(x, 1.0) * 1.0, name="total")
        index = tf.argmax(x, 1, name="index")
    optimized, _ = tf.optimize(graph, [y, total, index])
    assert optimized.get_tensor_by_name("y:0").shape.rank is None
    tf.save(graph, tmp_path / "model.gjz", fetches=[y, total, index])
    loaded = tf.load(tmp_path / "model.gjz")
    assert loaded.graph.get_tensor_by_name("x:0").shape.rank is None
    fn = tf.compile(loaded.graph, fetches=["y:0", "total:0", "index:0"])
    value = np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
    probs, got_total, got_index = fn(value)
    e = np.exp(6 * value - (6 * value).max(1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True), rtol=1e-5)
    assert got_total == pytest.approx(value.sum())
    np.testing.assert_array_equal(got_index, [1, 0])


def test_onnx_export_needs_ranks():
    pytest.importorskip("onnx")
    from graphjit.onnx import export
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, name="x")
        y = tf.nn.relu(x)
    with pytest.raises(tf.UnsupportedError, match="Placeholder 'x'.*rank"):
        export(graph, fetches=[y])


def test_inspecting_a_function_specialized_per_rank():
    """fn.ir/kernels/profile/explain/memory/report/repr speak of the specialization the
    example inputs pick, else of the one called last; before any, they say so."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, name="x")
        fn = tf.compile(tf.nn.relu(x * 2.0))
    assert "not called yet" in repr(fn) and "not called yet" in fn._repr_html_()
    with pytest.raises(tf.UnsupportedError, match="call it first"):
        fn.explain()
    vector, matrix = np.ones(3, np.float32), np.ones((2, 3), np.float32)
    assert "for i0" in fn.ir("loops", vector) and "for i1" in fn.ir("loops", matrix)
    assert fn.profile(matrix, repeat=2).calls == 2
    fn(matrix)
    assert [k.name for k in fn.kernels] == ["fused_mul_relu"]
    assert "float32[2,3]" in repr(fn) and fn.memory()["planned_peak_bytes"] >= 0
    assert "fused_mul_relu" in fn.report(None, vector)
