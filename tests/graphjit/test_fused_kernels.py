"""Fused row kernels with several fetched values: each equals the reference interpreter.

Wave 1's row kernels parked a reduction's input in an output buffer and overwrote
it before a sibling consumer read it; these graphs are the cases found, compiled
and compared with `graphjit.interpreter.evaluate`. And lowering stays linear in
graph depth (it was exponential for row regions with a full-size output).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate

ROW = np.array([[0.0, 1.0, 2.0, 3.0], [-1.0, 0.5, 0.25, 4.0]], np.float32)


def _tanh_softmax_plus_one(t):
    return [tf.nn.softmax(t), t + 1.0]


def _tanh_log_softmax_plus_one(t):
    return [tf.nn.log_softmax(t), t * 2.0]


def _tanh_layer_norm_and_square(t):
    return [tf.nn.layer_normalization(t), tf.square(t), t - 1.0]


def _single_fetch_sum_of_softmax_and_double(t):
    return [tf.reduce_sum(tf.nn.softmax(t)) + tf.reduce_sum(t * 2.0)]


def _softmax_then_its_input(t):
    return [t * 3.0, tf.nn.softmax(t), tf.exp(t)]


def _moments_and_centered(t):
    mean, var = tf.nn.moments(t, axes=[1], keepdims=True)
    return [mean, var, t - mean, tf.exp(t)]


GRAPHS = [_tanh_softmax_plus_one, _tanh_log_softmax_plus_one, _tanh_layer_norm_and_square,
          _single_fetch_sum_of_softmax_and_double, _softmax_then_its_input,
          _moments_and_centered]


@pytest.mark.parametrize("make", GRAPHS, ids=lambda f: f.__name__.strip("_"))
def test_row_kernel_with_sibling_consumers_matches_reference(make):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4])
        fetches = make(tf.tanh(x))
    compiled = tf.compile(g, fetches=fetches)(ROW)
    compiled = compiled if isinstance(compiled, (list, tuple)) else [compiled]
    for got, want in zip(compiled, evaluate(fetches, {x: ROW})):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradient_of_max_through_tanh_matches_reference():
    """The Equal mask was stored over tanh's parked values; Tanh's gradient read the mask."""
    g = tf.Graph()
    with g.as_default():
        a = tf.placeholder(tf.float32, [4, 5])
        grad = tf.gradients(tf.reduce_max(tf.tanh(a), axis=1), a)[0]
    x = np.random.default_rng(0).random((4, 5)).astype(np.float32) + 0.5
    got = tf.compile(g, fetches=grad)(x)
    want = evaluate([grad], {a: x})[0]
    assert np.count_nonzero(want) == 4  # one maximum per row
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_parked_values_are_visible_in_the_loop_ir():
    g = tf.Graph()
    with g.as_default():
        t = tf.tanh(tf.placeholder(tf.float32, [2, 4]))
        fn = tf.compile(g, fetches=[tf.nn.softmax(t), t + 1.0])
    assert "{v0}[" in fn.ir("loops")  # the IR names what the output buffer holds


def _deep_row_graph(depth: int):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 4])
        y = x
        for _ in range(depth):
            y = y * y + y
        s = tf.reduce_sum(y, -1)
    return g, x, [y, s]


def test_planning_a_deep_row_region_is_linear():
    """34 ops planned in 227 s in wave 1 (exponential in depth); with the kernel already
    compiled (first call), planning it again takes well under a second."""
    g, x, fetches = _deep_row_graph(34)
    feed = np.full((3, 4), 1e-3, np.float32)
    want = evaluate(fetches, {x: feed})
    for got, w in zip(tf.compile(g, fetches=fetches)(feed), want):
        np.testing.assert_allclose(got, w, rtol=1e-5)
    start = time.perf_counter()
    tf.compile(g, fetches=fetches)(feed)
    assert time.perf_counter() - start < 1.0


def test_a_row_reduction_without_kept_dims_broadcasts_along_the_last_axis():
    """(n,) * (n, n) reads t[j], not the row's own t[i]: no row-scalar fusion for it
    (found by the random-graph fuzzer, seed 1 graph 111)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.int32, [5, 5])
        fetches = [tf.reduce_mean(x, axis=[1]) * x, tf.reduce_sum(x, axis=1) + x]
    feed = np.arange(-12, 13, dtype=np.int32).reshape(5, 5)
    for got, want in zip(tf.compile(g, fetches=fetches)(feed), evaluate(fetches, {x: feed})):
        np.testing.assert_array_equal(got, want)


