"""Every input by keyword (as ONNX callers pass them) takes the latest plan's runner,
in the feeds' order whatever the keywords' order; any other keyword call (out=, an
unknown or missing name, a mix with positional inputs) keeps the general path, its
conversions and its errors."""

from __future__ import annotations

# Numba loaded first: kernels load on its dispatcher (runners only call settled kernels).
import numba  # noqa: F401
import numpy as np
import pytest

import graphjit as tf
from graphjit.errors import FeedError


def _graph(names="abc"):
    g = tf.Graph()
    with g.as_default():
        a, b, c = (tf.placeholder(tf.float32, [8], name=s) for s in names)
        tf.add(a * b, c - a, name="y")
    return g


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(8, dtype=np.float32) for _ in range(3))


@pytest.fixture(scope="module")
def fn():
    fn = tf.compile(_graph())
    fn(*_inputs())  # plans and compiles: the runner is set
    return fn


def _no_general_path(fn, monkeypatch):
    def general(*args):
        raise AssertionError("the general path ran")
    monkeypatch.setattr(fn, "_call", general)


def test_keywords_in_any_order_take_the_runner(fn, monkeypatch):
    a, b, c = _inputs(1)
    with tf.Session(graph=fn.source_graph, engine="reference") as sess:
        want = sess.run("y:0", {"a:0": a, "b:0": b, "c:0": c})
    _no_general_path(fn, monkeypatch)
    np.testing.assert_allclose(fn(a=a, b=b, c=c), want, rtol=1e-6)
    np.testing.assert_allclose(fn(c=c, a=a, b=b), want, rtol=1e-6)
    np.testing.assert_allclose(fn(b=a, a=b, c=c), b * a + (c - b), rtol=1e-6)


def test_other_keyword_calls_keep_the_general_path(fn):
    a, b, c = _inputs(2)
    want = fn(a, b, c)
    out = np.empty(8, np.float32)
    assert fn(a=a, b=b, c=c, out=out) is out  # out= with every input: not the runner's
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(fn(a, b=b, c=c), want)  # mixed
    np.testing.assert_allclose(fn(a=a.astype(np.float64), b=b, c=c), want, rtol=1e-6)
    with pytest.raises(FeedError, match="unknown input 'd'"):
        fn(a=a, b=b, d=c)
    with pytest.raises(FeedError, match="missing input 'c'"):
        fn(a=a, b=b)
    with pytest.raises(FeedError, match="'b:0'"):
        fn(a=a, b=np.ones(9, np.float32), c=c)  # wrong shape: the runner declines


def test_a_feed_named_out_keeps_out_meaning_out():
    fn = tf.compile(_graph(("x", "out", "z")))
    a, b, c = _inputs(3)
    want = a * b + (c - a)
    fn(a, b, c)
    assert fn._keyword_args is None
    np.testing.assert_allclose(fn(a, b, c), want, rtol=1e-6)
    with pytest.raises(FeedError, match="missing input 'out'"):  # out= is never a feed
        fn(x=a, z=c, out=b)
