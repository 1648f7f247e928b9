"""The execute phase: Session.run fetch structures, feeds and run-time errors."""

from __future__ import annotations

import collections
import os
import runpy

import numpy as np
import pytest

import graphjit as tf

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def test_article_example_prints_8(capsys):
    runpy.run_path(os.path.join(EXAMPLES, "article.py"), run_name="__main__")
    assert capsys.readouterr().out.strip() == "8.0"


@pytest.fixture
def graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.multiply(x, 3.0, name="y")
        tf.add(y, 1.0, name="z")
    return g


def test_nested_fetch_structures(graph):
    x, y, z = (graph.get_tensor_by_name(n) for n in ("x:0", "y:0", "z:0"))
    Pair = collections.namedtuple("Pair", "first second")
    feed = {x: [[1.0, 2.0]]}
    with tf.Session(graph=graph) as sess:
        out = sess.run({"a": [y, (z, "y:0")], "b": Pair(z, y)}, feed)
    np.testing.assert_array_equal(out["a"][0], [[3.0, 6.0]])
    assert isinstance(out["a"][1], tuple)
    np.testing.assert_array_equal(out["a"][1][0], [[4.0, 7.0]])
    np.testing.assert_array_equal(out["a"][1][1], [[3.0, 6.0]])
    assert isinstance(out["b"], Pair)
    np.testing.assert_array_equal(out["b"].first, [[4.0, 7.0]])


def test_fetching_an_operation_returns_none(graph):
    with tf.Session(graph=graph) as sess:
        assert sess.run(graph.get_operation_by_name("z"), {"x:0": [[1.0, 1.0]]}) is None
        assert sess.run("z", {"x:0": [[1.0, 1.0]]}) is None


def test_scalar_results_are_numpy_scalars():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant(2.0) * 4.0
    with tf.Session(graph=g) as sess:
        result = sess.run(c)
    assert isinstance(result, np.float32) and result == 8.0


def test_feeding_a_non_placeholder(graph):
    with tf.Session(graph=graph) as sess:
        # y is computed from x normally; feeding it cuts x out of the run.
        out = sess.run("z:0", {"y:0": np.array([[10.0, 20.0]], np.float32)})
    np.testing.assert_array_equal(out, [[11.0, 21.0]])


def test_session_as_plain_object_and_default_session(graph):
    sess = tf.Session(graph=graph)
    z = graph.get_tensor_by_name("z:0")
    np.testing.assert_array_equal(sess.run(z, {"x:0": [[0.0, 1.0]]}), [[1.0, 4.0]])
    with sess.as_default():
        np.testing.assert_array_equal(z.eval({"x:0": [[1.0, 1.0]]}), [[4.0, 4.0]])
    sess.close()
    with pytest.raises(tf.SessionClosedError):
        sess.run(z, {"x:0": [[0.0, 1.0]]})


def test_feeds_are_not_mutated_and_results_do_not_alias_them(graph):
    value = np.array([[1.0, 2.0]], np.float32)
    before = value.copy()
    with tf.Session(graph=graph) as sess:
        out = sess.run("x:0", {"x:0": value})
        out[0, 0] = 100.0
    np.testing.assert_array_equal(value, before)


def test_python_values_are_safely_cast(graph):
    with tf.Session(graph=graph) as sess:
        out = sess.run("y:0", {"x:0": [[1, 2]]})  # ints into float32
        out64 = sess.run("y:0", {"x:0": np.array([[0.5, 1.0]])})  # float64 into float32
    assert out.dtype == np.float32 and out64.dtype == np.float32


def test_missing_feed_names_the_placeholder(graph):
    with tf.Session(graph=graph) as sess, pytest.raises(tf.FeedError, match="'x'"):
        sess.run("z:0")


def test_wrong_feed_shape(graph):
    with tf.Session(graph=graph) as sess, \
            pytest.raises(tf.FeedError, match=r"shape \[2, 3\].*'x:0'.*\[None, 2\]"):
        sess.run("z:0", {"x:0": np.zeros((2, 3), np.float32)})


def test_wrong_feed_rank(graph):
    with tf.Session(graph=graph) as sess, pytest.raises(tf.FeedError, match="x:0"):
        sess.run("z:0", {"x:0": np.zeros(2, np.float32)})


def test_wrong_feed_dtype():
    g = tf.Graph()
    with g.as_default():
        n = tf.placeholder(tf.int32, [2], name="n")
        m = n * 2
    with tf.Session(graph=g) as sess, pytest.raises(tf.FeedError, match="float64.*'n:0'"):
        sess.run(m, {n: np.array([1.5, 2.0])})


def test_feeding_a_tensor_of_another_graph(graph):
    other = tf.Graph()
    with other.as_default():
        foreign = tf.placeholder(tf.float32, [1, 2], name="x")
    with tf.Session(graph=graph) as sess, pytest.raises(tf.FeedError, match="another graph"):
        sess.run("z:0", {foreign: [[1.0, 2.0]]})


def test_fetching_unknown_names(graph):
    with tf.Session(graph=graph) as sess:
        with pytest.raises(tf.NotFoundError, match="'w'"):
            sess.run("w:0")
        with pytest.raises(KeyError):  # NotFoundError is a KeyError, as in TF
            graph.get_operation_by_name("nope")
