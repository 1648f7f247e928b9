"""optimize(prune=True), what compile and Session.run use: a new fetch set costs the part
of the graph it needs, so a program that grows its graph every step stays linear."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from graphjit.passes import optimize


def _graph_with_an_unrelated_part(extra_ops: int):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        y = tf.exp(x) * 2.0
        v = tf.Variable(np.zeros(3, np.float32), name="v")
        t = tf.constant(np.ones(3, np.float32))
        for _ in range(extra_ops):  # built later and fetched by nobody here
            t = tf.sin(t)
        tf.assign(v, t)  # a stateful op outside the fetch's cone
    return graph, x, y


def test_pruning_copies_only_what_the_fetches_and_feeds_need():
    graph, x, y = _graph_with_an_unrelated_part(200)
    pruned, report = optimize(graph, [y], keep=[x], prune=True)
    first = report.runs[0]
    assert first.name == "prune" and first.ops_before <= 5  # x, exp, 2.0, mul: not 200 sins
    types = {op.type for op in pruned.get_operations()}
    assert "Sin" not in types and "Assign" not in types and "VariableV2" not in types
    unpruned, _ = optimize(graph, [y], keep=[x])
    assert "Assign" in {op.type for op in unpruned.get_operations()}  # dce keeps state


def test_pruned_and_unpruned_graphs_compute_the_same():
    graph, x, y = _graph_with_an_unrelated_part(3)
    value = np.array([0.0, 1.0, -2.0], np.float32)
    with tf.Session(graph=graph) as sess:
        got = sess.run(y, {x: value})
    np.testing.assert_allclose(got, np.exp(value) * 2.0, rtol=1e-6)


def test_control_dependencies_are_followed():
    graph = tf.Graph()
    with graph.as_default():
        v = tf.Variable(np.zeros(2, np.float32), name="v")
        update = tf.assign(v, v + 1.0)
        with tf.control_dependencies([update]):
            done = tf.no_op()
        tf.sin(tf.constant(1.0))  # unrelated
    pruned, _ = optimize(graph, [done], prune=True)
    types = {op.type for op in pruned.get_operations()}
    assert "Assign" in types and "Sin" not in types
