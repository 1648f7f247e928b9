"""A conv of few input channels and the max pool after it (with the pool's bias and relu)
as one kernel (graphjit.lower.conv_pool): which graphs get it, which keep im2col + GEMM
and the pool apart, and compiled results against the reference interpreter either way."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower.program import lower
from graphjit.passes.manager import optimize
from runtime.plan import EXTERN

RNG = np.random.default_rng(0)


def _cnn(hwc, fshape, stride=1, padding="SAME", dilation=1, pool=(2, 2, "VALID"),
         avg=False, relu=True):
    """x -> conv -> (+ b, relu) -> pool, written as TF1 code writes a conv layer (the
    optimizer moves the bias and relu after the max pool)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, *hwc], name="x")
        f = tf.constant(RNG.standard_normal(fshape).astype(np.float32))
        b = tf.constant(RNG.standard_normal(fshape[-1]).astype(np.float32))
        conv = tf.nn.conv2d(x, f, [1, stride, stride, 1], padding,
                            dilations=[1, dilation, dilation, 1], name="conv")
        h = tf.nn.relu(conv + b) if relu else conv
        k, s, pad = pool
        pool_fn = tf.nn.avg_pool if avg else tf.nn.max_pool
        y = pool_fn(h, [1, k, k, 1], [1, s, s, 1], pad)
    return g, x, conv, y


def _steps(fetches, x, hwc):
    """The plan's steps after the optimizer (which moves bias and relu past the pool)."""
    g = x.graph
    new, report = optimize(g, fetches, keep=[x])
    return lower([report.lookup(t) for t in fetches], [report.lookup(x)],
                 [(2, *hwc)]).steps


def _fused(steps) -> list:
    return [s for s in steps if s.name.startswith("conv_pool")]


def _conv_apart(steps) -> bool:
    """The conv has steps of its own: im2col + GEMM, or a packed conv kernel
    (graphjit.lower.conv_tile)."""
    return any("conv" in s.ops for s in steps if not s.name.startswith("conv_pool"))


def _check(g, x, fetches, hwc):
    fn = tf.compile(g, fetches=fetches)
    for batch in (1, 3):
        feed = RNG.standard_normal((batch, *hwc)).astype(np.float32)
        got = fn(feed)
        got = got if isinstance(got, (list, tuple)) else [got]
        for g_, w in zip(got, evaluate(fetches, {x: feed})):
            np.testing.assert_allclose(g_, w, rtol=1e-4, atol=1e-5)


# (input HWC, filter, conv stride, conv padding, dilation, pool (k, stride, padding))
FUSED = [
    ((8, 8, 1), (3, 3, 1, 4), 1, "SAME", 1, (2, 2, "VALID")),  # the cnn's first layer
    ((9, 7, 2), (3, 3, 2, 5), 1, "SAME", 1, (2, 2, "VALID")),  # odd sizes: last row unpooled
    ((9, 9, 1), (3, 2, 1, 3), 2, "VALID", 1, (2, 1, "VALID")),  # overlapping windows
    ((10, 10, 1), (2, 2, 1, 3), 1, "SAME", 2, (2, 2, "SAME")),  # SAME pool, no padding
    ((6, 6, 3), (1, 1, 3, 8), 1, "VALID", 1, (2, 2, "VALID")),  # a pointwise conv
]


@pytest.mark.parametrize("hwc, fshape, stride, padding, dilation, pool", FUSED)
def test_conv_and_its_max_pool_are_one_kernel(hwc, fshape, stride, padding, dilation, pool):
    g, x, conv, y = _cnn(hwc, fshape, stride, padding, dilation, pool)
    steps = _steps([y], x, hwc)
    (fused,) = _fused(steps)
    assert len(fused.ops) == 4  # conv, pool, bias add, relu
    assert not any(s.kind == EXTERN for s in steps)  # no GEMM left
    _check(g, x, [y], hwc)


def test_without_relu_the_pool_alone_joins_the_conv():
    hwc = (8, 8, 1)
    g, x, conv, y = _cnn(hwc, (3, 3, 1, 4), relu=False)
    (fused,) = _steps([y], x, hwc)
    assert fused.name.startswith("conv_pool") and len(fused.ops) == 2
    _check(g, x, [y], hwc)


APART = [
    # a pool window over the conv output's padding (SAME, 5x5 -> 3x3 at stride 2)
    ((5, 5, 1), (3, 3, 1, 4), 1, "SAME", 1, (2, 2, "SAME"), False),
    # 16 input channels: a 4x4x16 patch, a GEMM deep enough for BLAS
    ((8, 8, 16), (3, 3, 16, 4), 1, "SAME", 1, (2, 2, "VALID"), False),
    # an average pool
    ((8, 8, 1), (3, 3, 1, 4), 1, "SAME", 1, (2, 2, "VALID"), True),
]


@pytest.mark.parametrize("hwc, fshape, stride, padding, dilation, pool, avg", APART)
def test_conv_and_pool_stay_apart(hwc, fshape, stride, padding, dilation, pool, avg):
    g, x, conv, y = _cnn(hwc, fshape, stride, padding, dilation, pool, avg=avg)
    steps = _steps([y], x, hwc)
    assert _conv_apart(steps) and not _fused(steps)
    _check(g, x, [y], hwc)


def test_a_fetched_conv_output_splits_the_kernel_again():
    hwc = (8, 8, 1)
    g, x, conv, y = _cnn(hwc, (3, 3, 1, 4))
    steps = _steps([y, conv], x, hwc)
    assert _conv_apart(steps) and not _fused(steps)  # (needs the conv)
    _check(g, x, [y, conv], hwc)


def test_a_conv_output_read_twice_is_not_fused():
    hwc = (8, 8, 1)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, *hwc], name="x")
        f = tf.constant(RNG.standard_normal((3, 3, 1, 4)).astype(np.float32))
        conv = tf.nn.conv2d(x, f, [1, 1, 1, 1], "SAME", name="conv")
        pooled = tf.nn.max_pool(conv, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
        y = tf.reduce_sum(pooled) + tf.reduce_sum(conv)
    steps = _steps([y], x, hwc)
    assert _conv_apart(steps) and not _fused(steps)
    _check(g, x, [y], hwc)


def test_a_training_graph_keeps_results_the_gradients_read():
    """The conv output is read by the pool and by MaxPoolGrad: not fused; the pool's
    bias-add result is read by the relu's gradient as well: stored by the pool kernel."""
    hwc = (8, 8, 1)
    g, x, conv, y = _cnn(hwc, (3, 3, 1, 4))
    with g.as_default():
        f = conv.op.inputs[1]
        loss = tf.reduce_sum(y * y)
        grads = tf.gradients(loss, [x, f])
    _check(g, x, [loss, *grads], hwc)


def test_float64_conv_and_pool_are_one_kernel():
    hwc = (6, 6, 2)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, *hwc], name="x")
        f = tf.constant(RNG.standard_normal((3, 3, 2, 3)))
        y = tf.nn.max_pool(tf.nn.conv2d(x, f, [1, 1, 1, 1], "SAME"), [1, 2, 2, 1],
                           [1, 2, 2, 1], "VALID")
    assert len(_fused(_steps([y], x, hwc))) == 1
    fn = tf.compile(g, fetches=[y])
    feed = RNG.standard_normal((2, *hwc))
    np.testing.assert_allclose(fn(feed)[0], evaluate([y], {x: feed})[0], rtol=1e-12)
