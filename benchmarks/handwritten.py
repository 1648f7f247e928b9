"""Hand-written Numba kernels for the benchmark workloads: the baseline graphjit's generated
kernels should match or beat.

Two flavours: fused loops calling NumPy's math (``np.exp``/``np.tanh``: scalar libm calls
that keep the loop scalar) allocating their output per call, and the same loops calling
``codegen.vecmath`` (vectorizable polynomial math) writing into a caller-owned output
buffer that is reused. All are ``parallel=True`` over rows/elements, ``cache=True``
(this file is what W7's hand-written Numba compile time measures), ``error_model="numpy"``
and fastmath without nnan/ninf: what a hand-written kernel would use (graphjit's own
kernels use none, so that results follow NumPy: README, "Numerics").

Float constants are float32 globals: a Python float literal would promote the arithmetic
to float64.
"""

import numba
import numpy as np
from numba import prange

from codegen.vecmath import exp_f32, tanh_f32

_PAR = {"parallel": True, "fastmath": {"nsz", "arcp", "contract", "afn", "reassoc"},
        "error_model": "numpy", "cache": True, "nogil": True}

_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)
_K = np.float32(0.7978845608)
_C = np.float32(0.044715)
_NINF = np.float32(-np.inf)


# -- W1: gelu, tanh form --------------------------------------------------------------------

@numba.njit(**_PAR)
def gelu_libm(x):
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = _HALF * v * (_ONE + np.tanh(_K * (v + _C * v * v * v)))
    return out


@numba.njit(**_PAR)
def gelu_vecmath_into(x, out):
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = _HALF * v * (_ONE + tanh_f32(_K * (v + _C * v * v * v)))


# -- W2: softmax over the last axis ---------------------------------------------------------

@numba.njit(**_PAR)
def softmax_libm(x):
    n, m = x.shape
    out = np.empty_like(x)
    for i in prange(n):
        mx = _NINF
        for j in range(m):
            v = x[i, j]
            mx = v if v > mx else mx
        s = _ZERO
        for j in range(m):
            e = np.exp(x[i, j] - mx)
            out[i, j] = e
            s += e
        inv = _ONE / s
        for j in range(m):
            out[i, j] *= inv
    return out


@numba.njit(**_PAR)
def softmax_vecmath_into(x, out):
    n, m = x.shape
    for i in prange(n):
        mx = _NINF
        for j in range(m):
            v = x[i, j]
            mx = v if v > mx else mx
        s = _ZERO
        for j in range(m):
            e = exp_f32(x[i, j] - mx)
            out[i, j] = e
            s += e
        inv = _ONE / s
        for j in range(m):
            out[i, j] *= inv


# -- W3: layer norm over the last axis ------------------------------------------------------

@numba.njit(**_PAR)
def layernorm_into(x, gamma, beta, eps, out):
    n, m = x.shape
    inv_m = _ONE / np.float32(m)
    for i in prange(n):
        s = _ZERO
        for j in range(m):
            s += x[i, j]
        mean = s * inv_m
        q = _ZERO
        for j in range(m):
            d = x[i, j] - mean
            q += d * d
        r = _ONE / np.sqrt(q * inv_m + eps)
        for j in range(m):
            out[i, j] = (x[i, j] - mean) * r * gamma[j] + beta[j]


def layernorm(x, gamma, beta, eps):
    out = np.empty_like(x)
    layernorm_into(x, gamma, beta, eps, out)
    return out


# -- W4: MLP forward (GEMMs stay NumPy's BLAS: Numba's np.dot needs SciPy) ---------------

@numba.njit(**_PAR)
def bias_relu_inplace(h, b):
    for i in prange(h.shape[0]):
        for j in range(h.shape[1]):
            v = h[i, j] + b[j]
            h[i, j] = v if v > _ZERO else _ZERO


@numba.njit(**_PAR)
def bias_xent_mean(z, b, labels):
    """mean over rows of logsumexp(z[i] + b) - (z[i, label] + b[label])."""
    n, k = z.shape
    losses = np.empty(n, np.float32)
    for i in prange(n):
        mx = _NINF
        for j in range(k):
            v = z[i, j] + b[j]
            mx = v if v > mx else mx
        s = _ZERO
        for j in range(k):
            s += np.exp(z[i, j] + b[j] - mx)
        t = labels[i]
        losses[i] = np.log(s) + mx - (z[i, t] + b[t])
    total = 0.0
    for i in range(n):
        total += losses[i]
    return np.float32(total / n)


def mlp_loss(x, labels, w1, b1, w2, b2, w3, b3):
    h1 = x @ w1
    bias_relu_inplace(h1, b1)
    h2 = h1 @ w2
    bias_relu_inplace(h2, b2)
    return np.float32(bias_xent_mean(h2 @ w3, b3, labels))


# -- W6: dispatch -----------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def fma(a, b, c):
    return a * b + c
