"""tf.nn's softsign, crelu, selu, l2_normalize, lrn, in_top_k, weighted_cross_entropy_with
_logits and log_poisson_loss, TF1 style, against NumPy in both engines, with gradients."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_check import check_gradient, run_both

RNG = np.random.default_rng(7)
X = RNG.standard_normal((2, 3, 2, 5)).astype(np.float32)


@pytest.fixture(autouse=True)
def graph():
    with tf.Graph().as_default() as g:
        yield g


def _lrn_numpy(x, r, bias, alpha, beta):
    out = np.empty_like(x)
    c = x.shape[-1]
    for d in range(c):
        window = x[..., max(0, d - r):min(c, d + r + 1)]
        out[..., d] = x[..., d] / (bias + alpha * (window ** 2).sum(-1)) ** beta
    return out


def _selu(x):
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))


ACTIVATIONS = {
    "softsign": (tf.nn.softsign, lambda x: x / (1 + np.abs(x)), "Softsign"),
    "crelu": (tf.nn.crelu, lambda x: np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], -1),
              "CRelu"),
    "selu": (tf.nn.selu, _selu, "Selu"),
    "l2_normalize": (lambda x: tf.nn.l2_normalize(x, axis=[1, 3]),
                     lambda x: x / np.sqrt(np.maximum((x ** 2).sum((1, 3), keepdims=True),
                                                      1e-12)), "l2_normalize"),
    "lrn": (lambda x: tf.nn.lrn(x, depth_radius=2, bias=2.0, alpha=0.5, beta=0.75),
            lambda x: _lrn_numpy(x, 2, 2.0, 0.5, 0.75), "LRN"),
    "local_response_normalization": (tf.nn.local_response_normalization,
                                     lambda x: _lrn_numpy(x, 5, 1.0, 1.0, 0.5), "LRN"),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_elementwise_and_normalizing_composites_match_numpy(name):
    build, expected, op_name = ACTIVATIONS[name]
    x = tf.placeholder(tf.float32, X.shape, name="x")
    y = build(x)
    assert y.name == f"{op_name}:0"
    want = expected(X.astype(np.float64))
    for got in run_both(y, {x: X}):
        assert got.shape == want.shape == tuple(y.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_composite_gradients(name):
    build = ACTIVATIONS[name][0]
    check_gradient(build, X.astype(np.float64) + 0.05)  # (away from selu's kink at 0)


def test_l2_normalize_default_axis_is_all_axes_and_dim_alias():
    x = tf.constant([[3.0, 4.0], [0.0, 0.0]])
    everything, rows = run_both([tf.nn.l2_normalize(x), tf.math.l2_normalize(x, dim=1)])[0]
    np.testing.assert_allclose(everything, [[0.6, 0.8], [0, 0]], rtol=1e-6)
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0, 0]], rtol=1e-6)  # the zero row stays 0


def test_lrn_needs_4d_input_with_known_channels():
    with pytest.raises(tf.ShapeError, match="4-D"):
        tf.nn.lrn(tf.placeholder(tf.float32, [2, 3]))
    with pytest.raises(tf.UnsupportedError, match="channels"):
        tf.nn.lrn(tf.placeholder(tf.float32, [2, 3, 3, None]))


def test_in_top_k_tie_rule_non_finite_and_out_of_range_targets():
    p = tf.placeholder(tf.float32, [None, 4], name="p")
    t = tf.placeholder(tf.int64, [None], name="t")
    k = tf.placeholder(tf.int32, [], name="k")
    out = tf.nn.in_top_k(p, t, k)
    predictions = np.array([[0.1, 0.3, 0.3, 0.2],     # target 2 ties class 1 at the top
                            [0.1, 0.3, 0.3, 0.2],     # target 3: two classes above it
                            [1.0, np.nan, 2.0, 0.0],  # target 1 is NaN: never in
                            [1.0, 2.0, 3.0, 4.0],     # target 7: out of range
                            [-np.inf, 1.0, 2.0, 0.0]])  # target 3: inf above does not count
    targets = np.array([2, 3, 1, 7, 3])
    for got in run_both(out, {p: predictions, t: targets, k: 1}):
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, [True, False, False, False, False])
    for got in run_both(out, {p: predictions, t: targets, k: 3}):
        np.testing.assert_array_equal(got, [True, True, False, False, True])
    assert out.shape.as_list() == [None]


def test_in_top_k_refuses_float_targets():
    with pytest.raises(tf.ShapeError, match="int32 or int64"):
        tf.nn.in_top_k(tf.zeros([2, 3]), tf.zeros([2]), 1)


def _weighted_numpy(z, x, q):
    return -(q * z * np.log(1 / (1 + np.exp(-x))) + (1 - z) * np.log(1 - 1 / (1 + np.exp(-x))))


def test_weighted_cross_entropy_matches_its_definition():
    z = RNG.uniform(0, 1, (3, 4))
    x = RNG.standard_normal((3, 4)) * 3
    loss = tf.nn.weighted_cross_entropy_with_logits(targets=tf.constant(z),
                                                    logits=tf.constant(x), pos_weight=2.5)
    v2 = tf.nn.weighted_cross_entropy_with_logits(labels=tf.constant(z),
                                                  logits=tf.constant(x), pos_weight=2.5)
    for got, got_v2 in run_both([loss, v2]):
        np.testing.assert_allclose(got, _weighted_numpy(z, x, 2.5), rtol=1e-10)
        np.testing.assert_allclose(got_v2, got, rtol=0)
    check_gradient(lambda logits: tf.nn.weighted_cross_entropy_with_logits(
        targets=tf.constant(z), logits=logits, pos_weight=2.5), x)


@pytest.mark.parametrize("full", [False, True])
def test_log_poisson_loss(full):
    z = np.array([0.0, 0.5, 1.0, 2.0, 7.0])
    c = np.array([0.3, -1.0, 0.0, 1.5, 2.0])
    loss = tf.nn.log_poisson_loss(tf.constant(z), tf.constant(c), compute_full_loss=full)
    want = np.exp(c) - c * z
    if full:
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = z * np.log(z) - z + 0.5 * np.log(2 * np.pi * z)
        want = want + np.where((z >= 0) & (z <= 1), 0.0, stirling)
    for got in run_both(loss):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    check_gradient(lambda log_input: tf.nn.log_poisson_loss(tf.constant(z), log_input,
                                                            compute_full_loss=full), c)
