"""TF1's math names as TF1 scripts use them, in both engines, against NumPy: casts,
squared_difference, count_nonzero, variance/std/norms, linspace, cumprod, and the
matrix inverse and determinant, with gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here
from tests.graphjit.tf1_ops_check import ENGINES, check_gradient, run

X = np.array([[1.5, -2.0, 0.0], [3.0, 0.25, -4.0], [0.0, 0.0, 2.0], [-1.0, 5.0, 0.5]])


@pytest.fixture(autouse=True)
def graph():
    g = tf.Graph()
    with g.as_default():
        yield g


def _x(dtype=tf.float64, value=X):
    return tf.placeholder(dtype, [None, value.shape[1]], name="x"), value.astype(dtype.np)


@pytest.mark.parametrize("engine", ENGINES)
def test_casts_and_squared_difference(engine):
    x, xv = _x(tf.float32)
    outs = [tf.to_int32(x), tf.to_int64(x), tf.to_double(x), tf.to_float(tf.to_int32(x)),
            tf.squared_difference(x, [1.0, 2.0, 3.0]), tf.math.squared_difference(3.0, x)]
    got = run(engine, outs, {x: xv})
    assert [g.dtype for g in got[:4]] == [np.int32, np.int64, np.float64, np.float32]
    np.testing.assert_array_equal(got[0], np.trunc(xv).astype(np.int32))
    np.testing.assert_array_equal(got[2], xv.astype(np.float64))
    np.testing.assert_allclose(got[4], (xv - [1, 2, 3]) ** 2, rtol=1e-6)
    np.testing.assert_allclose(got[5], (3 - xv) ** 2, rtol=1e-6)
    assert outs[0].op.name == "ToInt32" and outs[4].op.name == "SquaredDifference"


@pytest.mark.parametrize("engine", ENGINES)
def test_saturate_cast_clamps_instead_of_wrapping(engine):
    x = tf.placeholder(tf.float32, [None], name="x")
    big = np.array([-1e12, -3.5, 0.0, 200.7, 3e9, 1e12], np.float32)
    i = tf.placeholder(tf.int32, [None], name="i")
    to_int32, to_uint8, from_int = run(engine, [
        tf.saturate_cast(x, tf.int32), tf.saturate_cast(x, tf.uint8),
        tf.math.saturate_cast(i, tf.uint8)], {x: big, i: np.array([-5, 7, 300], np.int32)})
    # float32 cannot hold 2**31 - 1: the bound is the largest float32 below it
    np.testing.assert_array_equal(to_int32, [-2**31, -3, 0, 200, 2147483520, 2147483520])
    np.testing.assert_array_equal(to_uint8, [0, 0, 0, 200, 255, 255])
    np.testing.assert_array_equal(from_int, [0, 7, 255])


@pytest.mark.parametrize("engine", ENGINES)
def test_count_nonzero(engine):
    x, xv = _x()
    b = tf.placeholder(tf.bool, [None], name="b")
    outs = [tf.count_nonzero(x), tf.count_nonzero(x, axis=-1),
            tf.count_nonzero(x, 0, keepdims=True, dtype=tf.int32),
            tf.math.count_nonzero(b), tf.count_nonzero(input_tensor=x, reduction_indices=[1])]
    got = run(engine, outs, {x: xv, b: np.array([True, False, True])})
    assert got[0] == 9 and got[0].dtype == np.int64
    np.testing.assert_array_equal(got[1], [2, 3, 1, 3])
    assert got[2].dtype == np.int32 and got[2].tolist() == [[3, 3, 3]]
    assert got[3] == 2
    np.testing.assert_array_equal(got[4], got[1])


@pytest.mark.parametrize("engine", ENGINES)
def test_variance_std_and_euclidean_norm(engine):
    x, xv = _x()
    outs = [tf.math.reduce_variance(x), tf.math.reduce_variance(x, axis=-1, keepdims=True),
            tf.math.reduce_std(x, 0), tf.math.reduce_euclidean_norm(x, [0, -1]),
            tf.math.reduce_euclidean_norm(tf.constant([[3, 4], [5, 12]]), 1)]
    got = run(engine, outs, {x: xv})
    np.testing.assert_allclose(got[0], xv.var(), rtol=1e-12)
    np.testing.assert_allclose(got[1], xv.var(axis=-1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(got[2], xv.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(got[3], np.sqrt((xv ** 2).sum()), rtol=1e-12)
    np.testing.assert_array_equal(got[4], [5, 13])


def test_variance_and_std_gradients():
    x, xv = _x()
    check_gradient(tf.math.reduce_variance(x, 1), x, xv)
    check_gradient(tf.math.reduce_std(x, -2, keepdims=True), x, xv)


@pytest.mark.parametrize("engine", ENGINES)
def test_norms(engine):
    x, xv = _x()
    batch = tf.placeholder(tf.float64, [None, 2, 3], name="batch")
    bv = np.stack([X[:2], X[2:]])
    outs = [tf.norm(x), tf.norm(x, axis=-1), tf.norm(x, ord=1, axis=0),
            tf.norm(x, ord=np.inf, axis=1, keepdims=True), tf.norm(x, ord=3, axis=1),
            tf.norm(x, "fro", axis=[0, 1]), tf.linalg.norm(batch, 1, axis=[-2, -1]),
            tf.norm(batch, np.inf, axis=(1, 2)), tf.norm(x, "fro")]
    got = run(engine, outs, {x: xv, batch: bv})
    np.testing.assert_allclose(got[0], np.linalg.norm(xv), rtol=1e-12)
    np.testing.assert_allclose(got[1], np.linalg.norm(xv, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(got[2], np.abs(xv).sum(0), rtol=1e-12)
    np.testing.assert_allclose(got[3], np.abs(xv).max(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(got[4], np.linalg.norm(xv, 3, axis=1), rtol=1e-12)
    np.testing.assert_allclose(got[5], np.linalg.norm(xv, "fro"), rtol=1e-12)
    np.testing.assert_allclose(got[6], np.linalg.norm(bv, 1, axis=(-2, -1)), rtol=1e-12)
    np.testing.assert_allclose(got[7], np.linalg.norm(bv, np.inf, axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(got[8], got[0], rtol=1e-12)
    assert outs[3].shape.as_list() == [None, 1] and outs[6].shape.as_list() == [None]


def test_norm_gradient():
    x, xv = _x(value=X + 0.1)  # no zeros: |x| has no kink there
    check_gradient(tf.norm(x, axis=1), x, xv)
    check_gradient(tf.norm(x, ord=1, axis=[0, 1]), x, xv)


@pytest.mark.parametrize("engine", ENGINES)
def test_linspace(engine):
    start = tf.placeholder(tf.float32, [], name="start")
    outs = [tf.linspace(start, 1.0, 5), tf.lin_space(2.0, -1.0, 4),
            tf.linspace(tf.constant(3.0, tf.float64), 4.0, 1)]
    got = run(engine, outs, {start: -1.0})
    np.testing.assert_allclose(got[0], np.linspace(-1, 1, 5), rtol=1e-6)
    np.testing.assert_allclose(got[1], [2.0, 1.0, 0.0, -1.0], rtol=1e-6)
    assert got[2].tolist() == [3.0] and got[2].dtype == np.float64
    assert outs[0].shape.as_list() == [5] and outs[0].op.name == "LinSpace"


@pytest.mark.parametrize("engine", ENGINES)
def test_cumprod(engine):
    x, xv = _x()
    i = tf.placeholder(tf.int32, [None], name="i")
    outs = [tf.cumprod(x, axis=-1), tf.math.cumprod(x, 0, exclusive=True, reverse=True),
            tf.cumprod(i)]
    got = run(engine, outs, {x: xv, i: np.array([2, -3, 0, 5], np.int32)})
    np.testing.assert_allclose(got[0], np.cumprod(xv, -1), rtol=1e-12)
    flipped = np.cumprod(xv[::-1], 0)[::-1]
    np.testing.assert_allclose(got[1], np.vstack([flipped[1:], np.ones((1, 3))]), rtol=1e-12)
    np.testing.assert_array_equal(got[2], [2, -6, 0, 0])


def test_cumprod_gradient():
    x, xv = _x(value=X + 0.3)  # TF's rule divides by x: no zeros
    check_gradient(tf.cumprod(x, axis=1, exclusive=True), x, xv)


A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -1.0], [0.5, 0.2, 2.0]])


@pytest.mark.parametrize("engine", ENGINES)
def test_inverse_and_determinant(engine):
    a = tf.placeholder(tf.float64, [None, None], name="a")
    batch = tf.placeholder(tf.float32, [2, 3, 3], name="batch")
    bv = np.stack([A, A.T + np.eye(3)]).astype(np.float32)
    outs = [tf.matrix_inverse(a), tf.linalg.inv(a, adjoint=True), tf.matrix_determinant(a),
            tf.linalg.det(batch), tf.linalg.inv(batch)]
    got = run(engine, outs, {a: A, batch: bv})
    np.testing.assert_allclose(got[0], np.linalg.inv(A), rtol=1e-12)
    np.testing.assert_allclose(got[1], np.linalg.inv(A.T), rtol=1e-12)
    np.testing.assert_allclose(got[2], np.linalg.det(A), rtol=1e-12)
    np.testing.assert_allclose(got[3], np.linalg.det(bv), rtol=1e-5)
    np.testing.assert_allclose(got[4], np.linalg.inv(bv), rtol=1e-5)
    assert got[3].dtype == np.float32 and outs[3].shape.as_list() == [2]


def test_inverse_and_determinant_gradients():
    a = tf.placeholder(tf.float64, [3, 3], name="a")
    check_gradient(tf.matrix_inverse(a), a, A)
    check_gradient(tf.linalg.inv(a, adjoint=True), a, A)
    check_gradient(tf.matrix_determinant(a), a, A)


@pytest.mark.parametrize("engine", ENGINES)
def test_singular_matrix_fails_the_run(engine):
    a = tf.placeholder(tf.float64, [2, 2], name="a")
    inverse = tf.matrix_inverse(a)
    with pytest.raises(tf.InvalidArgumentError, match="not invertible"):
        run(engine, inverse, {a: np.ones((2, 2))})


# -- errors name the user's line --------------------------------------------------

def test_bad_arguments_point_at_the_call():
    x, _ = _x()
    cases = [
        (lambda: tf.norm(x, ord=-1, axis=1), tf.ShapeError, "supported vector norm"),
        (lambda: tf.norm(x, ord=2, axis=[0, 1]), tf.UnsupportedError, "SVD"),
        (lambda: tf.norm(x, ord="fro", axis=1), tf.ShapeError, "matrix norm"),
        (lambda: tf.norm(x, ord="nuc", axis=[0, 1]), tf.ShapeError, "'nuc'"),
        (lambda: tf.norm(x, axis=[1, -1]), tf.ShapeError, "2 unique integers"),
        (lambda: tf.linspace(0, 1, 5), tf.DTypeError, "int32"),
        (lambda: tf.linspace(0.0, 1.0, 0), tf.ShapeError, "num must be positive"),
        (lambda: tf.math.reduce_variance(tf.constant([1, 2])), tf.DTypeError, "int32"),
        (lambda: tf.math.reduce_std(x, axis=2), tf.ShapeError, "axis 2"),
        (lambda: tf.squared_difference(x, tf.constant([1, 2, 3])), tf.DTypeError, "int32"),
        (lambda: tf.saturate_cast(x, tf.bool), tf.DTypeError, "bool"),
    ]
    for build, error, fragment in cases:  # each names the line of its lambda above
        with pytest.raises(error) as info:
            build()
        assert_points_here(info, fragment, line=build.__code__.co_firstlineno)
