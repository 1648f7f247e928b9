"""Common-subexpression elimination: what merges, what must not, by structure and numbers."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.passes import optimize
from tests.graphjit.passes.util import op_types, optimize_and_compare

PASSES = ["cse", "dce"]
X = np.array([[1.0, -2.0, np.nan], [0.0, np.inf, 3.0]], np.float32)
Y = np.array([[0.5, 4.0, 1.0], [-0.0, 2.0, -1.0]], np.float32)


def _xy(g):
    return (tf.placeholder(tf.float32, [2, 3], name="x"),
            tf.placeholder(tf.float32, [2, 3], name="y"))


def test_duplicates_merge_in_cascade_and_commutative_order():
    g = tf.Graph()
    with g.as_default():
        x, y = _xy(g)
        a = tf.exp(x * y)
        b = tf.exp(y * x)  # commutative: the same product
        c = tf.exp(x * y)
        out = a + b + c
    new, report = optimize_and_compare(g, [out], {x: X, y: Y}, passes=PASSES)
    assert op_types(new)["Mul"] == 1 and op_types(new)["Exp"] == 1
    assert report.runs[0].rewrites == {"merge Mul": 2, "merge Exp": 2}


def test_non_commutative_and_different_attrs_stay_apart():
    g = tf.Graph()
    with g.as_default():
        x, y = _xy(g)
        d = (x - y) * (y - x)
        s = tf.reduce_sum(x, 0) + tf.reduce_sum(x, 1)[0]
        k = tf.reduce_sum(x, 0, keepdims=True) + tf.reduce_sum(x, 0)
    new, report = optimize_and_compare(g, [d, s, k], {x: X, y: Y}, passes=PASSES)
    assert op_types(new)["Sub"] == 2 and op_types(new)["Sum"] == 3
    assert report.runs[0].rewrites == {"merge Sum": 1}  # only sum(x, 0) twice


def test_constants_compare_by_value_dtype_and_shape():
    g = tf.Graph()
    with g.as_default():
        x, _ = _xy(g)
        parts = [x * tf.constant([1.0, 2.0, 3.0]), x * tf.constant([1.0, 2.0, 3.0]),
                 x * tf.constant(0.0), x * tf.constant(-0.0),  # different bits: apart
                 x * tf.constant(np.nan), x * tf.constant(np.nan),  # same bits: merged
                 x * tf.constant([[2.0]]), x * tf.constant([2.0])]  # different shapes
        out = tf.concat(parts, 0)
    new, _ = optimize_and_compare(g, [out], {x: X}, passes=PASSES)
    assert op_types(new)["Const"] == 6 and op_types(new)["Mul"] == 6


def test_placeholders_never_merge():
    g = tf.Graph()
    with g.as_default():
        x, y = _xy(g)
        out = x - y
    new, report = optimize_and_compare(g, [out], {x: X, y: Y}, passes=PASSES)
    assert op_types(new)["Placeholder"] == 2 and report.changes == 0


def test_kept_and_fetched_duplicates(counter_op):
    g = tf.Graph()
    with g.as_default():
        x, y = _xy(g)
        fed = tf.multiply(x, y, name="fed")
        other = tf.multiply(x, y, name="other")
        fetched = tf.multiply(x, y, name="fetched")
        out = tf.add(fed, other, name="out")
    feeds = {x: X, y: Y, fed: np.full((2, 3), 100, np.float32)}
    new, _ = optimize_and_compare(g, [out, fetched], feeds, passes=PASSES)
    # The fed product stays its own op; the fetched duplicate becomes a copy of the first
    # unfed one and keeps its name.
    assert new.get_tensor_by_name("fed:0").op.type == "Mul"
    assert new.get_tensor_by_name("fetched:0").op.type == "Identity"
    assert op_types(new)["Mul"] == 2


def test_stateful_ops_never_merge(counter_op):
    g = tf.Graph()
    with g.as_default():
        x, _ = _xy(g)
        a = g.create_op(counter_op, [x]).outputs[0]
        b = g.create_op(counter_op, [x]).outputs[0]
        out = a - b
    new, report = optimize(g, [out], passes=PASSES)
    assert op_types(new)[counter_op] == 2
    before = evaluate([out], {x: X}, state={})
    after = evaluate([report.fetch_map[out]], {report.lookup(x): X}, state={})
    np.testing.assert_array_equal(before[0], after[0])


def test_control_inputs_are_part_of_the_identity():
    g = tf.Graph()
    with g.as_default():
        x, y = _xy(g)
        first = tf.exp(x, name="first")
        with g.control_dependencies([tf.abs(y, name="side").op]):
            second = tf.exp(x, name="second")
        third = tf.exp(x, name="third")
        out = first + second + third
    new, _ = optimize_and_compare(g, [out], {x: X, y: Y}, passes=PASSES)
    assert op_types(new)["Exp"] == 2
    (kept,) = [op for op in new.get_operations() if op.control_inputs]
    assert kept.name == "second" and kept.control_inputs[0].name == "side"
