"""Convolutions by constant filters as packed tiles reading the input
(graphjit.lower.conv_tile): compiled results against the reference interpreter with
padding, strides, dilation, odd channel counts, float64 and the tile shapes of other
CPUs; which convs keep im2col + BLAS (fed filters, training graphs, the tier's first
calls)."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower import conv_tile, packed_matmul
from graphjit.lower.program import lower
from graphjit.ops.conv import _conv2d_reference
from runtime.plan import EXTERN

RNG = np.random.default_rng(3)


@pytest.fixture(scope="module", autouse=True)
def packed_from_the_first_call():
    """The tile from a plan's first call (no BLAS-first tier)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 0)
        yield


def _conv(hwc, fshape, stride=1, padding="SAME", dilation=1, dtype=np.float32,
          fed_filter=False):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [None, *hwc], name="x")
        f = tf.placeholder(dtype, fshape, name="f") if fed_filter else \
            tf.constant(RNG.standard_normal(fshape).astype(dtype))
        y = tf.nn.conv2d(x, f, [1, stride, stride, 1], padding,
                         dilations=[1, dilation, dilation, 1], name="conv")
    return g, x, f, y


def _steps(y, x, hwc, f=None):
    feeds = [x] + ([f] if f is not None else [])
    shapes = [(2, *hwc)] + ([tuple(f.shape)] if f is not None else [])
    return lower([y], feeds, shapes).steps


def _tiled(steps) -> bool:
    return any(s.name.startswith("conv_") and s.kind != EXTERN for s in steps)


# (input HWC, filter (kh, kw, cin, cout), stride, padding, dilation)
CASES = [
    ((6, 5, 3), (3, 3, 3, 5), 1, "SAME", 1),  # Cout under a vector: masked stores
    ((7, 7, 1), (3, 2, 1, 3), 2, "VALID", 1),
    ((8, 6, 2), (3, 3, 2, 33), 2, "SAME", 1),  # even input, stride 2: padding after only
    ((7, 6, 2), (2, 2, 2, 17), 1, "SAME", 2),  # dilation; 17 columns: two vectors
    ((4, 5, 3), (1, 1, 3, 6), 1, "SAME", 1),  # pointwise
    ((5, 5, 16), (3, 3, 16, 32), 1, "SAME", 1),  # the cnn's second conv, smaller
    ((2, 3, 2), (3, 3, 2, 4), 1, "SAME", 1),  # a filter beyond the input: every tap checked
    ((3, 3, 8), (3, 3, 8, 4), 1, "VALID", 1),  # a deep K (72) in one cell
]


@pytest.mark.parametrize("hwc, fshape, stride, padding, dilation", CASES)
def test_convs_by_constant_filters_are_one_tile_kernel(hwc, fshape, stride, padding,
                                                       dilation):
    g, x, f, y = _conv(hwc, fshape, stride, padding, dilation)
    steps = _steps(y, x, hwc)
    assert _tiled(steps) and not any(s.kind == EXTERN for s in steps)
    fn = tf.compile(g, fetches=[y])
    for batch in (1, 3, 0):  # (3 images of 6x5: 90 rows, a second row block)
        feed = RNG.standard_normal((batch, *hwc)).astype(np.float32)
        (want,) = evaluate([y], {x: feed})
        np.testing.assert_allclose(fn(feed)[0], want, rtol=1e-4, atol=1e-5)


def test_float64():
    hwc = (5, 4, 2)
    g, x, f, y = _conv(hwc, (3, 3, 2, 3), dtype=np.float64)
    assert _tiled(_steps(y, x, hwc))
    fn = tf.compile(g, fetches=[y])
    feed = RNG.standard_normal((2, *hwc))
    (want,) = evaluate([y], {x: feed})
    np.testing.assert_allclose(fn(feed)[0], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 16, 8), (4, 8, 4), (2, 4, 2), (1, 8, 8)])
