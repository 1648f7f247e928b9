"""A catalogue of bad inputs (issue #11): feeds, fetches, compile arguments, build-time
shapes and attrs, and shapes that only meet at run time. Every row states the error
class and what the message must name (the op, the input, the shapes); rows that build
ops also check the message points at the line of this file that built them. Run-time
rows run on both engines and through `graphjit.compile`, which must agree on the class
and the message. Almost every case fails before a kernel is compiled, so the file stays
fast; the cases that could exhaust memory or Numba run in a subprocess as well, which
must finish cleanly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field

import numpy as np
import pytest

import graphjit as tf
from graphjit import interpreter
from graphjit.lower import planner
from tests.graphjit.error_check import caller_line

HERE = os.path.basename(__file__)
HUGE = [2**22, 2**20]  # 16 TiB of float32


def _check(message: str, fragments, line: int | None = None) -> None:
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if line is not None:
        assert f"{HERE}:{line}" in message, message


# -- feeds: the same checks in Session.run (both engines) and compiled calls ----------

@dataclass
class Feed:
    name: str
    input: str  # which placeholder of _feed_graph is fed
    value: object
    fragments: list
    error: type = tf.FeedError


def _feed_graph():
    graph = tf.Graph()
    with graph.as_default():
        inputs = {"x": tf.placeholder(tf.float32, [None, 3], name="x"),
                  "n": tf.placeholder(tf.int32, [2], name="n"),
                  "u": tf.placeholder(tf.uint8, [2], name="u"),
                  "b": tf.placeholder(tf.bool, [2], name="b"),
                  "s": tf.placeholder(tf.string, [2], name="s")}
        outputs = {k: tf.identity(v, name=f"{k}_out") for k, v in inputs.items()}
    return graph, inputs, outputs


def _foreign_tensor():
    with tf.Graph().as_default():
        return tf.constant([1.0, 2.0, 3.0])


FEEDS = [
    Feed("float into int32", "n", [1.5, 2.0], ["float64", "'n:0'", "expected int32"]),
    Feed("int64 beyond int32", "n", np.array([2**40, 1]), ["'n:0'", "do not fit in int32"]),
    Feed("negative into uint8", "u", [-1, 2], ["'u:0'", "do not fit in uint8"]),
    Feed("bool into float32", "x", np.ones((1, 3), bool), ["bool", "'x:0'", "float32"]),
    Feed("float into bool", "b", [0.0, 1.0], ["float64", "'b:0'", "bool"]),
    Feed("int into bool", "b", [0, 1], ["int64", "'b:0'"]),
    Feed("complex into float32", "x", [[1j, 0, 0]], ["complex128", "'x:0'"]),
    Feed("float16 into int32", "n", np.full(2, 0.5, np.float16), ["float16", "'n:0'"]),
    Feed("nan into int32", "n", [np.nan, 1.0], ["float64", "'n:0'", "whole numbers"]),
    Feed("whole floats beyond int32", "n", [2.0**40, 1.0], ["'n:0'", "do not fit in int32"]),
    Feed("datetime into float32", "x", np.zeros((1, 3), "datetime64[s]"),
         ["datetime64", "'x:0'"]),
    Feed("string into float32", "x", "abc", ["<U3", "'x:0'"]),
    Feed("strings into int32", "n", ["1", "2"], ["<U1", "'n:0'"]),
    Feed("bytes into float32", "x", b"abc", ["S3", "'x:0'"]),
    Feed("None", "x", None, ["cannot feed None", "'x:0' (float32[?,3])"]),
    Feed("an object", "x", object(), ["(object)", "'x:0'"]),
    Feed("a dict", "x", {"a": 1}, ["(dict)", "'x:0'"]),
    Feed("a set", "n", {1, 2}, ["(set)", "'n:0'"]),
    Feed("a generator", "n", (i for i in range(2)), ["(generator)", "'n:0'"]),
    Feed("ints beyond int64", "x", [[2**70, 1, 1]], ["(list)", "'x:0'"]),
    Feed("ragged lists", "x", [[1.0, 2.0, 3.0], [1.0]], ["cannot convert", "'x:0'"]),
    Feed("a tensor", "x", None, ["is a Tensor", "'x:0'", "NumPy array"]),  # value set below
    Feed("rank too low", "x", [1.0, 2.0, 3.0], ["shape [3]", "'x:0'", "[None, 3]"]),
    Feed("rank too high", "x", np.zeros((1, 1, 3)), ["shape [1, 1, 3]", "'x:0'"]),
    Feed("scalar for a matrix", "x", 1.0, ["shape []", "'x:0'"]),
    Feed("wrong known dim", "x", np.zeros((2, 4)), ["shape [2, 4]", "'x:0'", "[None, 3]"]),
    Feed("wrong vector length", "n", [1, 2, 3], ["shape [3]", "'n:0'", "[2]"]),
    Feed("numbers into string", "s", [1, 2], ["(list)", "'s:0' (string[2])", "str or bytes"]),
    Feed("floats into string", "s", np.zeros(2), ["(ndarray)", "'s:0'", "str or bytes"]),
    Feed("objects into string", "s", np.array([b"a", 1], object), ["'s:0'", "str or bytes"]),
    Feed("strings of a wrong shape", "s", ["a"], ["shape [1]", "'s:0'", "[2]"]),
    Feed("string into bool", "b", ["a", "b"], ["<U1", "'b:0'"]),
]


def _feed_value(case: Feed):
    return _foreign_tensor() if case.name == "a tensor" else case.value


@pytest.mark.parametrize("case", FEEDS, ids=lambda c: c.name)
def test_bad_feed(case):
    graph, inputs, outputs = _feed_graph()
    fetch, value = outputs[case.input], _feed_value(case)
    messages = []
    for engine in ("compiled", "reference"):
        with tf.Session(graph=graph, engine=engine) as sess, \
                pytest.raises(case.error) as info:
            sess.run(fetch, {inputs[case.input]: value})
        messages.append(str(info.value))
    fn = tf.compile(fetch)
    with pytest.raises(case.error) as info:
        fn({f"{case.input}:0": value})
    messages.append(str(info.value))
    if value is not None:  # (a None argument is a missing input)
        with pytest.raises(case.error) as info:
            fn(**{case.input: value})
        messages.append(str(info.value))
    _check(messages[0], case.fragments)
    assert len(set(messages)) == 1, messages


# -- feed keys, missing and extra feeds, compile's arguments --------------------------

@dataclass
class Call:
    name: str
    call: object  # (graph, x, y) -> None, raising
    error: type
    fragments: list


def _graph_xy():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.add(x, 1.0, name="y")
    return graph, x, y


_ZEROS = np.zeros((1, 3), np.float32)

FEED_DICTS = [  # (name, feed_dict given x, error, fragments): Session.run, both engines
    ("unknown feed name", lambda x: {"nope:0": _ZEROS}, tf.NotFoundError, ["'nope'"]),
    ("misspelt feed name", lambda x: {"xs:0": _ZEROS}, tf.NotFoundError, ["did you mean 'x'"]),
    ("feed output index", lambda x: {"x:1": _ZEROS}, tf.NotFoundError, ["1 output", "'x:1'"]),
    ("int feed key", lambda x: {3: _ZEROS}, tf.FeedError, ["keys must be", "got int"]),
    ("operation feed key", lambda x: {x.op: _ZEROS}, tf.FeedError, ["got Operation"]),
    ("feed key of another graph", lambda x: {_foreign_tensor(): _ZEROS}, tf.FeedError,
     ["'Const:0'", "another graph"]),
    ("missing feed", lambda x: None, tf.FeedError,
     ["placeholder 'x'", "float32", "must be fed", f"{HERE}:"]),
    ("feed_dict not a dict", lambda x: [_ZEROS], tf.FeedError,
     ["feed_dict must be a dict", "got list"]),
]


@pytest.mark.parametrize("engine", ["compiled", "reference"])
@pytest.mark.parametrize("case", FEED_DICTS, ids=lambda c: c[0])
def test_bad_feed_dict(case, engine):
    _, feed_dict, error, fragments = case
    graph, x, y = _graph_xy()
    with tf.Session(graph=graph, engine=engine) as sess, pytest.raises(error) as info:
        sess.run(y, feed_dict(x))
    _check(str(info.value), fragments)


CALLS = [
    Call("unknown engine", lambda g, x, y: tf.Session(graph=g, engine="fast"),
         tf.InvalidArgumentError, ["engine", "'fast'", "'reference'"]),
    Call("closed session", lambda g, x, y: _closed(g).run(y, {x: _ZEROS}),
         tf.SessionClosedError, ["closed Session"]),
    Call("unknown keyword input", lambda g, x, y: tf.compile(y)(p0=_ZEROS), tf.FeedError,
         ["unknown input 'p0'", "takes 1 input: x (float32[?,3])"]),
    Call("keyword input to no inputs", lambda g, x, y: tf.compile(tf.constant(1.0) * 2)(p0=1),
         tf.FeedError, ["unknown input 'p0'", "takes no inputs"]),
    Call("too many positional inputs", lambda g, x, y: tf.compile(y)(_ZEROS, _ZEROS),
         tf.FeedError, ["got 2 positional inputs", "1 input: x"]),
    Call("missing positional input", lambda g, x, y: tf.compile(y)(), tf.FeedError,
         ["missing input 'x'", "float32"]),
    Call("input given twice", lambda g, x, y: tf.compile(y)(_ZEROS, x=_ZEROS), tf.FeedError,
         ["input 'x' is given twice"]),
    Call("feed_dict missing an input", lambda g, x, y: tf.compile(y)({}), tf.FeedError,
         ["missing feed for x:0", "1 input: x"]),
    Call("feed_dict feeding a non-input", lambda g, x, y: tf.compile(y)({x: _ZEROS, y: _ZEROS}),
         tf.FeedError, ["'y:0' is fed but is not an input", "1 input: x", "feeds=["]),
    Call("out= not an array", lambda g, x, y: tf.compile(y)(_ZEROS, out=3), tf.FeedError,
         ["out= takes an array", "got int"]),
    Call("compile feeds by unknown name", lambda g, x, y: tf.compile(g, y, feeds=["nope"]),
         tf.NotFoundError, ["'nope'"]),
    Call("compile feeds not tensors", lambda g, x, y: tf.compile(g, y, feeds=[3]),
         tf.InvalidArgumentError, ["int 3"]),
    Call("compile feeds of another graph",
         lambda g, x, y: tf.compile(g, y, feeds=[_foreign_tensor()]), tf.GraphMismatchError,
         ["'Const:0'", "another graph"]),
    Call("compile an int", lambda g, x, y: tf.compile(3), tf.InvalidArgumentError,
         ["compile() needs a Graph", "int 3"]),
    Call("compile None", lambda g, x, y: tf.compile(None), tf.InvalidArgumentError,
         ["compile() needs a Graph", "None"]),
    Call("compile unknown pass", lambda g, x, y: tf.compile(g, y, passes="fast"), tf.Error,
         ["unknown pass 'fast'"]),
]


def _closed(graph):
    sess = tf.Session(graph=graph)
    sess.close()
    return sess


@pytest.mark.parametrize("case", CALLS, ids=lambda c: c.name)
def test_bad_call(case):
    graph, x, y = _graph_xy()
    with graph.as_default(), pytest.raises(case.error) as info:
        case.call(graph, x, y)
    _check(str(info.value), case.fragments)


def test_uninitialized_variable_in_a_compiled_function_says_how_to_initialize():
    graph = tf.Graph()
    with graph.as_default():
        v = tf.Variable(np.zeros(3, np.float32), name="v")
        doubled = v * 2
    fn = tf.compile(doubled)
    with pytest.raises(tf.FailedPreconditionError) as info:
        fn()
    _check(str(info.value), ["'v'", "float32[3]", "fn.state",
                             "global_variables_initializer(), state=fn.state)()",
                             "state=sess.state"])
    assert "sess.run(" not in str(info.value)


# -- fetches ----------------------------------------------------------------------

FETCHES = [  # (name, fetch given (graph, y, other graph's tensor), error, fragments)
    ("unknown tensor name", lambda g, y, o: "y_:0", tf.NotFoundError, ["'y_'", "'y'"]),
    ("unknown op name", lambda g, y, o: "nope", tf.NotFoundError, ["'nope'"]),
    ("output index out of range", lambda g, y, o: "y:3", tf.NotFoundError,
     ["1 output", "'y:3'"]),
    ("tensor of another graph", lambda g, y, o: o, tf.GraphMismatchError,
     ["'Const:0'", "another graph"]),
    ("operation of another graph", lambda g, y, o: o.op, tf.GraphMismatchError,
     ["'Const'", "another graph"]),
    ("an int", lambda g, y, o: 3, tf.InvalidArgumentError, ["int 3", "graph element"]),
    ("a float in a structure", lambda g, y, o: {"a": [y, 3.5]}, tf.InvalidArgumentError,
     ["float 3.5"]),
    ("an array", lambda g, y, o: np.zeros(2), tf.InvalidArgumentError, ["ndarray"]),
    ("a set", lambda g, y, o: {y}, tf.InvalidArgumentError, ["set"]),
    ("a graph", lambda g, y, o: g, tf.InvalidArgumentError, ["Graph"]),
    ("None in a list", lambda g, y, o: [y, None], tf.GraphError, ["None is not a valid fetch"]),
]


@pytest.mark.parametrize("case", FETCHES, ids=lambda c: c[0])
def test_bad_fetch(case):
    _, fetch_of, error, fragments = case
    graph, x, y = _graph_xy()
    fetch = fetch_of(graph, y, _foreign_tensor())
    messages = []
    for engine in ("compiled", "reference"):
        with tf.Session(graph=graph, engine=engine) as sess, pytest.raises(error) as info:
            sess.run(fetch, {x: _ZEROS})
        messages.append(str(info.value))
    with pytest.raises(error) as info:
        tf.compile(graph, [fetch])
    messages.append(str(info.value))
    _check(messages[0], fragments)
    assert len(set(messages)) == 1, messages


# -- build-time shapes, attrs and dtypes ---------------------------------------------
# Each builder gets x, a float32[2,3] placeholder, and must build its op on one line.

BUILD = [  # (name, builder, error, fragments)
    ("placeholder negative dim", lambda x: tf.placeholder(tf.float32, [-2, 3], name="p"),
     tf.ShapeError, ["Placeholder 'p'", "negative dimension -2"]),
    ("placeholder negative size", lambda x: tf.placeholder(tf.float32, -3, name="p"),
     tf.ShapeError, ["Placeholder 'p'", "negative dimension -3"]),
    ("placeholder float dim", lambda x: tf.placeholder(tf.float32, [2.5], name="p"),
     tf.ShapeError, ["Placeholder 'p'", "list of ints", "2.5"]),
    ("placeholder str dim", lambda x: tf.placeholder(tf.float32, ["a"], name="p"),
     tf.ShapeError, ["Placeholder 'p'", "'a'"]),
    ("placeholder unknown dtype", lambda x: tf.placeholder("floaty", [2], name="p"),
     tf.DTypeError, ["Placeholder 'p'", "'floaty'"]),
    ("placeholder complex dtype", lambda x: tf.placeholder(np.complex64, [2], name="p"),
     tf.DTypeError, ["Placeholder 'p'", "complex64", "supported"]),
    ("placeholder rank 17", lambda x: tf.placeholder(tf.float32, [1] * 17, name="p"),
     tf.ShapeError, ["Placeholder 'p'", "rank 17", "up to 16"]),
    ("placeholder rank 21", lambda x: tf.placeholder(tf.float32, [None] * 21, name="p"),
     tf.ShapeError, ["Placeholder 'p'", "rank 21"]),
    ("placeholder name not a string", lambda x: tf.placeholder(tf.float32, [2], name=3),
     tf.GraphError, ["Placeholder", "name must be a string", "3"]),
    ("reshape to rank 21", lambda x: tf.reshape(x, [1] * 19 + [2, 3], name="r"),
     tf.ShapeError, ["Reshape 'r'", "float32[2,3]", "rank 21"]),
    ("expand_dims past rank 16", lambda x: tf.expand_dims(tf.reshape(x, [1] * 14 + [2, 3]), 0,
                                                         name="e"),
     tf.ShapeError, ["ExpandDims 'e'", "rank 17"]),
    ("constant of rank 17", lambda x: tf.constant(np.zeros([1] * 17), name="c"),
     tf.ShapeError, ["Const 'c'", "rank 17"]),
    ("constant ragged", lambda x: tf.constant([[1], [1, 2]], name="c"), tf.DTypeError,
     ["Const 'c'", "ragged"]),
    ("constant None", lambda x: tf.constant(None, name="c"), tf.DTypeError, ["Const 'c'", "None"]),
    ("constant negative shape", lambda x: tf.constant(0.0, shape=[-1, 2], name="c"),
     tf.ShapeError, ["Const 'c'", "sizes >= 0"]),
    ("constant broadcast past memory", lambda x: tf.constant(0.0, shape=HUGE, name="c"),
     tf.ResourceExhaustedError, ["Const 'c'", "GiB", "memory"]),
    ("operand a ragged list", lambda x: x + [[1.0], [1.0, 2.0]], tf.DTypeError, ["ragged"]),
    ("operand a string", lambda x: x + "a", tf.DTypeError, ["'a'", "float32"]),
    ("zeros negative", lambda x: tf.zeros([2, -3], name="z"), tf.ShapeError,
     ["Fill 'z'", "negative dimension"]),
    ("random_normal negative", lambda x: tf.random_normal([-2], name="r"), tf.ShapeError,
     ["RandomStandardNormal 'r/RandomStandardNormal'", "negative dimension -2"]),
    ("random_normal -1", lambda x: tf.random_normal([-1, 2], name="r"), tf.ShapeError,
     ["RandomStandardNormal", "negative dimension -1"]),
    ("random_uniform float shape", lambda x: tf.random_uniform([2.5], name="r"), tf.DTypeError,
     ["RandomUniform", "shape must be integers"]),
    ("reduce_sum axis out of range", lambda x: tf.reduce_sum(x, axis=5, name="s"),
     tf.ShapeError, ["Sum 's'", "float32[2,3]", "axis 5"]),
    ("reduce_sum repeated axis", lambda x: tf.reduce_sum(x, axis=[1, -1], name="s"),
     tf.ShapeError, ["Sum 's'", "repeats an axis"]),
    ("reduce_sum float axis", lambda x: tf.reduce_sum(x, axis=1.0, name="s"), tf.ShapeError,
     ["Sum 's'", "axis must be an int"]),
    ("reduce_sum run-time axis", lambda x: tf.reduce_sum(x, tf.placeholder(tf.int32, []),
                                                         name="s"),
     tf.UnsupportedError, ["Sum 's'", "computed at run time"]),
    ("argmax axis", lambda x: tf.argmax(x, axis=2, name="a"), tf.ShapeError,
     ["ArgMax 'a'", "axis 2"]),
    ("cumsum axis", lambda x: tf.cumsum(x, axis=-3, name="c"), tf.ShapeError,
     ["Cumsum 'c'", "float32[2,3]", "axis -3"]),
    ("cumsum of a scalar", lambda x: tf.cumsum(tf.constant(1.0), name="c"), tf.ShapeError,
     ["Cumsum 'c'", "float32[]", "rank >= 1"]),
    ("cumsum int flag", lambda x: tf.cumsum(x, exclusive=1, name="c"), tf.DTypeError,
     ["Cumsum 'c'", "exclusive must be a bool", "1"]),
    ("cumsum vector axis", lambda x: tf.cumsum(x, tf.constant([1]), name="c"), tf.ShapeError,
     ["Cumsum 'c'", "axis must be a scalar"]),
    ("cumsum run-time axis", lambda x: tf.cumsum(x, tf.placeholder(tf.int32, []), name="c"),
     tf.UnsupportedError, ["Cumsum 'c'", "computed at run time"]),
    ("cumsum of bools", lambda x: tf.cumsum(x > 0, name="c"), tf.DTypeError,
     ["Cumsum 'c'", "bool[2,3]", "bool"]),
    ("cumprod axis", lambda x: tf.cumprod(x, axis=2, name="c"), tf.ShapeError,
     ["Cumprod 'c'", "float32[2,3]", "axis 2"]),
    ("cumprod of bools", lambda x: tf.math.cumprod(x > 0, name="c"), tf.DTypeError,
     ["Cumprod 'c'", "bool[2,3]", "bool"]),
    ("matrix_inverse of a 2x3", lambda x: tf.matrix_inverse(x, name="i"), tf.ShapeError,
     ["MatrixInverse 'i'", "float32[2,3]", "square"]),
    ("matrix_inverse of a vector", lambda x: tf.linalg.inv(x[0], name="i"), tf.ShapeError,
     ["MatrixInverse 'i'", "float32[3]", "rank >= 2"]),
    ("matrix_determinant of ints", lambda x: tf.linalg.det(tf.ones([2, 2], tf.int32),
                                                          name="d"),
     tf.DTypeError, ["MatrixDeterminant 'd'", "int32"]),
    ("top_k k above the axis", lambda x: tf.nn.top_k(x, 4, name="k"), tf.ShapeError,
     ["TopKV2 'k'", "float32[2,3]", "k = 4"]),
    ("top_k float k", lambda x: tf.nn.top_k(x, 1.5, name="k"), tf.GraphError,
     ["TopKV2 'k'", "k must be an int"]),
    ("sort direction", lambda x: tf.sort(x, direction="UP", name="s"), tf.GraphError,
     ["TopKV2 's'", "'ASCENDING' or 'DESCENDING'"]),
    ("argsort axis", lambda x: tf.argsort(x, axis=2, name="s"), tf.ShapeError,
     ["TopKV2 's'", "axis 2"]),
    ("sort of bools", lambda x: tf.sort(x > 0, name="s"), tf.DTypeError,
     ["TopKV2 's'", "bool[2,3]"]),
    ("boolean_mask scalar mask", lambda x: tf.boolean_mask(x, True, name="m"), tf.ShapeError,
     ["BooleanMask 'm'", "rank >= 1"]),
    ("boolean_mask float mask", lambda x: tf.boolean_mask(x, x, name="m"), tf.DTypeError,
     ["BooleanMask 'm'", "mask has dtype float32"]),
    ("boolean_mask mask shape", lambda x: tf.boolean_mask(x, [True, False], axis=1, name="m"),
     tf.ShapeError, ["BooleanMask 'm'", "does not match"]),
    ("check_numerics of ints", lambda x: tf.check_numerics(tf.cast(x, tf.int32), "m",
                                                           name="c"),
     tf.DTypeError, ["CheckNumerics 'c'", "int32[2,3]"]),
    ("check_numerics message", lambda x: tf.check_numerics(x, 3, name="c"),
     tf.InvalidArgumentError, ["CheckNumerics 'c'", "message must be a string"]),
    ("placeholder_with_default shape", lambda x: tf.placeholder_with_default(x, [3, None],
                                                                             name="p"),
     tf.ShapeError, ["PlaceholderWithDefault 'p'", "float32[2,3]", "declared shape [3, None]"]),
    ("Print first_n", lambda x: tf.Print(x, [x], first_n=2, name="p"), tf.UnsupportedError,
     ["Print 'p'", "first_n"]),
    ("print to a file", lambda x: tf.print(x, output_stream="file:///tmp/x", name="p"),
     tf.UnsupportedError, ["Print 'p'", "sys.stderr or sys.stdout"]),
    ("einsum operand count", lambda x: tf.einsum("ij,jk->ik", x, name="e"), tf.ShapeError,
     ["Einsum 'e'", "2 operand(s) but 1 input(s)"]),
    ("clip_by_value of bools", lambda x: tf.clip_by_value(x > 0, False, True, name="c"),
     tf.DTypeError, ["Maximum 'c'", "bool"]),
    ("clip_by_norm of ints", lambda x: tf.clip_by_norm(tf.cast(x, tf.int32), 1, name="c"),
     tf.DTypeError, ["Mul 'c'", "int32[2,3]"]),
    ("clip_by_global_norm of a tensor", lambda x: tf.clip_by_global_norm(x, 1.0, name="c"),
     tf.GraphError, ["Sqrt 'c'", "t_list should be a sequence"]),
    ("embedding_lookup float ids", lambda x: tf.nn.embedding_lookup(x, [0.5], name="e"),
     tf.GraphError, ["GatherV2 'e'", "int32 or int64 ids"]),
    ("embedding_lookup strategy", lambda x: tf.nn.embedding_lookup(
        [x, x], [0], partition_strategy="random", name="e"),
     tf.GraphError, ["GatherV2 'e'", "'mod' or 'div'"]),
    ("reduce_logsumexp of ints", lambda x: tf.reduce_logsumexp(tf.cast(x, tf.int32),
                                                                name="r"),
     tf.DTypeError, ["Max 'r'", "int32[2,3]"]),
    ("softmax axis", lambda x: tf.nn.softmax(x, axis=3, name="s"), tf.ShapeError,
     ["Softmax 's'", "axis 3"]),
    ("transpose perm of strings", lambda x: tf.transpose(x, "ab", name="t"), tf.DTypeError,
     ["Transpose 't'", "float32[2,3]", "perm must be integers"]),
    ("transpose run-time perm", lambda x: tf.transpose(x, tf.placeholder(tf.int32, [2]),
                                                       name="t"),
     tf.UnsupportedError, ["Transpose 't'", "computed at run time"]),
    ("expand_dims float axis", lambda x: tf.expand_dims(x, 1.0, name="e"), tf.DTypeError,
     ["ExpandDims 'e'", "axis must be a Python int"]),
    ("squeeze float axis", lambda x: tf.squeeze(x, [0.5], name="s"), tf.DTypeError,
     ["Squeeze 's'", "axis must be integers"]),
    ("concat float axis", lambda x: tf.concat([x, x], 0.5, name="c"), tf.DTypeError,
     ["ConcatV2 'c'", "axis must be a Python int"]),
    ("stack float axis", lambda x: tf.stack([x, x], axis=0.5, name="s"), tf.DTypeError,
     ["ConcatV2 's'", "axis must be a Python int"]),
    ("gather float axis", lambda x: tf.gather(x, [0], axis=0.5, name="g"), tf.DTypeError,
     ["GatherV2 'g'", "axis must be a Python int"]),
    ("split into zero pieces", lambda x: tf.split(x, 0, name="sp"), tf.ShapeError,
     ["StridedSlice 'sp'", "must be positive"]),
    ("split with two -1", lambda x: tf.split(x, [-1, -1, 1], axis=1, name="sp"), tf.ShapeError,
     ["StridedSlice 'sp'", "single -1"]),
    ("split float axis", lambda x: tf.split(x, 2, axis=0.5, name="sp"), tf.DTypeError,
     ["StridedSlice 'sp'", "axis must be a Python int"]),
    ("strided_slice lengths", lambda x: tf.strided_slice(x, [0], [1, 2], name="ss"),
     tf.ShapeError, ["StridedSlice 'ss'", "same length"]),
    ("strided_slice float bounds", lambda x: tf.strided_slice(x, [0.5], [1], name="ss"),
     tf.DTypeError, ["StridedSlice 'ss'", "begin must be integers"]),
    ("slice negative size", lambda x: tf.slice(x, [0, 0], [-2, 1], name="sl"), tf.ShapeError,
     ["StridedSlice 'sl'", "size -2"]),
    ("slice matrix begin", lambda x: tf.slice(x, [[0, 0]], [1, 1], name="sl"), tf.ShapeError,
     ["StridedSlice 'sl'", "scalar or a vector"]),
    ("tile float multiples", lambda x: tf.tile(x, [1.5, 1], name="t"), tf.DTypeError,
     ["Tile 't'", "multiples must be integers"]),
    ("tile run-time multiples", lambda x: tf.tile(x, tf.placeholder(tf.int32, [2]), name="t"),
     tf.UnsupportedError, ["Tile 't'", "computed at run time"]),
    ("broadcast_to matrix shape", lambda x: tf.broadcast_to(x, [[2, 3]], name="b"),
     tf.ShapeError, ["BroadcastTo 'b'", "scalar or a vector"]),
    ("broadcast_to negative", lambda x: tf.broadcast_to(x, [-2, 3], name="b"), tf.ShapeError,
     ["BroadcastTo 'b'", "[-2, 3]"]),
    ("one_hot negative depth", lambda x: tf.one_hot(tf.constant([1]), -2, name="o"),
     tf.ShapeError, ["OneHot 'o'", "depth must be >= 0"]),
    ("one_hot float depth", lambda x: tf.one_hot(tf.constant([1]), 2.5, name="o"),
     tf.DTypeError, ["OneHot 'o'", "depth must be a Python int"]),
    ("pad unknown mode", lambda x: tf.pad(x, [[0, 0], [0, 0]], mode="WRAP", name="p"),
     tf.GraphError, ["Pad 'p'", "mode must be one of", "'WRAP'"]),
    ("pad float paddings", lambda x: tf.pad(x, [[0.5, 0], [0, 0]], name="p"), tf.ShapeError,
     ["Pad 'p'", "paddings must be integer"]),
    ("range run-time bound", lambda x: tf.range(tf.placeholder(tf.int32, []), name="rg"),
     tf.UnsupportedError, ["Range 'rg'", "computed at run time"]),
    ("range of bools", lambda x: tf.range(3, dtype=tf.bool, name="rg"), tf.DTypeError,
     ["Range 'rg'", "numeric"]),
    ("matmul of a vector", lambda x: tf.matmul(x, tf.constant([1.0, 2.0, 3.0]), name="m"),
     tf.ShapeError, ["MatMul 'm'", "float32[3]", "rank >= 2"]),
    ("dropout keep_prob 0", lambda x: tf.nn.dropout(x, 0.0, name="d"), tf.InvalidArgumentError,
     ["dropout 'd'", "float32[2,3]", "keep_prob", "(0, 1]", "got 0.0"]),
    ("dropout rate 1", lambda x: tf.nn.dropout(x, rate=1, name="d"), tf.InvalidArgumentError,
     ["dropout 'd'", "rate", "[0, 1)", "got 1"]),
    ("dropout keep_prob and rate", lambda x: tf.nn.dropout(x, 0.5, rate=0.5, name="d"),
     tf.InvalidArgumentError, ["dropout 'd'", "both 'keep_prob' and 'rate'"]),
    ("dropout no rate", lambda x: tf.nn.dropout(x, name="d"), tf.InvalidArgumentError,
     ["dropout 'd'", "provide a rate"]),
    ("dropout keep_prob a string", lambda x: tf.nn.dropout(x, "0.5", name="d"),
     tf.InvalidArgumentError, ["dropout 'd'", "keep_prob", "'0.5'"]),
    ("dropout keep_prob a vector", lambda x: tf.nn.dropout(x, tf.constant([0.5]), name="d"),
     tf.ShapeError, ["dropout 'd'", "keep_prob must be a scalar", "(1,)"]),
    ("dropout keep_prob float64", lambda x: tf.nn.dropout(x, tf.constant(0.5, tf.float64),
                                                          name="d"),
     tf.DTypeError, ["dropout 'd'", "keep_prob has dtype float64", "float32"]),
    ("dropout of ints", lambda x: tf.nn.dropout(tf.cast(x, tf.int32), 0.5, name="d"),
     tf.DTypeError, ["dropout 'd'", "int32[2,3]", "floating point"]),
    ("dropout noise_shape", lambda x: tf.nn.dropout(x, 0.5, noise_shape=[2, 2], name="d"),
     tf.ShapeError, ["dropout 'd'", "noise_shape [2, 2]", "(2, 3)"]),
    ("dropout noise_shape rank", lambda x: tf.nn.dropout(x, 0.5, noise_shape=[None], name="d"),
     tf.ShapeError, ["dropout 'd'", "noise_shape [None]", "does not fit"]),
    ("dropout run-time noise_shape", lambda x: tf.nn.dropout(
        x, 0.5, noise_shape=tf.placeholder(tf.int32, [2]), name="d"),
     tf.UnsupportedError, ["dropout 'd'", "noise_shape", "computed at run time"]),
    ("constant of strings and numbers", lambda x: tf.constant(["a", 1], name="c"),
     tf.DTypeError, ["Const 'c'", "strings and numbers"]),
    ("string constant as float32", lambda x: tf.constant("a", tf.float32, name="c"),
     tf.DTypeError, ["Const 'c'", "'a'", "float32"]),
    ("cast to string", lambda x: tf.cast(x, tf.string, name="c"), tf.DTypeError,
     ["Cast 'c'", "float32[2,3]", "cannot cast float32 to string"]),
    ("zeros of strings", lambda x: tf.zeros([2], tf.string, name="z"), tf.DTypeError,
     ["Fill 'z'", "not strings"]),
    ("string variable", lambda x: tf.Variable("a", name="v"), tf.DTypeError,
     ["VariableV2 'v'", "no string variables"]),
    ("add strings", lambda x: tf.add(tf.constant("a"), tf.constant("b"), name="a"),
     tf.DTypeError, ["Add 'a'", "string[]"]),
    ("scalar summary of a matrix", lambda x: tf.summary.scalar("s", x), tf.ShapeError,
     ["ScalarSummary 's'", "float32[2,3]", "takes a scalar"]),
    ("scalar summary of a bool", lambda x: tf.summary.scalar("s", x[0, 0] > 0), tf.DTypeError,
     ["ScalarSummary 's'", "bool[]"]),
    ("histogram of strings", lambda x: tf.summary.histogram("h", tf.constant(["a"])),
     tf.DTypeError, ["HistogramSummary 'h'", "string[1]"]),
    ("summary name not a string", lambda x: tf.summary.scalar(3, x[0, 0]),
     tf.InvalidArgumentError, ["ScalarSummary", "float32[]", "name must be a string"]),
    ("summary name empty", lambda x: tf.summary.histogram("/", x), tf.GraphError,
     ["HistogramSummary", "float32[2,3]", "name is empty"]),
    ("merge of a float tensor", lambda x: tf.summary.merge([x]), tf.GraphError,
     ["MergeSummary 'Merge/MergeSummary'", "float32[2,3]", "not a summary"]),
    ("merge of nothing", lambda x: tf.summary.merge([], name="m"), tf.GraphError,
     ["MergeSummary 'm/m'", "at least one summary"]),
    ("merge of one tensor", lambda x: tf.summary.merge(x), tf.InvalidArgumentError,
     ["MergeSummary 'Merge/MergeSummary'", "float32[2,3]", "a list of summary tensors"]),
    ("cond on a Python bool", lambda x: tf.cond(True, lambda: x, lambda: x, name="c"),
     tf.InvalidArgumentError, ["If 'c'", "pred must not be a Python bool"]),
    ("cond on a tensor of bools", lambda x: tf.cond(x > 0, lambda: x, lambda: x, name="c"),
     tf.ShapeError, ["If 'c'", "bool[2,3]", "pred must be a bool scalar"]),
    ("cond branch not callable", lambda x: tf.cond(tf.constant(True), x, lambda: x, name="c"),
     tf.InvalidArgumentError, ["If 'c'", "true_fn must be callable", "Tensor"]),
    ("cond branches of two dtypes", lambda x: tf.cond(tf.constant(True), lambda: x, lambda: tf.cast(x, tf.int32), name="c"),  # noqa: E501
     tf.DTypeError, ["If 'c'", "output 0 is float32 in true_fn and int32 in false_fn"]),
    ("cond branches of two shapes", lambda x: tf.cond(tf.constant(True), lambda: x, lambda: tf.transpose(x), name="c"),  # noqa: E501
     tf.ShapeError, ["If 'c'", "output 0 has shape (2, 3) in true_fn and (3, 2) in false_fn"]),
    ("cond branches of two structures", lambda x: tf.cond(tf.constant(True), lambda: [x, x], lambda: x, name="c"),  # noqa: E501
     tf.GraphError, ["If 'c'", "same structure", "[., .] and ."]),
    ("cond branch returning None", lambda x: tf.cond(tf.constant(True), lambda: None, lambda: x, name="c"),  # noqa: E501
     tf.GraphError, ["If 'c'", "true_fn of cond 'c' returned None"]),
    ("while without loop variables", lambda x: tf.while_loop(lambda: True, lambda: [], [], name="w"),  # noqa: E501
     tf.InvalidArgumentError, ["While 'w'", "at least one tensor"]),
    ("while cond not a bool", lambda x: tf.while_loop(lambda v: v, lambda v: v, [x], name="w"),
     tf.ShapeError, ["While 'w'", "cond must return a bool scalar", "float32[2,3]"]),
    ("while body changes a dtype", lambda x: tf.while_loop(lambda v: v[0, 0] < 1, lambda v: tf.cast(v, tf.int32), [x], name="w"),  # noqa: E501
     tf.DTypeError, ["While 'w'", "x:0 enters the loop as float32", "int32"]),
    ("while body changes a shape", lambda x: tf.while_loop(lambda v: v[0, 0] < 1, lambda v: tf.concat([v, v], 0), [x], name="w"),  # noqa: E501
     tf.ShapeError, ["While 'w'", "'x:0' enters the loop with shape (2, 3), but has shape "
                     "(4, 3) after one iteration", "shape_invariants"]),
    ("while body of another structure", lambda x: tf.while_loop(lambda v: v[0, 0] < 1, lambda v: (v, v), [x], name="w"),  # noqa: E501
     tf.GraphError, ["While 'w'", "structure of loop_vars, [.]", "returned (., .)"]),
    ("while shape invariant of another rank", lambda x: tf.while_loop(lambda v: v[0, 0] < 1, lambda v: v, [x], shape_invariants=[[None]], name="w"),  # noqa: E501
     tf.ShapeError, ["While 'w'", "shape invariant specified for x:0 is not compatible"]),
    ("while float maximum_iterations", lambda x: tf.while_loop(lambda v: v[0, 0] < 1, lambda v: v, [x], maximum_iterations=2.5, name="w"),  # noqa: E501
     tf.ShapeError, ["While 'w'", "maximum_iterations must be an integer scalar"]),
]


@pytest.mark.parametrize("case", BUILD, ids=lambda c: c[0])
def test_bad_build(case):
    _, build, error, fragments = case
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2, 3], name="x")
        with pytest.raises(error) as info:
            build(x)
    _check(str(info.value), fragments, line=build.__code__.co_firstlineno)


# -- run-time shapes: dims unknown at build time meet when fed ---------------------------

@dataclass
class Run:
    name: str
    build: object  # (feed) -> fetch; feed(name, static shape, value or shape, dtype) -> tensor
    fragments: list
    error: type = tf.ShapeError
    feeds: dict = field(default_factory=dict)


def _feeder(feeds: dict):
    def feed(name, shape, value, dtype=tf.float32):
        t = tf.placeholder(dtype, shape, name=name)
        feeds[t] = (np.zeros(value, dtype.np) if isinstance(value, tuple)
                    else np.asarray(value, dtype.np))
        return t
    return feed


RUNS = [
    Run("broadcast rows", lambda f: tf.add(f("a", [None, 3], (2, 3)), f("b", [None, 3], (5, 3)),
                                            name="c"),
        ["Add 'c' (float32[?,3], float32[?,3])", "run with inputs (float32[2,3], float32[5,3])",
         "incompatible shapes for broadcasting"]),
    Run("broadcast columns", lambda f: tf.multiply(f("a", [2, None], (2, 3)),
                                                   f("b", [2, None], (2, 4)), name="m"),
        ["Mul 'm'", "float32[2,3], float32[2,4]", "incompatible"]),
    Run("broadcast vectors", lambda f: tf.subtract(f("a", [None], (3,)), f("b", [None], (4,))),
        ["Sub 'Sub'", "float32[3], float32[4]"]),
    Run("broadcast against a constant", lambda f: f("a", [None], (4,)) + np.ones(3, np.float32),
        ["'add'", "float32[4], float32[3]"]),
    Run("maximum", lambda f: tf.maximum(f("a", [None, 2], (3, 2)), f("b", [None, 2], (2, 2)),
                                        name="mx"),
        ["Maximum 'mx'", "float32[3,2], float32[2,2]"]),
    Run("where", lambda f: tf.where(f("c", [None], (2,), tf.bool), f("a", [None], (2,)),
                                    f("b", [None], (3,)), name="w"),
        ["'w'", "bool[2], float32[2], float32[3]"]),
    Run("matmul inner dims", lambda f: tf.matmul(f("a", [None, None], (2, 3)),
                                                 f("b", [None, None], (4, 3)), name="mm"),
        ["MatMul 'mm' (float32[?,?], float32[?,?])", "float32[2,3], float32[4,3]",
         "contraction dimensions differ: 3 (a) vs 4 (b)"]),
    Run("matmul transposed", lambda f: tf.matmul(f("a", [2, None], (2, 3)),
                                                 f("b", [2, None], (2, 4)), transpose_b=True,
                                                 name="mm"),
        ["MatMul 'mm'", "float32[2,3], float32[2,4]", "contraction"]),
    Run("matmul batch dims", lambda f: tf.matmul(f("a", [None, 2, 3], (2, 2, 3)),
                                                 f("b", [None, 3, 4], (3, 3, 4)), name="mm"),
        ["MatMul 'mm'", "float32[2,2,3], float32[3,3,4]"]),
    Run("reshape size", lambda f: tf.reshape(f("a", [None, None], (2, 2)), [3], name="r"),
        ["Reshape 'r' (float32[?,?])", "float32[2,2]", "cannot reshape 4 elements"]),
    Run("reshape -1 not divisible", lambda f: tf.reshape(f("a", [None], (4,)), [-1, 3], name="r"),
        ["Reshape 'r'", "float32[4]"]),
    Run("concat other axis", lambda f: tf.concat([f("a", [2, None], (2, 4)),
                                                  f("b", [None, 3], (3, 3))], 0, name="cc"),
        ["ConcatV2 'cc'", "float32[2,4], float32[3,3]", "dimension 1"]),
    Run("stack", lambda f: tf.stack([f("a", [None], (2,)), f("b", [None], (3,))], name="st"),
        ["ConcatV2 'st'", "float32[1,2], float32[1,3]"]),
    Run("index past the end", lambda f: f("a", [None, 3], (2, 3))[4],
        ["StridedSlice 'strided_slice/StridedSlice' (float32[?,3])", "float32[2,3]",
         "index 4 is out of range for axis 0 with size 2"]),
    Run("negative index past the start", lambda f: f("a", [None, 3], (2, 3))[-3, 1],
        ["StridedSlice", "index -3 is out of range for axis 0 with size 2"]),
    Run("strided_slice shrink", lambda f: tf.strided_slice(f("a", [3, None], (3, 2)), [0, 2],
                                                           [3, 3], shrink_axis_mask=2, name="s"),
        ["StridedSlice 's/StridedSlice'", "index 2 is out of range for axis 1 with size 2"]),
    Run("squeeze a non-1 dim", lambda f: tf.squeeze(f("a", [None, 3], (2, 3)), [0], name="sq"),
        ["Squeeze 'sq'", "float32[2,3]", "axis 0"]),
    Run("broadcast_to", lambda f: tf.broadcast_to(f("a", [None, 3], (2, 3)), [4, 3], name="bt"),
        ["BroadcastTo 'bt'", "float32[2,3]", "[4, 3]"]),
    Run("pad reflect too wide", lambda f: tf.pad(f("a", [None, 3], (2, 3)), [[3, 0], [0, 0]],
                                                 mode="REFLECT", name="p"),
        ["Pad 'p'", "float32[2,3]", "axis 0 of size 2"]),
    Run("conv window larger than input",
        lambda f: tf.nn.conv2d(f("a", [1, None, None, 1], (1, 2, 2, 1)), tf.zeros([3, 3, 1, 1]),
                               [1, 1, 1, 1], "VALID", name="cv"),
        ["Conv2D 'cv'", "float32[1,2,2,1]"]),
    Run("assign of another shape", lambda f: tf.assign(_variable(), f("a", [None, 3], (1, 3)),
                                                       name="as"),
        ["Assign 'as'", "float32[1,3]", "cannot assign"]),
    Run("gather index out of range", lambda f: tf.gather(f("p", [None, 2], (3, 2)),
                                                         f("i", [None], [0, 5], tf.int32),
                                                         name="g"),
        ["GatherV2 'g'", "index 5 is out of range [0, 3)"]),
    Run("result larger than memory", lambda f: tf.tile(f("a", [None, 1], (2, 1)), HUGE, name="t"),
        ["Tile 't'", "float32[8388608,1048576]", "GiB", "memory"], tf.ResourceExhaustedError),
    Run("fill larger than memory", lambda f: tf.zeros(HUGE, name="z"), ["Fill 'z'", "GiB"],
        tf.ResourceExhaustedError),
    Run("cond branches of two run-time shapes", lambda f: (lambda a, b: tf.cond(f("p", [], True, tf.bool), lambda: a, lambda: b, name="c"))(f("a", [None], (2,)), f("b", [None], (3,))),  # noqa: E501
        ["If 'c' (bool[], float32[?], float32[?])", "bool[], float32[2], float32[3]",
         "output 0 has shape (2,) in true_fn and (3,) in false_fn"]),
    Run("gather out of range in a loop body", lambda f: (lambda p: tf.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s + tf.gather(p, i, name="g")), [0, 0.0], name="w"))(f("p", [None], (3,))),  # noqa: E501
        ["While 'w' (int32[], float32[], float32[?])", "GatherV2 'g' (float32[?], int32[])",
         "index 3 is out of range [0, 3)"]),
]


def _variable():
    return tf.Variable(np.zeros((2, 3), np.float32), name="v")


def _run_everywhere(case: Run) -> tuple[list[str], int]:
    """The messages of Session (compiled, reference) and compile, and the builder's line."""
    graph, feeds = tf.Graph(), {}
    with graph.as_default():
        fetch = case.build(_feeder(feeds))
        init = tf.global_variables_initializer()
    messages = []
    for engine in ("compiled", "reference"):
        with tf.Session(graph=graph, engine=engine) as sess, \
                pytest.raises(case.error) as info:
            sess.run(init)
            sess.run(fetch, feeds)
        messages.append(str(info.value))
    fn = tf.compile(graph, fetch, feeds=list(feeds))
    tf.compile(init, state=fn.state)()
    with pytest.raises(case.error) as info:
        fn(*feeds.values())
    messages.append(str(info.value))
    return messages, case.build.__code__.co_firstlineno


