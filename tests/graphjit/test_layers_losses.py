"""tf.layers and tf.losses as TF 1.15's (issue #13): TF1 tutorial programs (a CNN trained
with Adam on sparse_softmax_cross_entropy, an MLP with batch normalization and its
UPDATE_OPS), variable names and shapes as TF's, each layer and loss against NumPy,
on both engines."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line

ENGINES = ["reference", "compiled"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def _data(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def _names(variables) -> list[tuple[str, tuple]]:
    return [(v.name, tuple(v.shape)) for v in variables]


# -- NumPy references ------------------------------------------------------------------

def _conv_same(x, k):
    """Stride-1 SAME convolution, NHWC x HWIO, odd square kernels."""
    p = k.shape[0] // 2
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    out = np.zeros(x.shape[:3] + (k.shape[3],), np.float64)
    for a in range(k.shape[0]):
        for b in range(k.shape[1]):
            out += padded[:, a:a + x.shape[1], b:b + x.shape[2], :] @ k[a, b]
    return out


def _pool(x, reduce):
    """2x2 windows moved by 2, VALID."""
    n, h, w, c = x.shape
    windows = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    return reduce(windows, axis=(2, 4))


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


# -- tutorial programs ----------------------------------------------------------------

def test_cnn_tutorial_trains_with_adam(engine):
    """The TF1 layers tutorial's CNN on small random images: conv2d, max_pooling2d,
    flatten, dense, dropout in training only, sparse_softmax_cross_entropy, Adam."""
    images, labels = _data(16, 8, 8, 1), np.random.default_rng(1).integers(0, 3, 16)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 8, 8, 1])
        y = tf.placeholder(tf.int32, [None])
        training = tf.placeholder(tf.bool, [])
        conv1 = tf.layers.conv2d(x, 4, [3, 3], padding="same", activation=tf.nn.relu)
        pool1 = tf.layers.max_pooling2d(conv1, pool_size=[2, 2], strides=2)
        conv2 = tf.layers.conv2d(pool1, 8, 3, padding="same", activation=tf.nn.relu)
        pool2 = tf.layers.max_pooling2d(conv2, 2, 2)
        flat = tf.layers.flatten(pool2)
        dense = tf.layers.dense(flat, 16, activation=tf.nn.relu)
        dropped = tf.layers.dropout(dense, rate=0.4, training=training)
        logits = tf.layers.dense(dropped, 3)
        loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
        train_op = tf.train.AdamOptimizer(0.01).minimize(loss)
        assert _names(tf.trainable_variables()) == [
            ("conv2d/kernel:0", (3, 3, 1, 4)), ("conv2d/bias:0", (4,)),
            ("conv2d_1/kernel:0", (3, 3, 4, 8)), ("conv2d_1/bias:0", (8,)),
            ("dense/kernel:0", (32, 16)), ("dense/bias:0", (16,)),
            ("dense_1/kernel:0", (16, 3)), ("dense_1/bias:0", (3,))]
        assert [conv1.name, pool1.name, flat.name, dense.name, logits.name] == [
            "conv2d/Relu:0", "max_pooling2d/MaxPool:0", "flatten/Reshape:0", "dense/Relu:0",
            "dense_1/BiasAdd:0"]
        assert tf.get_collection(tf.GraphKeys.LOSSES) == [loss]
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            test_feed = {x: images, y: labels, training: False}
            first = sess.run(loss, test_feed)
            for _ in range(15):
                sess.run(train_op, {x: images, y: labels, training: True})
            last, out, values = sess.run([loss, logits, tf.trainable_variables()], test_feed)
    k1, b1, k2, b2, w1, c1, w2, c2 = values
    h = _pool(np.maximum(_conv_same(images, k1) + b1, 0), np.max)
    h = _pool(np.maximum(_conv_same(h, k2) + b2, 0), np.max).reshape(16, -1)
    expected = np.maximum(h @ w1 + c1, 0) @ w2 + c2
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(last, -_log_softmax(expected)[np.arange(16), labels].mean(),
                               rtol=1e-5)
    assert last < first


def _mlp_with_batch_norm(momentum=0.9):
    x = tf.placeholder(tf.float32, [None, 5])
    y = tf.placeholder(tf.int32, [None])
    is_training = tf.placeholder(tf.bool)  # no shape: a scalar once fed
    hidden = tf.layers.dense(x, 6)
    normed = tf.layers.batch_normalization(hidden, momentum=momentum, training=is_training)
    logits = tf.layers.dense(tf.nn.relu(normed), 3)
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    return x, y, is_training, hidden, normed, loss


def test_batch_norm_mlp_moving_averages_follow_numpy(engine):
    """The TF1 batch-norm recipe: the train op runs under the UPDATE_OPS control
    dependency, so each step moves moving_mean/variance toward the batch's statistics
    (biased variance); with is_training False the layer uses the moving averages."""
    inputs, labels = _data(12, 5) * 3 + 1, np.random.default_rng(1).integers(0, 3, 12)
    with tf.Graph().as_default():
        x, y, is_training, hidden, normed, loss = _mlp_with_batch_norm()
        update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        assert [t.name for t in update_ops] == ["batch_normalization/AssignMovingAvg:0",
                                                "batch_normalization/AssignMovingAvg_1:0"]
        with tf.control_dependencies(update_ops):
            train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        assert _names(tf.global_variables()) == [
            ("dense/kernel:0", (5, 6)), ("dense/bias:0", (6,)),
            ("batch_normalization/gamma:0", (6,)), ("batch_normalization/beta:0", (6,)),
            ("batch_normalization/moving_mean:0", (6,)),
            ("batch_normalization/moving_variance:0", (6,)),
            ("dense_1/kernel:0", (6, 3)), ("dense_1/bias:0", (3,))]
        assert [v.op.name.split("/")[-1] for v in tf.trainable_variables()] == [
            "kernel", "bias", "gamma", "beta", "kernel", "bias"]
        moving = tf.global_variables()[4:6]
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            mean, var = np.zeros(6), np.ones(6)
            for step in range(4):
                batch = slice(3 * step, 3 * step + 6)
                feed = {x: inputs[batch], y: labels[batch], is_training: True}
                _, h, out, (gamma, beta) = sess.run(
                    [train_op, hidden, normed, tf.trainable_variables()[2:4]], feed)
                mean -= (mean - h.mean(0)) * (1 - 0.9)
                var -= (var - h.var(0)) * (1 - 0.9)
                np.testing.assert_allclose(
                    out, (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-3) * gamma + beta,
                    rtol=1e-4, atol=1e-4)
                if step == 0:
                    np.testing.assert_allclose(sess.run(moving), [mean, var], rtol=1e-5)
            got_mean, got_var = sess.run(moving)
            np.testing.assert_allclose(got_mean, mean, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got_var, var, rtol=1e-5)
            # Not training: the moving averages normalize, and the updates leave them.
            feed = {x: inputs, is_training: False}
            h, out, gamma, beta = sess.run([hidden, normed] + tf.trainable_variables()[2:4],
                                           feed)
            sess.run(update_ops, feed)
            np.testing.assert_allclose(sess.run(moving), [got_mean, got_var], rtol=1e-6)
            np.testing.assert_allclose(out, (h - mean) / np.sqrt(var + 1e-3) * gamma + beta,
                                       rtol=1e-4, atol=1e-5)


def test_batch_norm_updates_only_run_when_asked(engine):
    """A train op built without the UPDATE_OPS dependency leaves the moving averages."""
    with tf.Graph().as_default():
        x, y, is_training, _, _, loss = _mlp_with_batch_norm()
        train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(train_op, {x: _data(4, 5), y: [0, 1, 2, 0], is_training: True})
            mean, var = sess.run(tf.global_variables()[4:6])
    np.testing.assert_array_equal(mean, np.zeros(6))
    np.testing.assert_array_equal(var, np.ones(6))


def test_batch_norm_on_images_takes_the_fused_kernels_arithmetic(engine):
    """4-D inputs over the channels: the moving variance moves toward the batch variance
    with Bessel's correction, as TF's fused kernel; the output uses the biased one."""
    images = _data(2, 3, 3, 2) * 2 + 0.5
    with tf.Graph().as_default():
        x = tf.constant(images)
        out = tf.layers.batch_normalization(x, training=True, epsilon=1e-6)
        unfused = tf.layers.batch_normalization(x, training=True, fused=False)
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            result, _ = sess.run([out, tf.get_collection(tf.GraphKeys.UPDATE_OPS)])
            variances = sess.run([v for v in tf.global_variables()
                                  if v.op.name.endswith("moving_variance")])
        assert unfused.op.name.startswith("batch_normalization_1/")
    flat = images.reshape(-1, 2)
    n = flat.shape[0]
    np.testing.assert_allclose(result, (images - flat.mean(0)) / np.sqrt(flat.var(0) + 1.001e-5),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(variances[0], 0.99 + 0.01 * flat.var(0) * n / (n - 1), rtol=1e-6)
    np.testing.assert_allclose(variances[1], 0.99 + 0.01 * flat.var(0), rtol=1e-6)


def test_batch_norm_over_a_middle_axis(engine):
    """axis=1 of 3-D inputs: statistics over axes 0 and 2, the variables broadcast."""
    values = _data(4, 3, 5) * 2 + 1
    with tf.Graph().as_default():
        out = tf.layers.batch_normalization(tf.constant(values), axis=1, training=True,
                                            beta_initializer=tf.constant_initializer(0.5))
        assert [v.shape for v in tf.global_variables()] == [(3,)] * 4
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run(out)
    mean, var = values.mean((0, 2), keepdims=True), values.var((0, 2), keepdims=True)
    np.testing.assert_allclose(got, (values - mean) / np.sqrt(var + 1e-3) + 0.5, rtol=1e-4,
                               atol=1e-5)


# -- names, sharing and initializers -----------------------------------------------------

def test_layer_names_uniquify_nest_and_share_as_tfs():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4])
        a = tf.layers.dense(x, 3)
        b = tf.layers.dense(x, 3)
        with tf.variable_scope("model"):
            c = tf.layers.dense(x, 2, activation=tf.nn.relu)
            tf.layers.batch_normalization(c)
        shared = tf.layers.dense(x, 3, name="dense", reuse=True)
        named = tf.layers.dense(x, 3, name="fc")

        def tower(inputs):
            return tf.layers.dense(inputs, 3, name="tower", reuse=tf.AUTO_REUSE)
        tower(x), tower(x)
        assert [v.op.name for v in tf.global_variables()] == [
            "dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias",
            "model/dense/kernel", "model/dense/bias", "model/batch_normalization/gamma",
            "model/batch_normalization/beta", "model/batch_normalization/moving_mean",
            "model/batch_normalization/moving_variance", "fc/kernel", "fc/bias",
            "tower/kernel", "tower/bias"]
        assert [a.name, b.name, c.name, shared.name] == [
            "dense/BiasAdd:0", "dense_1/BiasAdd:0", "model/dense/Relu:0", "dense_2/BiasAdd:0"]
        assert shared.op.inputs[0].op.inputs[1] is a.op.inputs[0].op.inputs[1]  # the kernel
        assert named.name == "fc/BiasAdd:0"
        with pytest.raises(tf.VariableError) as info:  # TF's wording, from get_variable
            line = caller_line(); tf.layers.dense(x, 3, name="fc")  # noqa: E702
    assert_points_here(info, "Variable fc/kernel already exists", line=line)


def test_default_initializers_are_tfs():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 30, 30, 3])
        conv = tf.layers.conv2d(x, 16, 5, use_bias=False)
        bn = tf.layers.batch_normalization(conv, training=False)
        out = tf.layers.dense(tf.layers.flatten(tf.layers.max_pooling2d(bn, 26, 26)), 20)
        with tf.variable_scope("scoped", initializer=tf.constant_initializer(0.5)):
            scoped = tf.layers.dense(x, 2)
        assert out.shape.as_list() == [None, 20] and scoped.shape.as_list() == [None, 30, 30, 2]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            values = dict(zip([v.op.name for v in tf.global_variables()],
                              sess.run(tf.global_variables())))
    kernel, limit = values["conv2d/kernel"], math.sqrt(6 / (5 * 5 * 3 + 5 * 5 * 16))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert np.abs(values["dense/kernel"]).max() <= math.sqrt(6 / (16 + 20))
    assert "conv2d/bias" not in values and not values["dense/bias"].any()
    for name, fill in [("gamma", 1), ("beta", 0), ("moving_mean", 0), ("moving_variance", 1)]:
        np.testing.assert_array_equal(values["batch_normalization/" + name], np.full(16, fill))
    np.testing.assert_array_equal(values["scoped/dense/kernel"], np.full((3, 2), 0.5))
    np.testing.assert_array_equal(values["scoped/dense/bias"], np.zeros(2))


def test_regularizers_feed_the_total_loss(engine):
    with tf.Graph().as_default():
        x = tf.constant(_data(4, 3))
        out = tf.layers.dense(x, 2, kernel_initializer=tf.constant_initializer(0.5),
                              kernel_regularizer=lambda w: 0.1 * tf.reduce_sum(tf.square(w)))
        mse = tf.losses.mean_squared_error(tf.zeros_like(out), out)
        assert len(tf.losses.get_regularization_losses()) == 1
        total = tf.losses.get_total_loss()
        without = tf.losses.get_total_loss(add_regularization_losses=False, name="plain")
        assert total.name == "total_loss:0"
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run([mse, tf.losses.get_regularization_loss(), total, without])
    np.testing.assert_allclose(got[1], 0.1 * 6 * 0.25, rtol=1e-6)
    np.testing.assert_allclose(got[2], got[0] + got[1], rtol=1e-6)
    assert got[3] == got[0]


# -- each layer against NumPy -----------------------------------------------------------

def test_pooling_flatten_and_rank3_dense(engine):
    images = _data(2, 5, 4, 3)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 5, 4, 3])
        pooled = [tf.layers.max_pooling2d(x, 2, 2), tf.layers.average_pooling2d(x, (2, 2), 2)]
        same = tf.layers.max_pooling2d(x, 2, 2, padding="SAME")
        flat = tf.layers.flatten(x)
        seq = tf.layers.dense(tf.reshape(x, [-1, 20, 3]), 4, use_bias=False)
        assert [p.name for p in pooled] == ["max_pooling2d/MaxPool:0",
                                            "average_pooling2d/AvgPool:0"]
        assert same.shape.as_list() == [None, 3, 2, 3] and flat.shape.as_list() == [None, 60]
        assert seq.shape.as_list() == [None, 20, 4]
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            mx, avg, fl, out, kernel = sess.run(pooled + [flat, seq, tf.global_variables()[0]],
                                                {x: images})
    np.testing.assert_allclose(mx, _pool(images, np.max))
    np.testing.assert_allclose(avg, _pool(images, np.mean), rtol=1e-6)
    np.testing.assert_array_equal(fl, images.reshape(2, -1))
    np.testing.assert_allclose(out, images.reshape(2, 20, 3) @ kernel, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding, kernel_size", [("valid", 3), ("same", 3), ("valid", 1)])
def test_conv2d_transpose_scatters_each_input_through_the_kernel(engine, padding, kernel_size):
    """Each input cell adds kernel * value at stride-spaced places; 'same' crops as TF."""
    inputs = _data(2, 3, 4, 2)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3, 4, 2])
        out = tf.layers.conv2d_transpose(x, 5, kernel_size, strides=2, padding=padding,
                                         bias_initializer=tf.constant_initializer(0.25))
        (kernel, _), k = tf.global_variables(), kernel_size
        size = (3 * 2 + max(k - 2, 0), 4 * 2 + max(k - 2, 0)) if padding == "valid" else (6, 8)
        assert kernel.op.name == "conv2d_transpose/kernel" and kernel.shape == (k, k, 5, 2)
        assert out.shape.as_list() == [None, *size, 5]
        weights = _data(2, *size, 5, seed=2)
        gradients = tf.gradients(tf.reduce_sum(out * weights), [x, kernel])
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            got, kv, (dx, dk) = sess.run([out, kernel, gradients], {x: inputs})
    full, top = np.zeros((2, 2 * 3 + k, 2 * 4 + k, 5)), max(k - 2, 0) // 2
    top = top if padding == "same" else 0
    for i in range(3):
        for j in range(4):
            full[:, 2 * i:2 * i + k, 2 * j:2 * j + k] += np.einsum("nc,abfc->nabf",
                                                                  inputs[:, i, j], kv)
    expected = full[:, top:top + size[0], top:top + size[1]] + 0.25
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # The adjoint: each input cell gathers the weights at the places it was added to.
    placed = np.zeros_like(full)
    placed[:, top:top + size[0], top:top + size[1]] = weights
    taps = np.stack([np.stack([placed[:, 2 * i:2 * i + k, 2 * j:2 * j + k] for j in range(4)],
                              1) for i in range(3)], 1)  # [n, i, j, a, b, f]
    np.testing.assert_allclose(dx, np.einsum("nijabf,abfc->nijc", taps, kv), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(dk, np.einsum("nijabf,nijc->abfc", taps, inputs), rtol=1e-4,
                               atol=1e-5)


def test_nn_conv2d_transpose_is_conv2d_gradient_with_a_run_time_batch(engine):
    inputs, filters = _data(3, 2, 2, 4), _data(3, 3, 5, 4, seed=1)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2, 2, 4])
        out = tf.nn.conv2d_transpose(x, filters, [tf.shape(x)[0], 4, 4, 5], strides=[1, 2, 2, 1],
                                     padding="SAME")
        image = tf.placeholder(tf.float32, [None, 4, 4, 5])
        (grad,) = tf.gradients(tf.nn.conv2d(image, filters, [1, 2, 2, 1], "SAME"), [image],
                               grad_ys=x)
        assert out.shape.as_list() == [None, 4, 4, 5]
        with pytest.raises(tf.ShapeError) as info:
            line = caller_line(); tf.nn.conv2d_transpose(x, filters, [3, 5, 5, 5], strides=2)  # noqa: E501,E702
        assert_points_here(info, "conv2d_transpose", "output_shape [3, 5, 5, 5]", line=line)
        with tf.Session(engine=engine) as sess:
            got, expected = sess.run([out, grad], {x: inputs, image: np.zeros((3, 4, 4, 5))})
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_dropout_layer_training_switch(engine):
    values = np.ones((200, 50), np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 50])
        training = tf.placeholder(tf.bool, [])
        off = tf.layers.dropout(x, rate=0.3)
        on = tf.layers.dropout(x, rate=0.3, training=True)
        switched = tf.layers.dropout(x, rate=0.3, training=training)
        shared = tf.layers.dropout(x, 0.5, noise_shape=[None, 1], training=True)
        assert off.name == "dropout/Identity:0" and switched.op.name.startswith("dropout_2/")
        with tf.Session(engine=engine) as sess:
            feed = {x: values, training: False}
            a, b, c, d = sess.run([off, on, switched, shared], feed)
            e = sess.run(switched, {x: values, training: True})
    np.testing.assert_array_equal(a, values)
    np.testing.assert_array_equal(c, values)
    for dropped in (b, e):
        assert set(np.unique(dropped)) == {0.0, np.float32(1 / 0.7)}
        assert 0.65 < np.count_nonzero(dropped) / dropped.size < 0.75
    assert all(len(set(row)) == 1 for row in d)  # one draw per row


# -- each loss against NumPy ---------------------------------------------------------------

def _reduce(losses, weights, reduction="weighted_sum_by_nonzero_weights"):
    weighted = losses * weights
    if reduction == "none":
        return weighted
    if reduction == "weighted_sum":
        return weighted.sum()
    count = {"weighted_sum_by_nonzero_weights": np.count_nonzero(
                 np.broadcast_to(weights, losses.shape)),
             "weighted_mean": np.broadcast_to(weights, losses.shape).sum(),
             "weighted_sum_over_batch_size": losses.size}[reduction]
    return weighted.sum() / count if count else 0.0


def _softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def test_each_loss_against_numpy_with_weights(engine):
    rng = np.random.default_rng(3)
    y, p = rng.random((6, 3)).astype(np.float32), rng.random((6, 3)).astype(np.float32)
    hot, logits = (y > 0.5).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    classes = np.array([0, 2, 1, 1, 0, 2])
    w_rows, w_full = np.array([[1.0], [0.0], [2.0], [0.0], [1.0], [3.0]], np.float32), \
        rng.integers(0, 3, (6, 3)).astype(np.float32)
    e = np.abs(p * 3 - y)
    cases = {  # name: (build, per-element losses, weights)
        "mse": (lambda: tf.losses.mean_squared_error(y, p, weights=w_rows), (p - y) ** 2,
                w_rows),
        "abs": (lambda: tf.losses.absolute_difference(y, p, w_full), np.abs(p - y), w_full),
        "huber": (lambda: tf.losses.huber_loss(y, p * 3, w_rows, delta=0.5),
                  0.5 * np.minimum(e, 0.5) ** 2 + 0.5 * (e - np.minimum(e, 0.5)), w_rows),
        "log": (lambda: tf.losses.log_loss(hot, p, 2.0),
                -hot * np.log(p + 1e-7) - (1 - hot) * np.log(1 - p + 1e-7), 2.0),
        "hinge": (lambda: tf.losses.hinge_loss(hot, logits),
                  np.maximum(1 - (2 * hot - 1) * logits, 0), 1.0),
        "sigmoid": (lambda: tf.losses.sigmoid_cross_entropy(hot, logits, w_full, 0.2),
                    _softplus(logits) - logits * (hot * 0.8 + 0.1), w_full),
        "softmax": (lambda: tf.losses.softmax_cross_entropy(
                        np.eye(3)[classes], logits, w_rows[:, 0], label_smoothing=0.3),
                    -((np.eye(3)[classes] * 0.7 + 0.1) * _log_softmax(logits)).sum(-1),
                    w_rows[:, 0]),
        "sparse": (lambda: tf.losses.sparse_softmax_cross_entropy(classes, logits, w_rows),
                   -_log_softmax(logits)[np.arange(6), classes], w_rows[:, 0]),
        "sparse [N,1] labels": (lambda: tf.losses.sparse_softmax_cross_entropy(
                                    classes[:, None], logits),
                                -_log_softmax(logits)[np.arange(6), classes], 1.0),
        "all weights 0": (lambda: tf.losses.mean_squared_error(y, p, 0.0), (p - y) ** 2, 0.0),
    }
    with tf.Graph().as_default():
        built = {name: build() for name, (build, _, _) in cases.items()}
        assert tf.get_collection(tf.GraphKeys.LOSSES) == list(built.values())
        assert built["softmax"].name == "softmax_cross_entropy_loss/value:0"
        with tf.Session(engine=engine) as sess:
            got = sess.run(built)
    for name, (_, losses, weights) in cases.items():
        np.testing.assert_allclose(got[name], _reduce(losses, weights), rtol=1e-5,
                                   atol=1e-7, err_msg=name)


@pytest.mark.parametrize("reduction", ["none", "weighted_sum", "weighted_mean",
                                       "weighted_sum_over_batch_size",
                                       "weighted_sum_by_nonzero_weights"])
def test_reductions(engine, reduction):
    y, p = _data(4, 3), _data(4, 3, seed=1)
    weights = np.array([[0.5], [0.0], [2.0], [1.0]], np.float32)
    with tf.Graph().as_default():
        labels = tf.placeholder(tf.float32, [None, 3])
        loss = tf.losses.absolute_difference(labels, p, weights, reduction=reduction,
                                             loss_collection=None)
        cosine = tf.losses.cosine_distance(labels, p, axis=1, reduction=reduction)
        assert tf.get_collection(tf.GraphKeys.LOSSES) == [cosine]
        with tf.Session(engine=engine) as sess:
            got, got_cosine = sess.run([loss, cosine], {labels: y})
    np.testing.assert_allclose(got, _reduce(np.abs(p - y), weights, reduction), rtol=1e-5)
    np.testing.assert_allclose(got_cosine, _reduce(1 - (p * y).sum(1, keepdims=True), 1.0,
                                                   reduction), rtol=1e-5, atol=1e-6)


def test_loss_gradient_trains_logistic_regression(engine):
    """sigmoid_cross_entropy's gradient: a separable problem's loss falls each step."""
    inputs = _data(20, 2)
    targets = (inputs[:, :1] + inputs[:, 1:] > 0).astype(np.float32)
    with tf.Graph().as_default():
        logits = tf.layers.dense(tf.constant(inputs), 1)
        loss = tf.losses.sigmoid_cross_entropy(targets, logits)
        train_op = tf.train.GradientDescentOptimizer(1.0).minimize(tf.losses.get_total_loss())
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            history = [sess.run([loss, train_op])[0] for _ in range(5)]
    assert all(b < a for a, b in zip(history, history[1:]))


# -- errors -----------------------------------------------------------------------------

def test_errors_name_the_layer_and_the_users_line():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, None])
        images = tf.placeholder(tf.float32, [None, 8, 8, 3])
        checks = []
        with pytest.raises(tf.ShapeError) as info:
            line = caller_line(); tf.layers.dense(x, 3)  # noqa: E702
        checks.append((info, line, "tf.layers.dense 'dense'", "last dimension"))
        with pytest.raises(tf.UnsupportedError) as info:
            line = caller_line(); tf.layers.conv2d(images, 4, 3, data_format="channels_first")  # noqa: E501,E702
        checks.append((info, line, "tf.layers.conv2d 'conv2d'", "channels_first"))
        with pytest.raises(tf.DTypeError) as info:
            line = caller_line(); tf.layers.batch_normalization(images, training=tf.placeholder(tf.int32, []))  # noqa: E501,E702
        checks.append((info, line, "'batch_normalization'", "bool tensor"))
        with pytest.raises(tf.InvalidArgumentError) as info:
            line = caller_line(); tf.layers.max_pooling2d(images, 2, 2, padding="full")  # noqa: E702
        checks.append((info, line, "'max_pooling2d'", "'valid' or 'same'"))
        with pytest.raises(tf.UnsupportedError) as info:
            line = caller_line(); tf.layers.dense(images, 2, activity_regularizer=tf.nn.l2_loss)  # noqa: E501,E702
        checks.append((info, line, "activity_regularizer"))
    for info, line, *fragments in checks:
        assert isinstance(info.value, tf.Error)
        assert_points_here(info, *fragments, line=line)


def test_loss_errors_name_the_function_and_the_users_line():
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 8, 8, 3])
        checks = []
        with pytest.raises(tf.ShapeError) as info:
            line = caller_line(); tf.losses.mean_squared_error(images, images, [1.0, 2.0])  # noqa: E702
        checks.append((info, line, "tf.losses.mean_squared_error", "weights can not be broadcast"))
        with pytest.raises(tf.InvalidArgumentError) as info:
            line = caller_line(); tf.losses.get_total_loss()  # noqa: E702
        checks.append((info, line, "no losses"))
        with pytest.raises(tf.InvalidArgumentError) as info:
            line = caller_line(); tf.losses.log_loss(images, images, reduction="mean")  # noqa: E702
        checks.append((info, line, "Invalid Reduction Key"))
    for info, line, *fragments in checks:
        assert isinstance(info.value, tf.Error)
        assert_points_here(info, *fragments, line=line)