def test_other_cpus_tile_shapes(shape):
    """AVX2's and SSE's tiles (which any x86 CPU runs): rows past the last clamped,
    columns past Cout masked, with padding on every side."""
    from codegen.numba_backend import compile_kernel
    hwc, fshape = (5, 4, 3), (3, 3, 3, 5)
    op = _conv(hwc, fshape)[3].op
    shapes = {op.inputs[0]: (2, *hwc), op.inputs[1]: fshape, op.outputs[0]: (2, 5, 4, 5)}
    geom = conv_tile.geometry(op, shapes)
    kernel = conv_tile.conv_tile_kernel("c", "float32", geom, packed_matmul.Epilogue(),
                                        shape, False)
    fn = compile_kernel(kernel).fn
    x = RNG.standard_normal((3, *hwc)).astype(np.float32)
    w = RNG.standard_normal(fshape).astype(np.float32)
    out = np.full((3, 5, 4, 5), 7, np.float32)
    fn(x, packed_matmul.pack_panels(w.reshape(-1, 5), shape[1]), out)
    want = _conv2d_reference(x, w, strides=[1, 1, 1, 1], padding="SAME",
                             dilations=[1, 1, 1, 1])
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 16, 8), (4, 8, 4), (8, 8, 4)])
def test_other_cpus_tile_shapes_with_a_pool(shape):
    """The max pool's windows in tiles of 4 and 8 rows (AVX2's 4x16, SSE's 4x8),
    columns past Cout masked; the bias and relu after the pool's max, both stored."""
    from codegen.numba_backend import compile_kernel
    hwc, fshape = (6, 7, 3), (3, 3, 3, 5)
    op = _conv(hwc, fshape)[3].op
    pool = tf.nn.max_pool(op.outputs[0], [1, 2, 2, 1], [1, 2, 2, 1], "VALID").op
    shapes = {op.inputs[0]: (2, *hwc), op.inputs[1]: fshape, op.outputs[0]: (2, 6, 7, 5),
              pool.outputs[0]: (2, 3, 3, 5)}
    geom = conv_tile.geometry(op, shapes, pool)
    epi = packed_matmul.Epilogue(bias=True, relu=True, stores=(0, 2))
    fn = compile_kernel(conv_tile.conv_tile_kernel("c", "float32", geom, epi, shape,
                                                   False)).fn
    x = RNG.standard_normal((3, *hwc)).astype(np.float32)
    w = RNG.standard_normal(fshape).astype(np.float32)
    bias = RNG.standard_normal(5).astype(np.float32)
    pooled, relu = np.full((3, 3, 3, 5), 7, np.float32), np.full((3, 3, 3, 5), 7, np.float32)
    fn(x, packed_matmul.pack_panels(w.reshape(-1, 5), shape[1]), bias, pooled, relu)
    conv = _conv2d_reference(x, w, strides=[1, 1, 1, 1], padding="SAME",
                             dilations=[1, 1, 1, 1])
    want = conv[:, :6, :6].reshape(3, 3, 2, 3, 2, 5).max(axis=(2, 4))
    np.testing.assert_allclose(pooled, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(relu, np.maximum(want + bias, 0), rtol=1e-4, atol=1e-5)


def test_a_fed_filter_keeps_im2col_and_blas():
    hwc = (5, 5, 2)
    g, x, f, y = _conv(hwc, (3, 3, 2, 4), fed_filter=True)
    steps = _steps(y, x, hwc, f)
    assert not _tiled(steps) and any(s.kind == EXTERN for s in steps)


def test_the_tier_first_plans_im2col_and_blas():
    hwc = (5, 5, 2)
    g, x, f, y = _conv(hwc, (3, 3, 2, 4))
    with packed_matmul.blas_first() as deferred:
        steps = _steps(y, x, hwc)
    assert deferred.found and not _tiled(steps)


def _loss_and_grads(hwc, value, variable: bool):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, *hwc], name="x")
        f = tf.Variable(value) if variable else tf.constant(value)
        y = tf.nn.conv2d(x, f, [1, 1, 1, 1], "SAME")
        loss = tf.reduce_sum(y * y)
        fetches = [y, loss, *tf.gradients(loss, [x, f])]
    return g, x, fetches


def test_a_training_graph_keeps_im2col_and_blas():
    """A Variable filter changes between runs: not packed; results and gradients agree
    with the reference's on the same filter as a constant."""
    hwc = (5, 5, 2)
    value = RNG.standard_normal((3, 3, 2, 4)).astype(np.float32)
    g, x, fetches = _loss_and_grads(hwc, value, variable=True)
    feed = RNG.standard_normal((2, *hwc)).astype(np.float32)
    with g.as_default(), tf.Session(graph=g) as sess:
        sess.run(tf.global_variables_initializer())
        fn = tf.compile(fetches, feeds=[x], state=sess.state)
        got = fn(feed)
    assert not _tiled(fn.kernels)
    g2, x2, fetches2 = _loss_and_grads(hwc, value, variable=False)
    for got_, want in zip(got, evaluate(fetches2, {x2: feed})):
        np.testing.assert_allclose(got_, want, rtol=1e-4, atol=1e-3)


