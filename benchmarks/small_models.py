"""Small models built seeded, each as a graphjit function, a NumPy function and a float64
reference: an MLP (784-256-256-10, softmax), a small CNN, a transformer block, and the
block with a GELU feed-forward. Used by benchmarks/contention.py.

`models()` gives (id, title, inputs, reference outputs, graphjit builder, NumPy call);
a builder returns graphjit's compiled function (compiled on its first call).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from workloads import EPS, GELU_C, GELU_K
from workloads import np_layernorm as _layernorm
from workloads import np_softmax as _softmax

F32 = np.float32


def _dense(rng, fan_in, fan_out):
    return (rng.standard_normal((fan_in, fan_out), dtype=F32) * F32(np.sqrt(2.0 / fan_in)),
            rng.standard_normal(fan_out, dtype=F32) * F32(0.01))


def _gelu(x):
    half, one = x.dtype.type(0.5), x.dtype.type(1)
    return half * x * (one + np.tanh(x.dtype.type(GELU_K) * (x + x.dtype.type(GELU_C) * x * x * x)))


def _cast(params, dtype):
    return [p.astype(dtype) for p in params]


# -- MLP -----------------------------------------------------------------------------------

MLP_SIZES = (784, 256, 256, 10)


def mlp_numpy(x, *params):
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = np.maximum(h, 0)
    return _softmax(h)


def mlp_graphjit(tf, params):
    g = tf.Graph()
    with g.as_default():
        h = x = tf.placeholder(tf.float32, [None, MLP_SIZES[0]], name="x")
        for i in range(0, len(params), 2):
            h = tf.nn.bias_add(tf.matmul(h, tf.constant(params[i])), tf.constant(params[i + 1]))
            h = tf.nn.relu(h) if i + 2 < len(params) else tf.nn.softmax(h, name="probs")
    return tf.compile(g, feeds=[x])


# -- CNN: conv 3x3x8, relu, pool 2; conv 3x3x16, relu, pool 2; dense 10; softmax ----------

CNN_CHANNELS = (1, 8, 16)


def _conv_same(x, w):
    kh, kw = w.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))  # n, h, w, c, kh, kw
    return np.tensordot(windows, w, axes=([3, 4, 5], [2, 0, 1]))


def _pool2(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def cnn_numpy(x, w1, b1, w2, b2, w3, b3):
    h = _pool2(np.maximum(_conv_same(x, w1) + b1, 0))
    h = _pool2(np.maximum(_conv_same(h, w2) + b2, 0))
    return _softmax(h.reshape(h.shape[0], -1) @ w3 + b3)


def cnn_graphjit(tf, params):
    g = tf.Graph()
    with g.as_default():
        w1, b1, w2, b2, w3, b3 = (tf.constant(p) for p in params)
        x = tf.placeholder(tf.float32, [None, 28, 28, 1], name="x")
        h = x
        for w, b in ((w1, b1), (w2, b2)):
            h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w, [1, 1, 1, 1], "SAME"), b))
            h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
        h = tf.reshape(h, [-1, 7 * 7 * CNN_CHANNELS[-1]])
        tf.nn.softmax(tf.nn.bias_add(tf.matmul(h, w3), b3), name="probs")
    return tf.compile(g, feeds=[x])


def cnn_params(rng):
    params = []
    for c_in, c_out in zip(CNN_CHANNELS[:-1], CNN_CHANNELS[1:]):
        scale = F32(np.sqrt(2 / (9 * c_in)))
        params += [rng.standard_normal((3, 3, c_in, c_out), dtype=F32) * scale,
                   rng.standard_normal(c_out, dtype=F32) * F32(0.01)]
    return params + list(_dense(rng, 7 * 7 * CNN_CHANNELS[-1], 10))


# -- transformer block: one attention head, residual + layer norm, feed-forward ------------

SEQ, D_MODEL, D_FF = 128, 128, 512


def block_numpy(x, wq, wk, wv, wo, g1, be1, w1, b1, w2, b2, g2, be2, gelu=False):
    q, k, v = x @ wq, x @ wk, x @ wv
    att = _softmax((q @ k.T) * x.dtype.type(1 / np.sqrt(D_MODEL))) @ v
    h = _layernorm(x + att @ wo, g1, be1)
    f = h @ w1 + b1
    f = _gelu(f) if gelu else np.maximum(f, 0)
    return _layernorm(h + f @ w2 + b2, g2, be2)


def block_graphjit(tf, params, gelu=False):
    g = tf.Graph()
    with g.as_default():
        wq, wk, wv, wo, g1, be1, w1, b1, w2, b2, g2, be2 = (tf.constant(p) for p in params)
        x = tf.placeholder(tf.float32, [None, D_MODEL], name="x")
        q, k, v = tf.matmul(x, wq), tf.matmul(x, wk), tf.matmul(x, wv)
        scores = tf.matmul(q, k, transpose_b=True) * (1 / np.sqrt(D_MODEL))
        att = tf.matmul(tf.nn.softmax(scores), v)
        h = tf.nn.layer_normalization(x + tf.matmul(att, wo), g1, be1, epsilon=EPS)
        f = tf.nn.bias_add(tf.matmul(h, w1), b1)
        f = tf.nn.gelu(f, approximate=True) if gelu else tf.nn.relu(f)
        tf.nn.layer_normalization(h + tf.nn.bias_add(tf.matmul(f, w2), b2), g2, be2,
                                  epsilon=EPS, name="out")
    return tf.compile(g, feeds=[x])


def block_params(rng):
    ws = [_dense(rng, D_MODEL, D_MODEL)[0] for _ in range(4)]
    ln = lambda: [F32(1) + F32(0.1) * rng.standard_normal(D_MODEL, dtype=F32),  # noqa: E731
                  F32(0.1) * rng.standard_normal(D_MODEL, dtype=F32)]
    return [*ws, *ln(), *_dense(rng, D_MODEL, D_FF), *_dense(rng, D_FF, D_MODEL), *ln()]


# -- the list --------------------------------------------------------------------------------

def models(batch: int = 128, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    mlp = [p for fi, fo in zip(MLP_SIZES[:-1], MLP_SIZES[1:]) for p in _dense(rng, fi, fo)]
    x = rng.random((batch, MLP_SIZES[0]), dtype=F32)
    out.append(("MLP", f"MLP 784-256-256-10 softmax, batch {batch}", x,
                mlp_numpy(x.astype(np.float64), *_cast(mlp, np.float64)),
                lambda tf: mlp_graphjit(tf, mlp), lambda: mlp_numpy(x, *mlp)))
    cnn = cnn_params(rng)
    xc = rng.random((32, 28, 28, 1), dtype=F32)
    out.append(("CNN", "CNN conv3x3x8-pool-conv3x3x16-pool-dense10 softmax, batch 32", xc,
                cnn_numpy(xc.astype(np.float64), *_cast(cnn, np.float64)),
                lambda tf: cnn_graphjit(tf, cnn), lambda: cnn_numpy(xc, *cnn)))
    blk = block_params(rng)
    xt = rng.standard_normal((SEQ, D_MODEL), dtype=F32)
    for gelu, mid, title in ((False, "TBLK", "relu"), (True, "TGELU", "GELU")):
        out.append((mid, f"transformer block, {SEQ} tokens x {D_MODEL}, FFN {D_FF} {title}", xt,
                    block_numpy(xt.astype(np.float64), *_cast(blk, np.float64), gelu=gelu),
                    lambda tf, g=gelu: block_graphjit(tf, blk, gelu=g),
                    lambda g=gelu: block_numpy(xt, *blk, gelu=g)))
    return out