def test_matmul_of_a_tensor_with_itself():
    """Both operands are one tensor: the GEMM still gets two arguments (fuzzer, F2)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 3])
        y = tf.matmul(x, x)
    feed = np.arange(9, dtype=np.float32).reshape(3, 3)
    np.testing.assert_allclose(tf.compile(g, fetches=y)(feed), feed @ feed, rtol=1e-6)


def test_a_reversed_slice_in_a_row_region_over_size_one_rows_keeps_its_reversal():
    """Reducing a size-1 last axis makes per-row and full-size shapes equal; the slice is
    full-size, not a row value evaluated at the row's own index (fuzzer, F4)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.int64, [5, 1, 1])
        both = tf.concat([x, x, x], -2)
        fetches = [tf.reduce_sum(both, axis=[2]), both[::-1, ::-1]]
    feed = np.array([-3, 1, 2, 1, 3], np.int64).reshape(5, 1, 1)
    for got, want in zip(tf.compile(g, fetches=fetches)(feed), evaluate(fetches, {x: feed})):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [tf.int64, tf.int8, tf.uint8])
def test_an_integer_mean_truncates_inside_fused_kernels(dtype):
    """TF's integer Mean truncates toward zero; a fused consumer sees that integer, not a
    float quotient (fuzzer, F3: trunc(-3 / 2) came back as -1.5, and integer consumers
    such as floormod failed to compile)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [3, 4])
        t = tf.placeholder(dtype, [3])
        fetches = [tf.cast(tf.reduce_mean(x, keepdims=True), tf.float64),
                   tf.reduce_mean(x, axis=-1) + t, tf.reduce_mean(x, keepdims=True) * x,
                   tf.floormod(tf.reduce_mean(x, axis=1), t), tf.reduce_mean(x, axis=0)]
    low = 0 if dtype == tf.uint8 else -9
    feed_x = np.arange(low, low + 12).reshape(3, 4).astype(dtype.name)
    feed_t = np.array([1, 2, 3], dtype.name)
    want = evaluate(fetches, {x: feed_x, t: feed_t})
    for got, expected in zip(tf.compile(g, fetches=fetches)(feed_x, feed_t), want):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def test_fusion_refuses_a_cycle_through_another_member_of_a_region():
    """`add` joins Sign's region and reads Sum, so that region runs after Sum's; NotEqual
    reads Sign and may not join Sum's region (a cycle through `add`, not through Sign
    itself: 'Sum:0 has no value in the plan', fuzzer F8)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [5])
        column = x[::-1, None]
        pair = tf.concat([column, column], -1)
        loss = tf.reduce_mean(tf.sign(column)) + tf.reduce_sum(pair)
        grad, = tf.gradients(loss, [x])
        fetches = [tf.not_equal(tf.sign(column), pair), grad, loss]
    feed = np.array([0.08, 0.23, 2.66, 0.61, -2.63], np.float32)
    for got, want in zip(tf.compile(g, fetches=fetches)(feed), evaluate(fetches, {x: feed})):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gradients_of_two_minimums_sharing_a_select_compile():
    """Fuzzer F5: both gradients fetched used to fail with 'has no value in the plan'."""
    g = tf.Graph()
    with g.as_default():
        s = tf.placeholder(tf.float32, [])
        x = tf.placeholder(tf.float32, [1, None, 3])
        i = tf.placeholder(tf.int32, [None])
        low = tf.minimum(tf.gather(x, i, axis=1), s)
        loss = tf.reduce_sum(low * low) + tf.reduce_sum(tf.square(tf.minimum(x, s)))
        fetches = tf.gradients(loss, [s, x])
    feeds = {s: np.float32(-0.44), x: np.array([[[0.43, -2.5, 1.9]]], np.float32),
             i: np.array([0], np.int32)}
    got = tf.compile(g, fetches=fetches, feeds=[s, x, i])(*feeds.values())
    for value, want in zip(got, evaluate(fetches, feeds)):
        np.testing.assert_allclose(value, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", [tf.int8, tf.int32, tf.uint8])
def test_integer_max_and_min_reach_the_ends_of_the_dtype(dtype):
    """An integer Max started at -MAX, one above MIN: a row of MIN gave MIN + 1, and uint8
    rows of zeros gave 1 (found by the lower.emit unit tests)."""
    info = np.iinfo(dtype.name)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [2, 3])
        fetches = [tf.reduce_max(x, axis=1), tf.reduce_max(x, axis=0), tf.reduce_min(x, axis=1),
                   tf.reduce_max(x)]
    feed = np.full((2, 3), info.min, dtype.name)
    feed[1, 2] = info.max
    for got, want in zip(tf.compile(g, fetches=fetches)(feed), evaluate(fetches, {x: feed})):
        np.testing.assert_array_equal(got, want)
