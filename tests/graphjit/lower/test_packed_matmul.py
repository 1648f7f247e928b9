"""MatMul by constant weights with few rows: the packed loop kernel (graphjit.lower.
packed_matmul) equals the reference interpreter on odd sizes, transposed weights, K=1,
float32 and float64, with several fetched values; more rows, or weights that are not
constant, stay BLAS calls."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower import packed_matmul

K = 5
RNG = np.random.default_rng(7)


def _graph(dtype):
    """Products of one fed input by constant weights: N of 7 and 6 (not multiples of
    the tile's columns), transposed weights, K=1, a bias and relu after one, and a
    product by a fed (not constant) matrix, which stays BLAS's."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [None, K])
        x1 = tf.placeholder(dtype, [None, 1])
        w = tf.placeholder(dtype, [K, 3])
        w1 = tf.constant(RNG.standard_normal((K, 7)).astype(dtype))
        w2 = tf.constant(RNG.standard_normal((6, K)).astype(dtype))
        w3 = tf.constant(RNG.standard_normal((1, 9)).astype(dtype))
        bias = tf.constant(RNG.standard_normal(7).astype(dtype))
        fetches = [tf.nn.relu(tf.matmul(x, w1) + bias), tf.matmul(x, w2, transpose_b=True),
                   tf.matmul(x1, w3), tf.matmul(x, w), tf.matmul(x, w1)]
    return (x, x1, w), fetches


@pytest.fixture(scope="module", params=["float32", "float64"])
def compiled(request):
    feeds, fetches = _graph(np.dtype(request.param).type)
    return request.param, feeds, fetches, tf.compile(fetches, feeds=list(feeds))


@pytest.mark.parametrize("rows", [1, 3, packed_matmul.MAX_ROWS - 1, packed_matmul.MAX_ROWS,
                                  packed_matmul.MAX_ROWS + 1])
def test_products_by_constant_weights_equal_the_reference(compiled, rows):
    dtype, feeds, fetches, fn = compiled
    arrays = [RNG.standard_normal((rows, K)).astype(dtype),
              RNG.standard_normal((rows, 1)).astype(dtype),
              RNG.standard_normal((K, 3)).astype(dtype)]
    got = fn(*arrays)
    want = evaluate(fetches, dict(zip(feeds, arrays)))
    tol = 1e-5 if dtype == "float32" else 1e-12
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_the_rule_picks_the_packed_kernel_for_few_rows_only(compiled):
    dtype, feeds, fetches, fn = compiled
    few = fn.ir("loops", shapes=[(3, K), (3, 1), (K, 3)])
    rows = packed_matmul.MAX_ROWS + 1
    many = fn.ir("loops", shapes=[(rows, K), (rows, 1), (K, 3)])
    assert few.count("extern matmul") == 1  # the product by the fed matrix
    assert few.count("reduce_muladd") > 0
    # (the second x @ w1 is the first one's, CSE: four products)
    assert many.count("extern matmul") == 4 and "reduce_muladd" not in many


def test_a_kernel_of_k_1_and_n_not_a_multiple_of_the_tile_runs_alone():
    """The kernel itself, compiled and called as the runtime calls it."""
    from codegen.numba_backend import compile_kernel
    a = RNG.standard_normal((33, 1)).astype(np.float32)
    w = RNG.standard_normal((1, 5)).astype(np.float32)
    kernel = packed_matmul.packed_matmul_kernel("matmul_k1", "float32", 1, 5)
    out = np.empty((33, 5), np.float32)
    compile_kernel(kernel).fn(a, np.ascontiguousarray(w.T), out)
    np.testing.assert_allclose(out, a @ w, rtol=1e-6)
