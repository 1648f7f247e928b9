"""Algebraic simplification: each rule (and each refusal) by structure and by numbers.

Every pattern sits between placeholders and an Abs, so the fetched op is not
the one rewritten (fetched ops keep their names, see test_manager).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.passes.util import op_types, optimize_and_compare

PASSES = ["simplify", "dce"]
FLOAT_X = np.array([[-2.5, -0.0, 0.0, 1.5], [np.nan, np.inf, -np.inf, 3.0]], np.float32)
FLOAT_Y = np.array([[1.0, -1.0, 0.0, 2.0], [np.inf, -np.inf, np.nan, 0.5]], np.float32)
INT_X = np.array([[-3, 0, 1, 7], [2, -1, 5, 4]], np.int32)
INT_Y = np.array([[1, 0, -2, 3], [4, 4, -6, 1]], np.int32)


def _neg(x):
    return tf.negative(x)


def _raw(op_type, inputs, attrs=None):
    return inputs[0].graph.create_op(op_type, inputs, attrs).outputs[0]


# (id, dtype, pattern(x, y), op types left besides Placeholders and the final Abs)
CASES = [
    ("x*1", "float32", lambda x, y: x * 1.0, {}),
    ("1*x", "int32", lambda x, y: 1 * x, {}),
    ("x*ones", "float32", lambda x, y: x * tf.ones([2, 4]), {}),
    ("x/1", "float32", lambda x, y: x / 1.0, {}),
    ("x+(-0.0)", "float32", lambda x, y: x + (-0.0), {}),
    ("x+0.0 kept: -0+0 is +0", "float32", lambda x, y: x + 0.0, {"Add": 1, "Const": 1}),
    ("x-0.0", "float32", lambda x, y: x - 0.0, {}),
    ("x-(-0.0) kept", "float32", lambda x, y: x - (-0.0), {"Sub": 1, "Const": 1}),
    ("int x+0", "int32", lambda x, y: x + 0, {}),
    ("int 0+x", "int32", lambda x, y: 0 + x, {}),
    ("int x*0", "int32", lambda x, y: x * 0, {"Fill": 1}),
    ("float x*0 kept: NaN*0", "float32", lambda x, y: x * 0.0, {"Mul": 1, "Const": 1}),
    ("int x-x", "int32", lambda x, y: x - x, {"Fill": 1}),
    ("float x-x kept: inf-inf", "float32", lambda x, y: x - x, {"Sub": 1}),
    ("neg(neg(x))", "float32", lambda x, y: _neg(_neg(x)), {}),
    ("int neg(neg(x))", "int32", lambda x, y: _neg(_neg(x)), {}),
    ("x+neg(y)", "float32", lambda x, y: x + _neg(y), {"Sub": 1}),
    ("neg(y)+x", "int32", lambda x, y: _neg(y) + x, {"Sub": 1}),
    ("x-neg(y)", "float32", lambda x, y: x - _neg(y), {"Add": 1}),
    ("x**1", "float32", lambda x, y: tf.pow(x, 1.0), {}),
    ("x**2", "float32", lambda x, y: tf.pow(x, 2.0), {"Mul": 1}),
    ("x**3", "int32", lambda x, y: tf.pow(x, 3), {"Mul": 2}),
    ("x**0", "float32", lambda x, y: tf.pow(x, 0.0), {"Fill": 1}),
    ("x**-1", "float32", lambda x, y: tf.pow(x, -1.0), {"Reciprocal": 1}),
    ("x**0.5 kept: pow(-inf, .5)", "float32", lambda x, y: tf.pow(x, 0.5),
     {"Pow": 1, "Const": 1}),
    ("x**y kept", "float32", lambda x, y: tf.pow(x, y), {"Pow": 1}),
    ("1/sqrt(x)", "float32", lambda x, y: tf.reciprocal(tf.sqrt(x)), {"Rsqrt": 1}),
    ("1/x", "float32", lambda x, y: 1.0 / x, {"Reciprocal": 1}),
    ("exp(log(x)) kept", "float32", lambda x, y: tf.exp(tf.log(x)), {"Exp": 1, "Log": 1}),
    ("max(x,x)", "float32", lambda x, y: tf.maximum(x, x), {}),
    ("min(x,x)", "int32", lambda x, y: tf.minimum(x, x), {}),
    ("select(x,x)", "float32", lambda x, y: tf.where(x > y, x, x), {}),
    ("select(True)", "float32", lambda x, y: tf.where(tf.constant(True), x, y), {}),
    ("identity", "float32", lambda x, y: tf.identity(x), {}),
    ("cast to same dtype", "float32", lambda x, y: _raw("Cast", [x], {"dtype": tf.float32}),
     {}),
    ("broadcast_to same shape", "float32", lambda x, y: tf.broadcast_to(x, [2, 4]), {}),
    ("transpose twice", "float32",
     lambda x, y: tf.transpose(tf.transpose(x, [1, 0]), [1, 0]), {}),
    ("reshape round trip", "float32",
     lambda x, y: tf.reshape(tf.reshape(x, [8]), [2, 4]), {}),
    ("reshape of reshape", "int32", lambda x, y: tf.reshape(tf.reshape(x, [8]), [4, 2]),
     {"Reshape": 1}),
    ("expand then squeeze", "float32", lambda x, y: tf.squeeze(tf.expand_dims(x, 1), [1]), {}),
    ("identity reshape", "float32", lambda x, y: tf.reshape(x, [2, 4]), {}),
    ("broadcast scalar into consumer", "float32",
     lambda x, y: x * tf.broadcast_to(tf.constant(2.0), [2, 4]), {"Mul": 1, "Const": 1}),
    ("fill into consumer", "float32", lambda x, y: tf.fill([2, 4], 3.0) / x,
     {"RealDiv": 1, "Const": 1}),
    ("uniform constant to scalar", "float32",
     lambda x, y: x - tf.constant(np.full([2, 4], 7, np.float32)), {"Sub": 1, "Const": 1}),
    ("x+0 that broadcasts x stays", "int32",
     lambda x, y: tf.reshape(x, [8]) + tf.zeros([3, 8], tf.int32),
     {"Reshape": 1, "Add": 1, "Fill": 1}),
]


@pytest.mark.parametrize("dtype,pattern,left", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule(dtype, pattern, left):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [2, 4], name="x")
        y = tf.placeholder(dtype, [2, 4], name="y")
        out = tf.abs(pattern(x, y), name="out")
    values = (FLOAT_X, FLOAT_Y) if dtype == "float32" else (INT_X, INT_Y)
    new, report = optimize_and_compare(g, [out], dict(zip((x, y), values)), passes=PASSES)
    types = op_types(new)
    assert types.pop("Placeholder") == 2 and types.pop("Abs") == 1
    assert dict(types) == left, new.as_text()


def test_signed_zero_is_why_x_plus_zero_stays():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [1], name="x")
        out = tf.reciprocal(x + 0.0)  # 1/(-0 + 0) is +inf; 1/(-0) would be -inf
    _, report = optimize_and_compare(g, [out], {x: np.array([-0.0], np.float32)})
    assert report.changes == 0


def test_transposes_compose():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3, 4], name="x")
        t = tf.transpose(tf.transpose(x, [1, 0, 2]), [0, 2, 1])
        out = tf.abs(t, name="out")
    new, _ = optimize_and_compare(
        g, [out], {x: np.arange(24, dtype=np.float32).reshape(2, 3, 4)}, passes=PASSES)
    (transpose,) = [op for op in new.get_operations() if op.type == "Transpose"]
    assert transpose.attrs["perm"] == (1, 2, 0)


def test_unknown_dims_reshape():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        same = tf.reshape(x, [-1, 3])  # identity: one unknown dim, the same shape
        flat = tf.reshape(tf.reshape(x, [-1]), [-1, 1])
        out = tf.add(tf.abs(same), tf.reduce_sum(flat), name="out")
    new, _ = optimize_and_compare(g, [out], {x: np.ones((5, 3), np.float32)},
                                  passes=PASSES)
    reshapes = [op for op in new.get_operations() if op.type == "Reshape"]
    assert [op.attrs["shape"] for op in reshapes] == [(-1, 1)]


def test_reshapes_with_a_zero_dim_beside_an_unknown_one_are_not_combined():
    """x[:, 1:1, None, 0] is an ExpandDims and a Squeeze; one Reshape to (-1, 0, 1, 3)
    could not infer its -1 from zero elements (fuzzer, F7)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 2, None, 3], name="x")
        out = tf.abs(x[:, 1:1, None, 0], name="out")
    new, _ = optimize_and_compare(g, [out], {x: np.ones((1, 2, 2, 3))}, passes=PASSES)
    assert all(-1 not in op.attrs.get("shape", ()) or 0 not in op.attrs["shape"]
               for op in new.get_operations() if op.type == "Reshape")
    fn = tf.compile(g, fetches=out)
    assert fn(np.ones((1, 2, 2, 3))).shape == (1, 0, 1, 3)


