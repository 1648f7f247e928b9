"""TF1 names that were missing, used as TF1 scripts use them, in both engines, against
NumPy: tf.div / floor_div / truncatediv / truncatemod, tf.arg_max / arg_min, and
Graph.as_graph_def()."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line
from tests.graphjit.tf1_ops_check import run

ENGINES = ["reference", "compiled"]

X_INT = np.array([-7, 7, -7, 7, 0, -1, 6, -6, 9], np.int32)
Y_INT = np.array([2, 2, -2, -2, 3, 5, 3, 3, -4], np.int32)
X_FLOAT = np.array([-7.5, 7.5, -7.5, 7.5, 0.0, -1.0, 6.0, -0.25], np.float32)
Y_FLOAT = np.array([2.0, 2.0, -2.0, -2.0, 3.0, 5.0, 3.0, 0.5], np.float32)



def _feeds(dtype):
    x = tf.placeholder(dtype, [None], name="x")
    y = tf.placeholder(dtype, [None], name="y")
    return x, y


@pytest.mark.parametrize("engine", ENGINES)
def test_integer_divisions(graph, engine):
    x, y = _feeds(tf.int32)
    ops = [tf.div(x, y), tf.floor_div(x, y), tf.truncatediv(x, y), tf.truncatemod(x, y),
           tf.math.truncatediv(x, y), tf.compat.v1.truncatemod(x, y)]
    div, floor, trunc, mod, trunc2, mod2 = run(engine, ops, {x: X_INT, y: Y_INT})
    np.testing.assert_array_equal(div, X_INT // Y_INT)  # Python 2's floor division
    np.testing.assert_array_equal(floor, X_INT // Y_INT)
    expected_trunc = np.trunc(X_INT / Y_INT).astype(np.int32)  # toward zero: -7/2 = -3
    np.testing.assert_array_equal(trunc, expected_trunc)
    np.testing.assert_array_equal(mod, np.fmod(X_INT, Y_INT))  # x's sign: -7 % 2 = -1
    np.testing.assert_array_equal(trunc * Y_INT + mod, X_INT)
    np.testing.assert_array_equal(trunc2, trunc)
    np.testing.assert_array_equal(mod2, mod)
    assert {t.dtype for t in ops} == {tf.int32}
    assert [t.op.name for t in ops[:4]] == ["div", "FloorDiv", "TruncateDiv", "TruncateMod"]


@pytest.mark.parametrize("engine", ENGINES)
def test_float_divisions(graph, engine):
    x, y = _feeds(tf.float32)
    div, floor, trunc, mod = run(engine, [tf.div(x, y), tf.floor_div(x, y),
                                          tf.truncatediv(x, y), tf.truncatemod(x, y)],
                                 {x: X_FLOAT, y: Y_FLOAT})
    np.testing.assert_allclose(div, X_FLOAT / Y_FLOAT, rtol=1e-6)  # floats: true division
    np.testing.assert_allclose(trunc, X_FLOAT / Y_FLOAT, rtol=1e-6)
    np.testing.assert_array_equal(floor, np.floor(X_FLOAT / Y_FLOAT))
    np.testing.assert_array_equal(mod, np.fmod(X_FLOAT, Y_FLOAT))
    assert mod[0] == -1.5 and mod[2] == -1.5 and mod[3] == 1.5


@pytest.mark.parametrize("engine", ENGINES)
def test_unsigned_and_int64_truncation(graph, engine):
    a = tf.placeholder(tf.uint8, [3], name="a")
    b = tf.placeholder(tf.int64, [3], name="b")
    ua, ub = np.array([7, 200, 9], np.uint8), np.array([2, 7, 10], np.uint8)
    la, lb = np.array([-2**40, 5, -9], np.int64), np.array([3, -2, 10], np.int64)
    got = run(engine, [tf.truncatediv(a, ub), tf.truncatemod(a, ub), tf.truncatediv(b, lb),
                       tf.truncatemod(b, lb)], {a: ua, b: la})
    np.testing.assert_array_equal(got[0], ua // ub)
    np.testing.assert_array_equal(got[1], ua % ub)
    np.testing.assert_array_equal(got[2], [-(2**40 // 3), -2, 0])
    np.testing.assert_array_equal(got[3], np.fmod(la, lb))


def test_divisions_refuse_bools_naming_the_op(graph):
    flag = tf.placeholder(tf.bool, [2], name="flag")
    with pytest.raises(tf.DTypeError) as info:
        line = caller_line() + 1
        tf.truncatediv(flag, flag)
    assert_points_here(info, "TruncateDiv", "bool", line=line)


@pytest.mark.parametrize("engine", ENGINES)
def test_arg_max_and_arg_min_take_dimension(graph, engine):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    values = np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 0.5]], np.float32)
    biggest, smallest, columns = run(engine, [tf.arg_max(x, 1), tf.arg_min(x, dimension=1),
                                              tf.compat.v1.arg_max(x, dimension=0)],
                                     {x: values})
    np.testing.assert_array_equal(biggest, values.argmax(1))
    np.testing.assert_array_equal(smallest, values.argmin(1))
    np.testing.assert_array_equal(columns, values.argmax(0))
    assert tf.arg_max(x, 1, output_type=tf.int32).dtype == tf.int32


def test_as_graph_def_is_tfs_graph_def(graph):
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.constant(np.ones((2, 1), np.float32), name="w")
    tf.nn.relu(tf.matmul(x, w), name="out")
    graph_def = graph.as_graph_def()
    assert type(graph_def).__name__ == "GraphDef"
    nodes = {n.name: n for n in graph_def.node}
    assert list(nodes) == ["x", "w", "MatMul", "out"]
    assert nodes["out"].op == "Relu" and list(nodes["out"].input) == ["MatMul"]
    assert "_output_shapes" not in nodes["out"].attr
    with_shapes = tf.get_default_graph().as_graph_def(add_shapes=True)
    dims = with_shapes.node[0].attr["_output_shapes"].list.shape[0].dim
    assert [d.size for d in dims] == [-1, 2]
    assert type(graph_def).FromString(graph_def.SerializeToString()) == graph_def


def test_as_graph_def_without_tensorboard_says_what_to_install(graph, monkeypatch):
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    tf.constant(1.0)
    with pytest.raises(tf.MissingDependencyError) as info:
        line = caller_line() + 1
        graph.as_graph_def()
    assert_points_here(info, "Graph.as_graph_def()", "pip install 'graphjit[tensorboard]'",
                       line=line)


def test_new_names_are_in_compat_v1_and_math():
    import graphjit.compat.v1 as tf1
    for name in ("div", "floor_div", "truncatediv", "truncatemod", "arg_max", "arg_min"):
        assert getattr(tf1, name) is getattr(tf, name)
    assert tf.math.truncatediv is tf.truncatediv and tf.math.truncatemod is tf.truncatemod
    assert tf1.train.latest_checkpoint is tf.train.latest_checkpoint
