"""The string dtype (issue #13 item 9): `tf.constant("Hello")` runs to b'Hello'; string
tensors are object arrays of bytes, moved by host steps in the compiled engine, compared
by Equal and NotEqual, and refused by every op that computes."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf

ENGINES = ["compiled", "reference"]


@pytest.mark.parametrize("engine", ENGINES)
def test_string_constants_and_feeds_run_as_bytes(engine):
    with tf.Graph().as_default():
        hello = tf.constant("Hello")
        words = tf.constant([["a", b"b\x00"]])  # (a trailing NUL stays)
        fed = tf.placeholder(tf.string, [None], name="fed")
        both = tf.concat([tf.reshape(words, [2]), fed], 0)
        picked = tf.gather(both, [2, 0])
        with tf.Session(engine=engine) as sess:
            assert sess.run(hello) == b"Hello"
            value, first = sess.run([both, picked], {fed: ["é"]})
            assert sess.run(fed, {fed: np.array(["x", "y"])}).tolist() == [b"x", b"y"]
            assert sess.run(tf.size(words)) == 2
    assert hello.dtype == tf.string and hello.shape == () and tf.as_dtype(str) is tf.string
    assert value.dtype == object and value.tolist() == [b"a", b"b\x00", "é".encode()]
    assert first.tolist() == ["é".encode(), b"a"]


def test_a_compiled_function_takes_string_inputs_and_checks_them():
    with tf.Graph().as_default():
        s = tf.placeholder(tf.string, [None], name="s")
        fn = tf.compile(s[::-1], feeds=[s])
    assert fn(np.array([b"a", b"b"], object)).tolist() == [b"b", b"a"]
    assert fn(["c", b"d"]).tolist() == [b"d", b"c"]
    with pytest.raises(tf.FeedError, match="str or bytes"):
        fn(np.array([b"a", 2], object))  # an object array is checked, never trusted


def test_equal_string_constants_merge_and_different_ones_stay_apart():
    with tf.Graph().as_default() as graph:
        p = tf.placeholder(tf.string, [1], name="p")
        a, b, c = tf.constant(["x", "y"]), tf.constant(["x", "y"]), tf.constant(["x", "z"])
        fetches = [tf.concat([t, p], 0) for t in (a, b, c)]  # (not folded: p is fed)
    optimized, _ = tf.optimize(graph, fetches)
    consts = [op.attrs["value"].tolist() for op in optimized.get_operations()
              if op.type == "Const" and op.outputs[0].dtype == tf.string]
    assert sorted(consts) == [[b"x", b"y"], [b"x", b"z"]]
    with tf.Session(graph=graph) as sess:
        assert [v.tolist() for v in sess.run(fetches, {p: ["p"]})] == [
            [b"x", b"y", b"p"], [b"x", b"y", b"p"], [b"x", b"z", b"p"]]


@pytest.mark.parametrize("engine", ENGINES)
def test_equal_and_not_equal_compare_strings_broadcasting(engine):
    """As TF's: the comparison runs on the host in the compiled engine; ordering strings
    (Less) and arithmetic stay refused."""
    with tf.Graph().as_default():
        s = tf.placeholder(tf.string, [None, 2], name="s")
        t = tf.placeholder(tf.string, [2], name="t")
        same, differ = tf.equal(s, t), tf.not_equal(s, "b")
        with pytest.raises(tf.DTypeError, match="Less"):
            tf.less(s, t)
        with tf.Session(engine=engine) as sess:
            got = sess.run([same, differ], {s: [["a", "b"], ["a", "é"]], t: ["a", "é"]})
    assert same.dtype == differ.dtype == tf.bool
    assert got[0].tolist() == [[True, False], [True, True]]
    assert got[1].tolist() == [[True, False], [True, True]]
