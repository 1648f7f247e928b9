"""tf.contrib.layers (layers, initializers, regularizers) and tf.initializers, TF1 style:
TF's variable and op names, values against NumPy in both engines."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_check import ENGINES, run_both, session

layers = tf.contrib.layers


@pytest.fixture(autouse=True)
def graph():
    with tf.Graph().as_default() as g:
        yield g


def _values(*tensors):
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(list(tensors))


def test_fully_connected_names_defaults_and_values():
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    h = layers.fully_connected(x, 3)
    out = layers.fully_connected(h, 2, activation_fn=None, scope="logits")
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["fully_connected/weights", "fully_connected/biases",
                     "logits/weights", "logits/biases"]
    assert tf.get_collection(tf.GraphKeys.MODEL_VARIABLES) == tf.global_variables()
    assert h.name == "fully_connected/Relu:0" and out.name == "logits/BiasAdd:0"
    assert h.shape.as_list() == [None, 3]
    xv = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    for engine in ENGINES:
        with session(engine) as sess:
            sess.run(tf.global_variables_initializer())
            w1, b1, w2, b2 = sess.run(tf.global_variables())
            got = sess.run(out, {x: xv})
        np.testing.assert_allclose(got, np.maximum(xv @ w1 + b1, 0) @ w2 + b2, rtol=1e-5,
                                   atol=1e-6)
        assert np.all(b1 == 0) and np.abs(w1).max() <= np.sqrt(6 / 7)  # xavier uniform


def test_fully_connected_reuse_and_normalizer_drops_biases():
    x = tf.placeholder(tf.float32, [2, 4])
    a = layers.fully_connected(x, 3, scope="fc")
    b = layers.fully_connected(x, 3, scope="fc", reuse=True)
    layers.fully_connected(x, 3, normalizer_fn=tf.nn.l2_normalize, scope="normed")
    assert [v.op.name for v in tf.global_variables()] == \
        ["fc/weights", "fc/biases", "normed/weights"]
    va, vb = run_both([a, b], {x: np.ones((2, 4))}, init=True)[0]
    np.testing.assert_array_equal(va, vb)
    with pytest.raises(tf.VariableError, match="already exists"):
        layers.fully_connected(x, 3, scope="fc")


def _conv_numpy(x, w, stride):
    """conv2d with TF's SAME padding (the odd cell of padding after)."""
    kh, kw = w.shape[:2]
    out_h, out_w = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
    pad_h = max((out_h - 1) * stride + kh - x.shape[1], 0)
    pad_w = max((out_w - 1) * stride + kw - x.shape[2], 0)
    xp = np.pad(x, [(0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2),
                    (0, 0)])
    out = np.zeros((x.shape[0], out_h, out_w, w.shape[3]))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=3)
    return out


def test_conv2d_pools_and_flatten():
    img = tf.placeholder(tf.float32, [None, 6, 6, 2], name="img")
    conv = layers.conv2d(img, 4, 3, stride=2)
    assert [v.op.name for v in tf.global_variables()] == ["Conv/weights", "Conv/biases"]
    assert tf.global_variables()[0].shape.as_list() == [3, 3, 2, 4]
    assert conv.name == "Conv/Relu:0" and conv.shape.as_list() == [None, 3, 3, 4]
    pooled = layers.max_pool2d(conv, 2, stride=1)
    averaged = layers.avg_pool2d(conv, [3, 3], stride=3)
    flat = layers.flatten(pooled)
    assert pooled.name == "MaxPool2D/MaxPool:0" and averaged.name == "AvgPool2D/AvgPool:0"
    assert flat.shape.as_list() == [None, 16]
    xv = np.random.default_rng(1).standard_normal((2, 6, 6, 2)).astype(np.float32)
    for engine in ENGINES:
        with session(engine) as sess:
            sess.run(tf.global_variables_initializer())
            w, b = sess.run(tf.global_variables())
            c, p, a, f = sess.run([conv, pooled, averaged, flat], {img: xv})
        want = np.maximum(_conv_numpy(xv, w, 2) + b, 0)
        np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-5)
        windows = np.array([[want[:, i:i + 2, j:j + 2].max((1, 2)) for j in range(2)]
                            for i in range(2)])  # [i, j, batch, channels]
        np.testing.assert_allclose(p, windows.transpose(2, 0, 1, 3), rtol=1e-6)
        np.testing.assert_allclose(a[:, 0, 0], want.mean((1, 2)), rtol=1e-5)
        np.testing.assert_array_equal(f, p.reshape(2, -1))