@pytest.mark.parametrize("case", RUNS, ids=lambda c: c.name)
def test_bad_run_time_shapes(case):
    messages, line = _run_everywhere(case)
    _check(messages[0], case.fragments, line=line)
    assert messages[0] == messages[1] == messages[2], messages


def test_plan_larger_than_memory_is_refused_before_running(monkeypatch):
    """Each result fits, all together do not: the plan is refused, not run."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.placeholder(tf.float32, [None], name="a")
        parts = [a + 1.0, a * 2.0, a - 3.0]
    fn = tf.compile(graph, parts)
    monkeypatch.setattr(planner, "memory_limit", lambda: 1000)
    monkeypatch.setattr(interpreter, "memory_limit", lambda: 1000)
    with pytest.raises(tf.ResourceExhaustedError) as info:
        fn(np.zeros(100, np.float32))
    _check(str(info.value), ["the plan computing 'add:0', 'mul:0', 'sub:0'", "a:0 float32[100]",
                             "1,200 bytes of results", "memory"])


# -- the risky ones, in a fresh process: no crash, no hang ------------------------------

RISKY = """
import numpy as np, graphjit as tf
def expect(error, run):
    try:
        run()
    except error as exc:
        print("ok", type(exc).__name__)
    else:
        print("no error")
with tf.Graph().as_default() as g:
    a = tf.placeholder(tf.float32, [None, 1], name="a")
    big = tf.tile(a, [2**22, 2**20])
    tiled = tf.tile(tf.constant(np.zeros((1024, 1024), np.float32)), [4096, 1024])
