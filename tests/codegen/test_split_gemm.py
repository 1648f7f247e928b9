"""With POOL_SPLIT, GEMMs given more than one thread run as blocks on graphjit's pool,
each a one-thread BLAS call (codegen.blas.split_matmul): the blocks equal one BLAS call,
BLAS's own threads stay asleep, and a batched product or a one-thread choice is not
split. Timing decides nothing here: the site's choice is set."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from codegen import blas, numba_backend, parallel
from graphjit.interpreter import evaluate
from tests.codegen.test_backend import gemm_kernel

RNG = np.random.default_rng(5)
needs_blas = pytest.mark.skipif(not blas.blas_libraries(),
                                reason="threadpoolctl finds no BLAS library to limit")


@pytest.fixture
def two_threads(set_threads, monkeypatch):
    set_threads(2)
    monkeypatch.setattr(blas, "POOL_SPLIT", True)


def _chunks_seen():
    seen = []
    parallel.observe_chunks(lambda name, lo, hi, count, *_: seen.append((lo, hi, count)))
    return seen


@pytest.mark.parametrize("m,k,n,a_t,b_t", [
    (9, 5, 4, False, False),  # rows split (N <= M)
    (3, 5, 11, False, False),  # columns split
    (8, 6, 8, True, False),  # a a transposed view
    (7, 6, 13, False, True),  # b a transposed view
    (1, 4, 1, False, False),  # nothing to split
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocks_equal_one_product(two_threads, m, k, n, a_t, b_t, dtype):
    a = RNG.standard_normal((k, m) if a_t else (m, k)).astype(dtype)
    b = RNG.standard_normal((n, k) if b_t else (k, n)).astype(dtype)
    a, b = (a.T if a_t else a), (b.T if b_t else b)
    out = np.full((m, n), np.nan, dtype)
    seen = _chunks_seen()
    try:
        blas.split_matmul(a, b, out, 2)
    finally:
        parallel.observe_chunks(None)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5 if dtype == "float32" else 1e-12)
    assert len(seen) == (0 if m == n == 1 else 2)


def _spy_matmul(monkeypatch):
    seen = []
    real = np.matmul

    def spying(*args, **kw):
        seen.append((blas.blas_threads(), kw["out"].shape))
        return real(*args, **kw)
    monkeypatch.setattr(np, "matmul", spying)
    return seen


@needs_blas
@pytest.mark.parametrize("threads", [1, 2])
def test_the_generated_gemm_splits_only_when_given_threads(two_threads, tmp_path,
                                                           monkeypatch, threads):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    compiled = numba_backend.compile_kernel(gemm_kernel("split_gemm"))
    assert "as site:" in compiled.source and "site.matmul(" in compiled.source
    a, b = RNG.normal(size=(2, 16, 12)), RNG.normal(size=(10, 12))
    out = np.empty((2, 16, 10))
    monkeypatch.setattr(blas.GemmSite, "threads", lambda self, user: threads)
    seen = _spy_matmul(monkeypatch)
    compiled.call(a, b, out)
    monkeypatch.undo()
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-12)
    # one thread: one call; two: a block of the 32 rows each, BLAS on one thread
    assert [s for _, s in seen] == ([(32, 10)] if threads == 1 else [(16, 10)] * 2)
    assert all(t == 1 for t, _ in seen)


@needs_blas
def test_a_batched_product_is_not_split_and_gets_blas_threads(two_threads, monkeypatch):
    from threadpoolctl import threadpool_limits
    a, b = RNG.normal(size=(3, 4, 5)), RNG.normal(size=(3, 5, 6))
    out = np.empty((3, 4, 6))
    monkeypatch.setattr(blas.GemmSite, "threads", lambda self, user: min(user, 2))
    with threadpool_limits(2, user_api="blas"):
        seen = _spy_matmul(monkeypatch)
        with blas.GemmSite() as site:
            site.matmul(a, b, out=out)
        monkeypatch.undo()
        assert seen == [(2, (3, 4, 6))] and blas.blas_threads() == 2
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)


@needs_blas
def test_an_mlp_and_its_gradients_on_split_gemms_equal_the_reference(two_threads,
                                                                      monkeypatch):
    """Products in both orientations (x @ w, dz @ w.T, h.T @ dz), forward and backward."""
    monkeypatch.setattr(blas.GemmSite, "threads", lambda self, user: 2)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 6])
        w1 = tf.placeholder(tf.float64, [6, 9])
        w2 = tf.placeholder(tf.float64, [9, 3])
        h = tf.nn.relu(tf.matmul(x, w1))
        loss = tf.reduce_sum(tf.square(tf.matmul(h, w2)))
        fetches = [loss] + list(tf.gradients(loss, [x, w1, w2]))
    feeds = [x, w1, w2]
    fn = tf.compile(fetches, feeds=feeds)
    for rows in (1, 5, 13):
        arrays = [RNG.standard_normal(s) for s in ((rows, 6), (6, 9), (9, 3))]
        for got, want in zip(fn(*arrays), evaluate(fetches, dict(zip(feeds, arrays)))):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
