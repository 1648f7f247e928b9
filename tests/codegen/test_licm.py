"""codegen.licm: invariant assignments leave their loops, and nothing else moves."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from codegen.licm import hoist_invariants
from codegen.loopir import Assign, Call, Const, Dim, Load, Loop, Store, Var
from graphjit.interpreter import evaluate

I, J = Var("i0"), Var("j1")
F = "float32"


def tanh(e) -> Call:
    return Call("tanh", (e,), F)


def test_a_function_of_a_broadcast_input_leaves_both_loops():
    body = (Loop("i0", 0, Dim("out0", 0), (Loop("j1", 0, Dim("out0", 1), (
        Assign("t1", tanh(Load("in0", (0,))), F),
        Assign("t2", tanh(Load("in1", (I,))), F),
        Assign("t3", Call("add", (Var("t1"), Load("in2", (I, J))), F), F),
        Store("out0", (I, J), Call("mul", (Var("t2"), Var("t3")), F)),
    )),)),)
    (t1, outer) = hoist_invariants(body, {"out0"})
    assert t1 == body[0].body[0].body[0]  # invariant in both loops
    (t2, inner) = outer.body
    assert t2.target == "t2"  # invariant in the inner loop only
    assert [s.target if isinstance(s, Assign) else "store" for s in inner.body] == \
        ["t3", "store"]


def test_accumulators_resets_and_reads_of_outputs_stay():
    body = (Loop("i0", 0, Dim("out0", 0), (
        Assign("acc", Const(0.0, F), F),  # reset per row: assigned twice in the kernel
        Loop("j1", 0, Dim("in0", 1), (
            Assign("acc", Call("add", (Var("acc"), Load("in0", (I, J))), F), F),)),
        Assign("back", Load("out1", (0,)), F),  # an output may change in the loop
        Assign("scale", tanh(Var("acc")), F),   # reads a variable the loop defines
        Store("out0", (I,), Call("add", (Var("scale"), Var("back")), F)),
    )),)
    assert hoist_invariants(body, {"out0", "out1"}) == body


def _chain_of_vector_math(x):
    return tf.sigmoid(tf.log1p(tf.tanh(tf.sigmoid(x))))


def test_vector_math_on_a_broadcast_value_compiles_and_matches_the_reference():
    """Left in its loop, this chain made LLVM unswitch the loop on every select of the
    inlined functions: over ten minutes to compile (fuzzer, F6)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        column = tf.placeholder(tf.float32, [None, 1], name="column")
        fetches = [_chain_of_vector_math(tf.broadcast_to(x, [3])),
                   _chain_of_vector_math(column) * tf.ones([1, 4]) + tf.exp(column)]
    feeds = {x: np.array([0.6], np.float32),
             column: np.array([[-1.5], [0.0], [2.0]], np.float32)}
    got = tf.compile(g, fetches=fetches, feeds=[x, column])(*feeds.values())
    for value, want in zip(got, evaluate(fetches, feeds)):
        np.testing.assert_allclose(value, want, rtol=3e-6)
