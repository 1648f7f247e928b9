"""The define phase: TF1 names, scopes, default graphs, lookups, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf


def test_article_names_and_lookup():
    graph = tf.Graph()
    with graph.as_default():
        a = tf.constant(5.0, name="a")
        b = tf.constant(3.0, name="b")
        c = tf.add(a, b, name="c")
    assert c.name == "c:0" and c.op.name == "c" and c.op.type == "Add"
    assert graph.get_tensor_by_name("c:0") is c
    assert graph.get_operation_by_name("a") is a.op
    assert [op.name for op in graph.get_operations()] == ["a", "b", "c"]
    assert c.dtype == tf.float32 and c.shape == [] and c.graph is graph
    assert c.op.inputs == (a, b)


def test_default_names_follow_tensorflow():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        y = tf.placeholder(tf.float32, [None, 3])
        assert x.name == "Placeholder:0" and y.name == "Placeholder_1:0"
        assert (x + y).name == "add:0"
        assert (x + y).name == "add_1:0"
        assert tf.add(x, y).name == "Add_2:0"  # names are unique ignoring case, as in TF
        assert tf.maximum(x, y).name == "Maximum:0"
        assert (x * y).name == "mul:0" and (x - y).name == "sub:0"
        assert (x / y).name == "truediv:0" and (-x).name == "Neg:0"
        assert tf.constant(1.0).name == "Const:0"


def test_name_scopes_nest_and_uniquify():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        with tf.name_scope("layer1") as scope:
            assert scope == "layer1/"
            h = tf.multiply(x, 2.0, name="h")
            with tf.name_scope("inner"):
                k = tf.exp(h)
        with tf.name_scope("layer1"):
            h2 = tf.exp(x)
        with tf.name_scope(scope):  # re-entering by the full scope string
            h3 = tf.exp(x)
    assert h.name == "layer1/h:0"
    assert k.name == "layer1/inner/Exp:0"
    assert h2.name == "layer1_1/Exp:0"
    assert h3.name == "layer1/Exp:0"


def test_explicit_duplicate_name_is_uniquified():
    graph = tf.Graph()
    with graph.as_default():
        a = tf.constant(1.0, name="v")
        b = tf.constant(2.0, name="v")
    assert (a.name, b.name) == ("v:0", "v_1:0")


def test_default_graph_stack():
    outer = tf.get_default_graph()
    graph = tf.Graph()
    with graph.as_default():
        assert tf.get_default_graph() is graph
        inner = tf.Graph()
        with inner.as_default():
            assert tf.get_default_graph() is inner
        assert tf.get_default_graph() is graph
    assert tf.get_default_graph() is outer


def test_reset_default_graph():
    before = tf.get_default_graph()
    tf.constant(1.0)
    tf.reset_default_graph()
    after = tf.get_default_graph()
    assert after is not before and after.get_operations() == []


def test_shapes_with_unknown_dims():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=[None, 784], name="x")
        b = tf.constant(np.zeros(784, np.float32))
        y = x + b
    assert x.shape == [None, 784] and x.shape.as_list() == [None, 784]
    assert x.shape.rank == 2 and not x.shape.is_fully_defined()
    assert y.shape.as_list() == [None, 784]


@pytest.mark.parametrize("dtype, np_dtype", [
    (tf.float32, np.float32), (tf.float64, np.float64), (tf.int32, np.int32),
    (tf.int64, np.int64), (tf.bool, np.bool_), (tf.uint8, np.uint8),
])
def test_dtypes_convert_to_and_from_numpy(dtype, np_dtype):
    assert dtype.as_numpy_dtype is np_dtype
    assert tf.as_dtype(np_dtype) is dtype
    assert tf.as_dtype(np.dtype(np_dtype)) is dtype
    assert tf.as_dtype(dtype.name) is dtype
    assert dtype == np_dtype


def test_python_scalars_do_not_promote_float32():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [3])
        assert (x * 2.5).dtype == tf.float32
        assert (1 + x).dtype == tf.float32
        assert (x * np.float64(2.0)).dtype == tf.float32
        assert tf.constant(1.5).dtype == tf.float32
        assert tf.constant(2).dtype == tf.int32
        assert tf.constant(np.arange(3.0)).dtype == tf.float64  # NumPy keeps its dtype


def test_constant_shape_argument():
    graph = tf.Graph()
    with graph.as_default():
        filled = tf.constant(7, dtype=tf.float32, shape=[2, 2])
        reshaped = tf.constant([1, 2, 3, 4], shape=[2, 2])
    with tf.Session(graph=graph) as sess:
        np.testing.assert_array_equal(sess.run(filled), np.full((2, 2), 7, np.float32))
        np.testing.assert_array_equal(sess.run(reshaped), [[1, 2], [3, 4]])


def test_tensor_has_no_truth_value():
    with tf.Graph().as_default():
        x = tf.constant(1.0)
        with pytest.raises(TypeError, match="bool"):
            bool(x)


def test_control_dependencies_none_clears_the_enclosing_ones():
    with tf.Graph().as_default() as graph:
        a = tf.constant(1.0, name="a")
        with graph.control_dependencies([a]):
            b = tf.constant(2.0, name="b")
            with graph.control_dependencies(None):
                c = tf.constant(3.0, name="c")
            d = tf.constant(4.0, name="d")
    assert b.op.control_inputs == (a.op,) and d.op.control_inputs == (a.op,)
    assert c.op.control_inputs == ()
