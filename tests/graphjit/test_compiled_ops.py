"""Every registered op compiled to native kernels, checked against the reference
interpreter (the oracle) and the independent NumPy expectation of its Case."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphjit as tf
from graphjit import interpreter
from tests.graphjit.cases import ALL_CASES
from tests.graphjit.error_check import assert_points_here, caller_line
from tests.graphjit.op_check import as_array, build_case, check_outputs

PARAMS = [pytest.param(case, dtype, id=f"{case.name}-{dtype}")
          for case in ALL_CASES for dtype in case.dtypes]


def run_both(case, arrays, unknown_dims):
    graph, placeholders, out = build_case(case, arrays, unknown_dims)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    compiled = tf.compile(outs, feeds=placeholders)(*arrays)
    reference = interpreter.evaluate(outs, dict(zip(placeholders, arrays)))
    for c, r in zip(compiled, reference):
        c = as_array(c)
        assert c.shape == r.shape and c.dtype == r.dtype, case.name
        if c.dtype.kind == "f":
            rtol = 1e-4 if c.dtype == np.float32 else 1e-10
            np.testing.assert_allclose(c, r, rtol=rtol, atol=1e-5, equal_nan=True,
                                       err_msg=case.name)
        else:
            np.testing.assert_array_equal(c, r, err_msg=case.name)
    return compiled if isinstance(out, (list, tuple)) else compiled[0]


@pytest.mark.parametrize("case, dtype", PARAMS)
def test_compiled_default_shapes(case, dtype):
    arrays = case.make_inputs(np.random.default_rng(0), case.default_shapes, dtype)
    check_outputs(case, arrays, run_both(case, arrays, unknown_dims=True))


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.shapes is not None],
                         ids=lambda c: c.name)
@settings(max_examples=2)
@given(data=st.data())
def test_compiled_hypothesis_shapes(case, data):
    shapes = data.draw(case.shape_strategy(), label="shapes")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    arrays = case.make_inputs(np.random.default_rng(seed), shapes, case.dtypes[0])
    check_outputs(case, arrays, run_both(case, arrays, unknown_dims=True))


def test_float_floordiv_is_floor_of_the_quotient_in_both_engines():
    """TF's FloorDiv on floats is floor(x / y): 1 // 0.1 = 10 (NumPy's floor_divide says
    9) and inf // 2 = inf (NumPy: nan); the reference and the kernels must agree."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        y = tf.placeholder(tf.float64, [None], name="y")
        q = tf.floordiv(x, y)
    xs, ys = np.array([1.0, np.inf, -7.0, 7.5]), np.array([0.1, 2.0, 2.0, -2.5])
    expected = [10.0, np.inf, -4.0, -3.0]
    for engine in ("reference", "compiled"):
        with tf.Session(graph=graph, engine=engine) as sess:
            np.testing.assert_array_equal(sess.run(q, {x: xs, y: ys}), expected, err_msg=engine)


@pytest.mark.parametrize("engine", ["reference", "compiled"])
@pytest.mark.parametrize("source", ["fed", "computed", "constant"])
def test_out_of_range_gather_indices_are_an_error_naming_the_op(engine, source):
    """The kernel clamps indices (no out-of-bounds read); the plan then checks them, so
    the compiled engine raises what the reference raises instead of returning p[2]."""
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.float32, [None], name="p")
        i = tf.placeholder(tf.int32, [None], name="i")
        indices = {"fed": i, "computed": i + 1, "constant": tf.constant([0, 3])}[source]
        line = caller_line() + 1
        y = tf.gather(p, indices, name="lookup") * 2
    with tf.Session(graph=graph, engine=engine) as sess:
        with pytest.raises(tf.ShapeError) as exc_info:
            sess.run(y, {p: np.arange(3.0), i: [0, 3]})
        assert_points_here(exc_info, "GatherV2 'lookup'", "out of range [0, 3)", line=line)
        expected = {"fed": [0.0, 2.0], "computed": [2.0, 4.0], "constant": [0.0, 6.0]}
        np.testing.assert_array_equal(sess.run(y, {p: np.arange(4.0), i: [0, 1]}),
                                      expected[source])