for engine in ("compiled", "reference"):
    expect(tf.ResourceExhaustedError, lambda: tf.Session(graph=g, engine=engine).run(
        big, {a: np.zeros((2, 1))}))
expect(tf.ResourceExhaustedError, lambda: tf.compile(tiled)())
expect(tf.ShapeError, lambda: tf.placeholder(tf.float32, [1] * 21))
expect(tf.ResourceExhaustedError, lambda: tf.constant(1.0, shape=[2**40, 2**10]))
"""


def test_risky_inputs_fail_cleanly_in_a_subprocess():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(RISKY)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:-1] == ["ok ResourceExhaustedError"] * 3 + [
        "ok ShapeError", "ok ResourceExhaustedError"], done.stdout + done.stderr[-3000:]


def test_fused_values_take_no_memory(monkeypatch):
    """A broadcast fused into a reduction is never allocated: the compiled engine runs it
    where the reference interpreter, which allocates every value, refuses."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.placeholder(tf.float32, [None], name="a")
        line = caller_line(); total = tf.reduce_sum(tf.broadcast_to(a, [100, 10]))  # noqa: E702
    monkeypatch.setattr(planner, "memory_limit", lambda: 1000)
    monkeypatch.setattr(interpreter, "memory_limit", lambda: 1000)
    assert tf.compile(total)(np.ones(10, np.float32)) == 1000
    with tf.Session(graph=graph, engine="reference") as sess, \
            pytest.raises(tf.ResourceExhaustedError) as info:
        sess.run(total, {a: np.ones(10)})
    _check(str(info.value), ["BroadcastTo", "float32[100,10]", "4,000 bytes"], line=line)
