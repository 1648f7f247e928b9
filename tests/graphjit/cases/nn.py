"""Cases for graphjit.nn: activations, softmax, cross-entropy losses and normalization.

The expectations are the textbook float64 formulas (np.logaddexp for softplus,
math.erf for gelu, the log of a normalized exp for cross-entropy), not the
stable decompositions graphjit builds, so a mistake in a rewrite shows up.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, uniform

TOL = {"rtol": {"float32": 1e-5, "float64": 1e-12}, "atol": 1e-5}
# x - mean loses up to ulp(x) when a row's values are close; dividing by sqrt(var + eps)
# >= sqrt(1e-5) amplifies that ~300x, so float32 results may differ by ~2e-5 absolute.
LAYER_NORM_TOL = {**TOL, "atol": 1e-4}
_erf = np.vectorize(math.erf)


def _f64(*arrays):
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]


def _shapes(min_rank=0, max_rank=4, max_side=5):
    return st.tuples(hnp.array_shapes(min_dims=min_rank, max_dims=max_rank, max_side=max_side))


def activation(name, build, expected, low=-6.0, high=6.0, dtypes=FLOATS, **kw):
    return Case(name, build, lambda x: expected(*_f64(x)), default_shapes=((2, 3),),
                shapes=_shapes(), dtypes=dtypes, inputs=uniform(low, high), **kw)


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    return np.log(_softmax(x, axis))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


# name -> (minimum rank, axis as a function of the rank); softmax needs rank >= 1
AXES = {"default": (1, lambda r: None), "first": (1, lambda r: 0), "last": (1, lambda r: -1),
        "middle": (2, lambda r: r // 2), "negative_second": (2, lambda r: -2)}


def softmax_case(fn_name, np_fn, rule):
    min_rank, axis_of = AXES[rule]
    fn = getattr(tf.nn, fn_name)

    def expected(x):
        axis = axis_of(x.ndim)
        return np_fn(*_f64(x), -1 if axis is None else axis)
    return Case(f"{fn_name}_{rule}", lambda x: fn(x, axis=axis_of(x.ndim)), expected,
                default_shapes=((2, 3, 4),), shapes=_shapes(min_rank), inputs=uniform(-20, 20),
                **TOL)


def _distribution(rng, shape, dtype):
    """Rows (along the last axis) of non-negative weights summing to one."""
    w = rng.random(shape) ** 3
    return (w / np.sum(w, axis=-1, keepdims=True)).astype(dtype)


def _cross_entropy(labels, logits, axis=-1):
    labels, logits = _f64(labels, logits)
    return -np.sum(labels * _log_softmax(logits, axis), axis=axis)


@st.composite
def _same_shape_pairs(draw, min_rank=1):
    shape = draw(hnp.array_shapes(min_dims=min_rank, max_dims=4, max_side=5))
    return shape, shape


def cross_entropy_case(name, fn, axis=-1):
    def build(labels, logits):
        kwargs = {} if axis == -1 else {"axis": axis}
        return fn(labels=labels, logits=logits, **kwargs)
    return Case(name, build, lambda y, x: _cross_entropy(y, x, axis),
                default_shapes=((4, 5), (4, 5)), shapes=_same_shape_pairs(),
                inputs=(_distribution, uniform(-10, 10)), **TOL)


# One-hot needs the class count at build time, but the harness may feed placeholders
# with every dim unknown: the logits come from a dense layer with a constant weight
# matrix (the usual model head), which fixes the class dim.
_FEATURES, _CLASSES = 3, 5
_WEIGHTS = np.random.default_rng(7).uniform(-2, 2, size=(_FEATURES, _CLASSES))


def _labels(rng, shape, dtype):
    return rng.integers(0, _CLASSES, size=shape).astype(dtype)


def _sparse_shapes():
    batch = hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)
    return batch.map(lambda b: (b, b + (_FEATURES,)))


def _sparse_build(labels, features):
    logits = tf.matmul(features, tf.constant(_WEIGHTS, dtype=features.dtype))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def _sparse_expected(labels, features):
    logits = features.astype(np.float64) @ _WEIGHTS.astype(features.dtype).astype(np.float64)
    log_p = _log_softmax(logits, -1)
    return -np.take_along_axis(log_p, labels[..., None].astype(np.int64), -1)[..., 0]


def sparse_case(label_dtype):
    return Case(f"sparse_softmax_cross_entropy_{label_dtype}_labels", _sparse_build,
                _sparse_expected, default_shapes=((4,), (4, _FEATURES)), shapes=_sparse_shapes(),
                inputs=(_labels, uniform()), input_dtypes={0: label_dtype}, **TOL)


@st.composite
def _channels_last(draw, num_vectors, min_rank=1):
    """A tensor shape and `num_vectors` 1-D shapes of its last dim."""
    shape = draw(hnp.array_shapes(min_dims=min_rank, max_dims=4, max_side=5))
    return (shape,) + ((shape[-1],),) * num_vectors


def _positive(rng, shape, dtype):
    return rng.uniform(0.1, 2.0, size=shape).astype(dtype)


def _batch_norm(x, mean, var, offset, scale, eps=1e-3):
    x, mean, var, offset, scale = _f64(x, mean, var, offset, scale)
    return (x - mean) / np.sqrt(var + eps) * scale + offset


def _layer_norm(x, gamma=None, beta=None, axis=-1, eps=1e-5):
    (x,) = _f64(x)
    mean = np.mean(x, axis=axis, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=axis, keepdims=True)
    out = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        out = out * gamma.astype(np.float64) + beta.astype(np.float64)
    return out


def _moments(axes, keepdims):
    def expected(x):
        (x,) = _f64(x)
        mean = np.mean(x, axis=tuple(axes), keepdims=True)
        var = np.mean((x - mean) ** 2, axis=tuple(axes), keepdims=keepdims)
        return (mean if keepdims else np.squeeze(mean, tuple(a % x.ndim for a in axes))), var
    return expected


CASES = [
    activation("relu", tf.nn.relu, lambda x: np.maximum(x, 0), dtypes=FLOATS + INTS),
    activation("relu6", tf.nn.relu6, lambda x: np.clip(x, 0, 6), low=-9, high=9,
               dtypes=FLOATS + INTS),
    activation("leaky_relu", tf.nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x)),
    activation("leaky_relu_alpha", lambda x: tf.nn.leaky_relu(x, alpha=1.5),
               lambda x: np.where(x > 0, x, 1.5 * x)),
    activation("elu", tf.nn.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), low=-20, high=90),
    activation("gelu", tf.nn.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    activation("gelu_approximate", lambda x: tf.nn.gelu(x, approximate=True), _gelu_tanh),
    activation("softplus", tf.nn.softplus, lambda x: np.logaddexp(0, x), low=-100, high=100),
    activation("silu", tf.nn.silu, lambda x: x / (1 + np.exp(-x)), low=-30, high=30),
    activation("swish_beta", lambda x: tf.nn.swish(x, beta=2.0),
               lambda x: x / (1 + np.exp(-2 * x))),
    activation("nn_sigmoid_tanh", lambda x: tf.nn.sigmoid(x) * tf.nn.tanh(x),
               lambda x: np.tanh(x) / (1 + np.exp(-x))),
    activation("l2_loss", tf.nn.l2_loss, lambda x: np.sum(x ** 2) / 2, **TOL),
    *(softmax_case("softmax", _softmax, rule) for rule in AXES),
    *(softmax_case("log_softmax", _log_softmax, rule) for rule in ("default", "first", "middle")),
    Case("softmax_dim_alias", lambda x: tf.nn.softmax(x, dim=0), lambda x: _softmax(*_f64(x), 0),
         default_shapes=((3, 2),), shapes=_shapes(1), **TOL),
    cross_entropy_case("softmax_cross_entropy", tf.nn.softmax_cross_entropy_with_logits),
    cross_entropy_case("softmax_cross_entropy_v2", tf.nn.softmax_cross_entropy_with_logits_v2),
    cross_entropy_case("softmax_cross_entropy_axis0",
                       tf.nn.softmax_cross_entropy_with_logits_v2, axis=0),
    sparse_case("int32"),
    sparse_case("int64"),
    Case("sigmoid_cross_entropy",
         lambda z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
         lambda z, x: -(z * np.log(1 / (1 + np.exp(-x.astype(np.float64))))
                        + (1 - z) * np.log(1 - 1 / (1 + np.exp(-x.astype(np.float64))))),
         default_shapes=((2, 3), (2, 3)), shapes=_same_shape_pairs(0),
         inputs=(uniform(0, 1), uniform(-15, 15)), **TOL),
    Case("bias_add", tf.nn.bias_add, lambda x, b: np.add(*_f64(x, b)),
         default_shapes=((2, 3), (3,)), shapes=_channels_last(1), dtypes=FLOATS + INTS),
    Case("bias_add_nchw", lambda x, b: tf.nn.bias_add(x, b, data_format="NCHW"),
         lambda x, b: np.add(*_f64(x, b.reshape(-1, 1, 1))), default_shapes=((2, 3, 4, 4), (3,)),
         shapes=hnp.array_shapes(min_dims=4, max_dims=4, max_side=4).map(
             lambda s: (s, (s[1],))), dtypes=FLOATS + INTS),
    Case("batch_normalization",
         lambda x, m, v, o, s: tf.nn.batch_normalization(x, m, v, o, s, variance_epsilon=1e-3),
         _batch_norm, default_shapes=((4, 3), (3,), (3,), (3,), (3,)),
         shapes=_channels_last(4), inputs=(uniform(), uniform(), _positive, uniform(), uniform()),
         **TOL),
    Case("batch_normalization_no_offset_scale",
         lambda x, m, v: tf.nn.batch_normalization(x, m, v, None, None, 1e-3),
         lambda x, m, v: _batch_norm(x, m, v, np.zeros(()), np.ones(())),
         default_shapes=((4, 3), (3,), (3,)), shapes=_channels_last(2),
         inputs=(uniform(), uniform(), _positive), **TOL),
    Case("layer_normalization", lambda x: tf.nn.layer_normalization(x), _layer_norm,
         default_shapes=((2, 5),), shapes=_shapes(1), **LAYER_NORM_TOL),
    Case("layer_normalization_gamma_beta",
         lambda x, g, b: tf.nn.layer_normalization(x, g, b, epsilon=1e-5), _layer_norm,
         default_shapes=((2, 5), (5,), (5,)), shapes=_channels_last(2), **LAYER_NORM_TOL),
    Case("moments_first_keepdims", lambda x: tf.nn.moments(x, [0], keepdims=True),
         _moments([0], True), default_shapes=((4, 3),), shapes=_shapes(1), **TOL),
    Case("moments_last", lambda x: tf.nn.moments(x, [-1]), _moments([-1], False),
         default_shapes=((4, 3),), shapes=_shapes(1), **TOL),
    Case("moments_image_axes", lambda x: tf.nn.moments(x, [0, 1, 2]), _moments([0, 1, 2], False),
         default_shapes=((2, 3, 3, 4),), shapes=_shapes(4), **TOL),
    # dropout's mask is random: keep_prob 1.0 as a tensor (the mask is still drawn) keeps
    # every value; a mask times zero leaves x (its shape still has to broadcast).
    Case("dropout_keep_all", lambda x: tf.nn.dropout(x, tf.constant(1.0, x.dtype)),
         lambda x: x, default_shapes=((2, 3),), shapes=_shapes()),
    Case("dropout_noise_shape_times_zero", lambda x: x + 0 * tf.nn.dropout(
        x, rate=0.5, noise_shape=[1] + [None] * (x.ndim - 1), seed=1), lambda x: x,
         default_shapes=((2, 3),), shapes=_shapes(1)),
]
