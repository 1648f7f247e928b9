"""Compiled results do not depend on the thread budget: an MLP (GEMMs under the BLAS
limit, chunked epilogues) and a softmax give the reference's numbers with one thread, with
several, and on a machine taken as busy."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from codegen import parallel, wake_cost


@pytest.fixture(scope="module")
def mlp():
    rng = np.random.default_rng(0)
    sizes = (32, 24, 10)
    g = tf.Graph()
    weights = [(rng.normal(size=(a, b)).astype(np.float32) * 0.3,
                rng.normal(size=b).astype(np.float32) * 0.1)
               for a, b in zip(sizes[:-1], sizes[1:])]
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, sizes[0]], name="x")
        h = x
        for i, (w, b) in enumerate(weights):
            h = tf.nn.bias_add(tf.matmul(h, tf.constant(w)), tf.constant(b))
            h = tf.nn.relu(h) if i < len(weights) - 1 else tf.nn.softmax(h, name="probs")
    return tf.compile(g), weights


def mlp_reference(x, weights):
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(weights):
        h = h @ w + b
        h = np.maximum(h, 0) if i < len(weights) - 1 else h
    e = np.exp(h - h.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("threads,busy", [(1, False), (2, False), (4, False), (2, True)])
def test_mlp_results_equal_the_reference_on_any_budget(set_threads, mlp, threads, busy,
                                                       monkeypatch):
    set_threads(threads)
    if busy:
        monkeypatch.setattr(wake_cost, "busy", lambda: True)
    fn, weights = mlp
    rng = np.random.default_rng(int(threads))
    for batch in (1, 7, 300):
        x = rng.normal(size=(batch, 32)).astype(np.float32)
        for _ in range(3):  # the first calls measure, the later ones choose threads
            np.testing.assert_allclose(fn(x), mlp_reference(x, weights),
                                       rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_softmax_is_the_same_whether_helpers_wake_or_not(set_threads, threads, monkeypatch):
    set_threads(threads)
    monkeypatch.setattr(wake_cost, "current", lambda: 1e-9)  # every call is worth helpers
    monkeypatch.setattr(wake_cost, "busy", lambda: False)  # whatever else runs meanwhile
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 64], name="x")
        tf.nn.softmax(x, name="probs")
    fn = tf.compile(g)
    x = np.random.default_rng(1).normal(size=(2000, 64)).astype(np.float32)
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max(-1, keepdims=True))
    want = e / e.sum(-1, keepdims=True)
    seen = []
    monkeypatch.setattr(parallel, "_chunk_observer", None)
    parallel.observe_chunks(lambda name, lo, hi, count, *_: seen.append(count))
    try:
        for _ in range(3):
            np.testing.assert_allclose(fn(x), want, rtol=1e-5, atol=1e-7)
    finally:
        parallel.observe_chunks(None)
    if threads == 2:  # measured, then split for helpers
        assert max(seen) >= 2
    else:
        assert set(seen) == {1}