def test_kept_tensor_is_opaque():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        inner = tf.negative(x, name="inner")
        out = tf.negative(inner, name="out")
        one = tf.constant(1.0, name="one")
        scaled = tf.multiply(x, one, name="scaled")
    feeds = {x: np.array([1, 2, 3], np.float32), inner: np.array([7, 8, 9], np.float32),
             one: np.float32(4)}
    new, _ = optimize_and_compare(g, [out, scaled], feeds, passes=PASSES)
    assert op_types(new) == {"Placeholder": 1, "Neg": 2, "Const": 1, "Mul": 1}


def test_fetched_rewritten_op_keeps_its_name():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        y = tf.multiply(x, 1.0, name="y")
        z = tf.pow(x, 2.0, name="z")
    new, report = optimize_and_compare(g, [y, z], {x: np.array([1, 2, 3], np.float32)})
    assert new.get_tensor_by_name("y:0").op.type == "Identity"
    assert new.get_tensor_by_name("z:0").op.type == "Mul"
    assert report.fetch_map[y] is new.get_tensor_by_name("y:0")


def test_unknown_dims_can_broadcast_at_run_time():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        c = tf.placeholder(tf.bool, [None], name="c")
        out = tf.where(c, x, x, name="out")  # (3,) from x of shape (1,): not x
    feeds = {x: np.array([2.0], np.float32), c: np.array([True, False, True])}
    new, _ = optimize_and_compare(g, [out], feeds)
    assert op_types(new)["Select"] == 1


