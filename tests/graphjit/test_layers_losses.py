"""tf.losses as TF 1.15's (issue #13): each loss against NumPy with weights and
reductions, the losses collection, errors; tf.nn.conv2d_transpose; on both engines."""

from __future__ import annotations

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


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


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