def test_batch_norm_names_and_in_place_updates():
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    y = layers.batch_norm(x, is_training=True, updates_collections=None, decay=0.5)
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["BatchNorm/beta", "BatchNorm/moving_mean", "BatchNorm/moving_variance"]
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    xv = np.arange(12, dtype=np.float32).reshape(4, 3)
    for engine in ENGINES:
        with session(engine) as sess:
            sess.run(tf.global_variables_initializer())
            out = sess.run(y, {x: xv})
            moving_mean = sess.run(tf.global_variables()[1])
        want = (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 0.001)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(moving_mean, 0.5 * xv.mean(0), rtol=1e-6)
    layers.batch_norm(x, scale=True, is_training=False)
    assert "BatchNorm_1/gamma" in [v.op.name for v in tf.global_variables()]


def test_batch_norm_updates_go_to_update_ops_by_default():
    x = tf.placeholder(tf.float32, [4, 3])
    layers.batch_norm(x, is_training=True)
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2


def test_dropout_is_training_switch():
    x = tf.ones([100, 10])
    training = tf.placeholder(tf.bool, [])
    y = layers.dropout(x, keep_prob=0.5, is_training=training)
    for engine in ENGINES:
        with session(engine) as sess:
            kept = sess.run(y, {training: True})
            assert set(np.unique(kept)) <= {0.0, 2.0} and 0.3 < (kept > 0).mean() < 0.7
            np.testing.assert_array_equal(sess.run(y, {training: False}), np.ones((100, 10)))
    assert layers.dropout(x, is_training=False).name.startswith("Dropout_1/")


def test_regularizers_and_apply_regularization():
    w = tf.constant([[1.0, -2.0], [3.0, -4.0]])
    l1, l2 = layers.l1_regularizer(0.5), layers.l2_regularizer(0.1)
    both = layers.l1_l2_regularizer(0.5, 0.1)
    assert layers.l2_regularizer(0.0)(w) is None
    with pytest.raises(tf.InvalidArgumentError, match="less than 0"):
        layers.l1_regularizer(-1.0)
    total = layers.apply_regularization(l2, [w, w * 2])
    assert total.name == "get_regularization_penalty:0"
    assert tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES) == [total]
    for got in run_both([l1(w), l2(w), both(w), total]):
        np.testing.assert_allclose(got, [5.0, 1.5, 6.5, 1.5 * 5], rtol=1e-6)
    with pytest.raises(tf.InvalidArgumentError, match="No weights"):
        layers.apply_regularization(l1)


def test_weights_regularizer_joins_regularization_losses():
    x = tf.placeholder(tf.float32, [2, 3])
    layers.fully_connected(x, 2, weights_regularizer=layers.l1_regularizer(1.0))
    (loss,) = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w, value = sess.run([tf.global_variables()[0], loss])
    np.testing.assert_allclose(value, np.abs(w).sum(), rtol=1e-6)


SHAPE = [200, 300]  # fan_in 200, fan_out 300


@pytest.mark.parametrize("make, bound, stddev", [
    (lambda: layers.xavier_initializer(seed=1), np.sqrt(6 / 500), np.sqrt(2 / 500)),
    (lambda: layers.xavier_initializer(uniform=False, seed=1), 2 * np.sqrt(1.3 / 250),
     None),
    (lambda: layers.variance_scaling_initializer(seed=1), 2 * np.sqrt(1.3 * 2 / 200), None),
    (lambda: tf.variance_scaling_initializer(2.0, "fan_out", "uniform", seed=1),
     np.sqrt(6 / 300), np.sqrt(2 / 300)),
    (lambda: tf.initializers.he_normal(seed=1), 2 * np.sqrt(2 / 200) / .87962566103423978,
     np.sqrt(2 / 200)),
    (lambda: tf.initializers.lecun_uniform(seed=1), np.sqrt(3 / 200), np.sqrt(1 / 200)),
])
def test_initializers_scale_by_fans(make, bound, stddev):
    v = tf.get_variable("v", SHAPE, initializer=make())
    (value,) = _values(v)
    assert np.abs(value).max() <= bound * (1 + 1e-6)
    assert np.abs(value).max() > 0.8 * bound  # the bound is reached, not a smaller one
    if stddev is not None:
        assert abs(value.std() / stddev - 1) < 0.05


def test_initializers_namespace_aliases():
    assert tf.initializers.glorot_uniform is tf.glorot_uniform_initializer
    assert tf.initializers.zeros is tf.zeros_initializer
    assert tf.initializers.global_variables is tf.global_variables_initializer
    with pytest.raises(tf.UnsupportedNameError, match="tf.initializers.orthogonal"):
        tf.initializers.orthogonal  # noqa: B018
    with pytest.raises(tf.UnsupportedNameError, match="tf.contrib.layers.layer_norm"):
        layers.layer_norm  # noqa: B018
    with pytest.raises(tf.DTypeError):
        layers.xavier_initializer(dtype=tf.int32)
