"""Build-time errors name the op type, its name, the shapes/dtypes and the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here
from tests.graphjit.error_check import caller_line as _line


def test_incompatible_shapes():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.float32, [4], name="y")
        with pytest.raises(tf.ShapeError) as info:
            line = _line(); tf.add(x, y, name="bad_add")  # noqa: E702
    assert_points_here(info, "Add 'bad_add'", "float32[?,3]", "float32[4]", line=line)
    assert isinstance(info.value, ValueError)


def test_dtype_mismatch():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        n = tf.placeholder(tf.int32, [3], name="n")
        with pytest.raises(tf.DTypeError) as info:
            line = _line(); x * n  # noqa: E702, B018
    assert_points_here(info, "Mul 'mul'", "float32", "int32", "cast", line=line)
    assert isinstance(info.value, TypeError)


def test_wrong_dtype_for_op():
    with tf.Graph().as_default():
        n = tf.placeholder(tf.int32, [3], name="n")
        with pytest.raises(tf.DTypeError) as info:
            line = _line(); tf.exp(n, name="e")  # noqa: E702
    assert_points_here(info, "Exp 'e'", "int32", line=line)


def test_float_literal_into_int_tensor():
    with tf.Graph().as_default():
        n = tf.placeholder(tf.int32, [3], name="n")
        with pytest.raises(tf.DTypeError, match="2.5"):
            n * 2.5  # noqa: B018


def test_mixing_graphs():
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default():
        a = tf.constant(1.0, name="a")
    with g2.as_default():
        b = tf.constant(2.0, name="b")
        with pytest.raises(tf.GraphMismatchError) as info:
            line = _line(); tf.add(a, b, name="mixed")  # noqa: E702
    assert_points_here(info, "mixed", "'a:0'", "another graph", line=line)


def test_unknown_tensor_name_suggests_close_names():
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="logits")
    with pytest.raises(tf.NotFoundError, match="logit.*did you mean 'logits'"):
        graph.get_tensor_by_name("logit:0")
    with pytest.raises(tf.NotFoundError, match="1 output"):
        graph.get_tensor_by_name("logits:3")
    with pytest.raises(tf.NotFoundError, match="op_name:0"):
        graph.get_tensor_by_name("logits")


def test_constant_shape_mismatch():
    with tf.Graph().as_default(), pytest.raises(tf.ShapeError, match="cannot be given shape"):
        tf.constant(np.arange(6), shape=[4])


def test_all_errors_derive_from_graphjit_error():
    for cls in (tf.ShapeError, tf.DTypeError, tf.GraphMismatchError, tf.NotFoundError,
                tf.FeedError, tf.SessionClosedError, tf.CompileError, tf.UnsupportedError):
        assert issubclass(cls, tf.Error)
