"""Memory stays bounded: kernels no function uses are released by the backend."""

from __future__ import annotations

import gc
import weakref
from contextlib import contextmanager

import numpy as np

import graphjit as tf
from codegen import numba_backend
from graphjit.interpreter import evaluate


def _dense(scale: float = 1.0):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        w = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        y = tf.reduce_sum(tf.tanh(tf.matmul(x, w) * scale + 0.5), axis=1)
    return graph, x, y


def _batch(n: int) -> np.ndarray:
    return np.linspace(-1, 1, n * 4, dtype=np.float32).reshape(n, 4)


def _check(fn, x, y, n: int) -> None:
    expected = evaluate([y], {x: _batch(n)})[0]
    np.testing.assert_allclose(fn(_batch(n)), expected, rtol=1e-5, atol=1e-6)


@contextmanager
def _no_gc():
    """Frees must come from reference counts alone: a cycle would wait for the collector."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_kernels_no_function_uses_are_released(monkeypatch):
    monkeypatch.setattr(numba_backend, "KEEP_RECENT", 0)
    graph, x, y = _dense(scale=1.2345)  # a literal no other test's kernel has
    fn = tf.compile(graph, fetches=y, feeds=[x])
    _check(fn, x, y, 3)
    steps = [s for s in fn.kernels if s.compiled is not None and s.kind == "kernel"]
    assert steps
    keys = [numba_backend.kernel_hash(s.kernel) for s in steps]
    assert all(k in numba_backend._live for k in keys)
    dispatchers = [weakref.ref(s.compiled.fn) for s in steps]
    del steps
    with _no_gc():
        del fn
        assert not any(k in numba_backend._live for k in keys)
        assert [d() for d in dispatchers] == [None] * len(dispatchers)
    fn = tf.compile(graph, fetches=y, feeds=[x])  # compiled (or loaded) again, and right
    _check(fn, x, y, 5)


def test_recently_used_kernels_outlive_their_function():
    graph, x, y = _dense(scale=0.875)
    fn = tf.compile(graph, fetches=y, feeds=[x])
    _check(fn, x, y, 3)
    del fn
    before = numba_backend.compile_count
    fn = tf.compile(graph, fetches=y, feeds=[x])
    _check(fn, x, y, 4)
    assert numba_backend.compile_count == before  # kept among the KEEP_RECENT
