"""Optimized graphs compile: every op a rewrite creates has a lowering, and the compiled
result matches the reference interpreter on the unoptimized graph."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.passes import optimize
from tests.graphjit.passes.test_manager import mlp_graph
from tests.graphjit.passes.util import assert_same_values


def _compile_and_compare(graph, fetches, feeds):
    new, report = optimize(graph, fetches, keep=list(feeds))
    fn = tf.compile(new, fetches=[report.fetch_map[f] for f in fetches],
                    feeds=[report.lookup(t) for t in feeds])
    actual = fn(*feeds.values())
    for f, e, a in zip(fetches, evaluate(fetches, feeds), actual):
        assert_same_values(e, a, f.name)
    return new


def test_mlp_compiles_after_optimizing():
    graph, fetches, feeds = mlp_graph()
    _compile_and_compare(graph, fetches, feeds)


def test_rewritten_ops_compile():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        k = tf.placeholder(tf.int32, [None, 4], name="k")
        a = tf.reciprocal(tf.sqrt(tf.abs(x)))  # Rsqrt
        b = tf.pow(x, 3.0) + tf.pow(x, -1.0) + x + tf.negative(x)  # Mul, Reciprocal, Sub
        c = tf.cast(k * 0 + tf.pow(k, 0), tf.float32)  # FillLike: k has an unknown dim
        d = tf.transpose(tf.transpose(tf.reshape(x, [-1, 2, 2]), [0, 2, 1]), [1, 0, 2])
        e = x * tf.broadcast_to(tf.constant(2.0), [3, 4])[0]  # a folded, then scalar, constant
        f = tf.identity(x * 1.0, name="f")  # fetched: stays an Identity named f
        out = tf.add(a + b + c + e, tf.reduce_sum(d), name="out")
    rng = np.random.default_rng(0)
    feeds = {x: rng.uniform(-2, 2, (3, 4)).astype(np.float32),
             k: np.arange(12, dtype=np.int32).reshape(3, 4)}
    new = _compile_and_compare(g, [out, f], feeds)
    types = {op.type for op in new.get_operations()}
    assert {"Rsqrt", "Reciprocal", "FillLike", "Identity", "Sub"} <= types
