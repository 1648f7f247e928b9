"""Graph queries: read inputs, the ops a fetch needs, data dependencies."""

from __future__ import annotations

import graphjit as tf
from graphjit.graph_queries import data_dependencies, ops_needed, read_inputs, ref_inputs


def _graph():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        h = tf.negative(x, name="h")
        v = tf.Variable([1.0, 2.0, 3.0], name="v")
        assign = tf.assign(v, h, name="assign")
        one = tf.constant(1.0, name="one")
        with tf.control_dependencies([assign]):
            y = tf.add(h, one, name="y")
        tf.exp(x, name="unused")
    return graph, x, h, v, assign, y


def test_an_assign_writes_its_variable_and_reads_its_value():
    _, _, h, v, assign, y = _graph()
    assert ref_inputs(assign.op) == (0,) and read_inputs(assign.op) == [h]
    assert ref_inputs(y.op) == () and read_inputs(y.op) == list(y.op.inputs)


def test_ops_needed_follows_control_edges_in_graph_order_and_stops_at_feeds():
    graph, x, h, v, assign, y = _graph()
    names = [op.name for op in ops_needed([y.op], set())]
    assert names == ["x", "h", "assign", "one", "y"]  # not the variable: assigning is no read
    assert [op.name for op in ops_needed([y.op], {h})] == ["assign", "one", "y"]
    assert ops_needed([], set()) == []


def test_data_dependencies_ignore_control_edges():
    _, x, h, _, assign, y = _graph()
    assert {op.name for op in data_dependencies([y.op])} == {"x", "h", "one", "y"}
    assert {op.name for op in data_dependencies([assign.op], [h])} == {"assign"}