def _conv_pool(hwc, fshape, pool=(2, 2, "VALID"), relu=True, dtype=np.float32,
               dilation=1):
    """x -> conv -> + b -> relu -> max pool (the optimizer moves the bias and relu past
    the pool, into its epilogue)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [None, *hwc], name="x")
        f = tf.constant(RNG.standard_normal(fshape).astype(dtype))
        b = tf.constant(RNG.standard_normal(fshape[-1]).astype(dtype))
        conv = tf.nn.conv2d(x, f, [1, 1, 1, 1], "SAME", name="conv",
                            dilations=[1, dilation, dilation, 1])
        h = tf.nn.relu(conv + b) if relu else conv
        k, s, pad = pool
        y = tf.nn.max_pool(h, [1, k, k, 1], [1, s, s, 1], pad)
    return g, x, conv, y


def _optimized_steps(fetches, x, hwc):
    from graphjit.passes.manager import optimize
    new, report = optimize(x.graph, fetches, keep=[x])
    return lower([report.lookup(t) for t in fetches], [report.lookup(x)],
                 [(2, *hwc)]).steps


def _check(g, x, fetches, hwc, tol=1e-5):
    fn = tf.compile(g, fetches=fetches)
    for batch in (1, 3):
        feed = RNG.standard_normal((batch, *hwc)).astype(x.dtype.np)
        feed[0, 0, 0, 0] = np.nan  # a NaN cell: NaN in its window's max, as the reference's
        for got, want in zip(fn(feed), evaluate(fetches, {x: feed})):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# (input HWC, filter, pool (k, stride, padding), dilation); 16 input channels, or 2
# dilated: a patch too large for graphjit.lower.conv_pool's kernel
POOLED = [
    ((8, 8, 16), (3, 3, 16, 4), (2, 2, "VALID"), 1),
    ((9, 7, 16), (3, 3, 16, 33), (2, 2, "VALID"), 1),  # odd sizes: the last row unpooled
    ((6, 6, 16), (3, 3, 16, 5), (2, 3, "VALID"), 1),  # windows apart: cells skipped
    ((8, 8, 16), (3, 3, 16, 4), (1, 1, "VALID"), 1),  # a 1x1 pool
    ((9, 8, 2), (3, 3, 2, 5), (2, 2, "VALID"), 2),  # K of 18: the unrolled steps
]


@pytest.mark.parametrize("hwc, fshape, pool, dilation", POOLED)
def test_the_max_pool_after_a_tiled_conv_joins_its_kernel(hwc, fshape, pool, dilation):
    g, x, conv, y = _conv_pool(hwc, fshape, pool, dilation=dilation)
    steps = _optimized_steps([y], x, hwc)
    (step,) = [s for s in steps if "conv" in s.ops]
    assert step.name.startswith("conv_conv") and len(step.ops) == 4  # conv, pool, add, relu
    assert len(steps) == 1
    _check(g, x, [y], hwc)


def test_without_relu_the_pool_alone_joins():
    hwc = (6, 6, 16)
    g, x, conv, y = _conv_pool(hwc, (3, 3, 16, 4), relu=False)
    (step,) = _optimized_steps([y], x, hwc)
    assert len(step.ops) == 2
    _check(g, x, [y], hwc)


def test_float64_conv_and_pool():
    hwc = (6, 6, 16)
    g, x, conv, y = _conv_pool(hwc, (3, 3, 16, 3), dtype=np.float64)
    assert len(_optimized_steps([y], x, hwc)) == 1
    _check(g, x, [y], hwc, tol=1e-12)


APART = [
    ((5, 5, 16), (3, 3, 16, 4), (2, 2, "SAME")),  # a window over the conv output's padding
    ((8, 8, 16), (3, 3, 16, 4), (2, 1, "VALID")),  # overlapping windows
    ((9, 9, 16), (3, 3, 16, 4), (3, 3, "VALID")),  # 9 cells: not whole windows in a tile
]


@pytest.mark.parametrize("hwc, fshape, pool", APART)
def test_pools_that_do_not_fit_stay_apart(hwc, fshape, pool):
    g, x, conv, y = _conv_pool(hwc, fshape, pool)
    steps = _optimized_steps([y], x, hwc)
    (step,) = [s for s in steps if "conv" in s.ops]
    assert step.ops == ("conv",) and _tiled(steps)
    _check(g, x, [y], hwc)


def test_a_fetched_conv_output_splits_the_kernel_again():
    hwc = (6, 6, 16)
    g, x, conv, y = _conv_pool(hwc, (3, 3, 16, 4))
    steps = _optimized_steps([y, conv], x, hwc)
    (step,) = [s for s in steps if "conv" in s.ops]
    assert step.ops == ("conv",) and _tiled(steps)
    _check(g, x, [y, conv], hwc)


def test_a_training_graph_of_conv_and_pool_agrees():
    """The conv output is read by MaxPoolGrad too: the conv kernel stays apart."""
    hwc = (6, 6, 16)
    g, x, conv, y = _conv_pool(hwc, (3, 3, 16, 4))
    with g.as_default():
        loss = tf.reduce_sum(y * y)
        grads = tf.gradients(loss, [x, conv.op.inputs[1]])
    fn = tf.compile(g, fetches=[loss, *grads])
    feed = RNG.standard_normal((2, *hwc)).astype(np.float32)
    for got, want in zip(fn(feed), evaluate([loss, *grads], {x: feed})):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
