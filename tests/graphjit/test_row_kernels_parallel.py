"""Parallel row kernels (softmax, log-softmax, layer norm, moments, row max), whose
passes codegen.pipeline overlaps across rows, equal the reference interpreter: few rows
(a chunk of one row) and many, odd row lengths, float32 and float64, rows of -inf, inf,
NaN and large values, several fetched values. Each shape is large enough for a parallel
row loop run in chunks (lower.emit.PARALLEL_MIN_ELEMENTS), and the kernels are
shape-generic: one compile per graph and dtype runs every shape."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower.emit import PARALLEL_MIN_ELEMENTS


def _softmax_family(x):
    return [tf.nn.softmax(x), tf.nn.log_softmax(x), tf.reduce_max(x, axis=1)]


def _norms(x):
    mean, var = tf.nn.moments(x, axes=[1], keepdims=True)
    normed = tf.nn.layer_normalization(x, epsilon=1e-5)
    # (a sum of squares: a plain sum of normed values cancels to rounding noise)
    return [normed, (x - mean) * tf.math.rsqrt(var + 1e-3),
            tf.reduce_sum(normed * normed, axis=1)]


GRAPHS = {"softmax": _softmax_family, "norms": _norms}


def _inputs(rows: int, cols: int, dtype, rng) -> np.ndarray:
    x = rng.standard_normal((rows, cols)) * 4
    x[rows // 2] = -np.inf
    if rows >= 7:
        x[2, cols // 2] = np.inf
        x[3, 0] = np.nan
        x[5] = x[5] * 1e30  # large values (inf in float32 where they overflow)
    return x.astype(dtype)


@pytest.fixture(scope="module", params=[(g, d) for g in GRAPHS for d in ("float32", "float64")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def compiled(request):
    name, dtype = request.param
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(getattr(tf, dtype), [None, None], name="x")
        fetches = GRAPHS[name](x)
    return x, fetches, tf.compile(g, fetches=fetches), np.dtype(dtype)


SHAPES = [(2, 17000), (3, 11000), (7, 5000), (40, 1023), (1930, 17), (10930, 3), (33000, 1)]


def test_the_shapes_give_parallel_row_loops():
    smallest = min(rows * cols for rows, cols in SHAPES)
    assert smallest >= PARALLEL_MIN_ELEMENTS and min(r for r, _ in SHAPES) > 1


@pytest.mark.parametrize(("rows", "cols"), SHAPES)
def test_parallel_row_kernels_match_the_interpreter(compiled, rows, cols):
    x, fetches, fn, dtype = compiled
    data = _inputs(rows, cols, dtype, np.random.default_rng(rows * 1000 + cols))
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    with np.errstate(all="ignore"):
        want = evaluate(fetches, {x: data})
    for got, ref in zip(fn(data), want):
        assert got.dtype == ref.dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol, equal_nan=True)


@pytest.fixture
def helpers_always(monkeypatch):
    """Every chunked call wakes all the budget's threads, whatever the machine's
    load: the guided chunks (codegen.parallel.chunk_size) then split the rows unevenly."""
    from codegen import parallel, wake_cost
    monkeypatch.setattr(parallel.Site, "threads", lambda self, work, available: available)
    monkeypatch.setattr(wake_cost, "busy", lambda: False)
    seen = []
    monkeypatch.setattr(parallel, "_chunk_observer", None)
    parallel.observe_chunks(lambda name, lo, hi, *_: seen.append((lo, hi)))
    yield seen
    parallel.observe_chunks(None)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize(("rows", "cols", "view"), [
    (1, 40000, "plain"), (2, 17000, "plain"), (33, 1023, "plain"), (1930, 17, "plain"),
    (10930, 3, "plain"), (33000, 1, "plain"), (97, 2048, "every other column"),
    (97, 1024, "every other row")])
def test_row_kernels_on_guided_chunks_match_the_interpreter(compiled, helpers_always, set_threads,
                                                             threads, rows, cols, view):
    set_threads(threads)
    x, fetches, fn, dtype = compiled
    data = _inputs(rows * (2 if view == "every other row" else 1), cols, dtype,
                   np.random.default_rng(rows + cols))
    data = {"plain": data, "every other column": data[:, ::2],
            "every other row": data[::2]}[view]
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    with np.errstate(all="ignore"):
        want = evaluate(fetches, {x: data})
    for _ in range(2):  # (the first call of a shape measures its site)
        helpers_always.clear()
        got_all = fn(data)
        for got, ref in zip(got_all, want):
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol, equal_nan=True)
    if rows > 1 and rows * cols >= PARALLEL_MIN_ELEMENTS:
        assert len(helpers_always) > 1  # split: chunks of unequal rows, not one call
