"""Dead-code elimination relative to the fetches: what goes, what must stay."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from graphjit.passes import optimize
from tests.graphjit.passes.util import op_types, optimize_and_compare

X = np.array([1.0, -2.0, 3.0], np.float32)


def test_only_what_the_fetches_need_survives():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        unused = tf.placeholder(tf.float32, [3], name="unused")
        y = tf.exp(x, name="y")
        z = tf.tanh(y, name="z")
        tf.sin(unused + z, name="other_output")
    new, report = optimize_and_compare(g, [y], {x: X}, passes=["dce"])
    assert [op.name for op in new.get_operations()] == ["x", "y"]
    assert report.runs[0].removed == 4
    assert report.lookup(x).op.name == "x"


def test_default_fetches_are_the_graph_outputs():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        tf.placeholder(tf.float32, [3], name="unused")
        tf.exp(x, name="a")
        tf.sin(x, name="b")
    new, _ = optimize(g, passes=["dce"])
    assert [op.name for op in new.get_operations()] == ["x", "a", "b"]


def test_stateful_kept_and_control_inputs_followed(counter_op):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        g.create_op(counter_op, [tf.abs(x, name="abs")], name="effect")
        side = tf.cos(x, name="side")
        with g.control_dependencies([side.op]):
            y = tf.exp(x, name="y")
        tf.sin(x, name="dead")
    new, _ = optimize(g, [y], passes=["dce"])
    names = [op.name for op in new.get_operations()]
    assert names == ["x", "abs", "effect", "side", "y"]
    assert new.get_operation_by_name("y").control_inputs == (new.get_operation_by_name("side"),)


def test_kept_tensors_survive_unfetched():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        t = tf.exp(x, name="t")
        y = tf.sin(x, name="y")
    new, report = optimize(g, [y], keep=[t, x], passes=["dce"])
    assert op_types(new) == {"Placeholder": 1, "Exp": 1, "Sin": 1}
    assert report.lookup(t) is new.get_tensor_by_name("t:0")