def test_transpose_moves_through_elementwise_ops_to_cancel():
    """NCHW models imported into NHWC kernels: Transpose, activation, bias, Transpose back
    leaves only the activation and bias, on the data where it is."""
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3, 3, 4], name="x")  # NHWC
        nchw = tf.transpose(x, [0, 3, 1, 2])
        bias = tf.constant(rng.standard_normal((4, 1, 1)).astype(np.float32))
        act = tf.nn.relu(nchw + bias) * 0.5
        out = tf.abs(tf.transpose(act, [0, 2, 3, 1]), name="out")
    new, _ = optimize_and_compare(
        g, [out], {x: rng.standard_normal((2, 3, 3, 4)).astype(np.float32)}, passes=PASSES)
    types = op_types(new)
    assert "Transpose" not in types, new.as_text()
    assert types["Relu"] == 1 and types["Add"] == 1 and types["Mul"] == 1


def test_transpose_stays_where_moving_it_would_duplicate_work():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3], name="x")
        act = tf.nn.relu(tf.transpose(x))
        out = tf.add(tf.abs(tf.transpose(act)), tf.reduce_sum(act), name="out")
    new, _ = optimize_and_compare(g, [out], {x: np.arange(6, dtype=np.float32).reshape(2, 3)},
                                  passes=PASSES)
    assert op_types(new)["Transpose"] == 2, new.as_text()
