"""TF1's array, indexing and matrix names as TF1 scripts use them, in both engines,
against NumPy: reverse, reverse_sequence, meshgrid, sequence_mask, gather_nd,
scatter_nd, the segment reductions, invert_permutation, eye and the diagonals, with
gradients against finite differences, unknown dims and errors naming the line."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here
from tests.graphjit.tf1_ops_check import ENGINES, check_gradient, run

X = np.arange(12, dtype=np.float64).reshape(4, 3) * 0.5 - 2


@pytest.fixture(autouse=True)
def graph():
    g = tf.Graph()
    with g.as_default():
        yield g


def _x(dtype=tf.float64):
    return tf.placeholder(dtype, [None, 3], name="x"), X.astype(dtype.np)


@pytest.mark.parametrize("engine", ENGINES)
def test_reverse(engine):
    x, xv = _x()
    outs = [tf.reverse(x, [-1]), tf.reverse_v2(x, [0, 1]), tf.reverse(x, [])]
    got = run(engine, outs, {x: xv})
    np.testing.assert_array_equal(got[0], xv[:, ::-1])
    np.testing.assert_array_equal(got[1], xv[::-1, ::-1])
    np.testing.assert_array_equal(got[2], xv)
    check_gradient(tf.reverse(x, [1]), x, xv)


def _reverse_sequence(a, lengths, seq, batch):
    out = np.array(a, copy=True)
    for b, n in enumerate(lengths):
        index = [slice(None)] * a.ndim
        index[batch], index[seq] = b, slice(0, n)
        out[tuple(index)] = np.flip(a[tuple(index)], seq - (seq > batch))
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_reverse_sequence(engine):
    x = tf.placeholder(tf.float64, [None, None], name="x")
    t = tf.placeholder(tf.float64, [5, 2, 3], name="t")  # [time, batch, features]
    lengths = tf.placeholder(tf.int32, [None], name="lengths")
    xv, tv = X, np.arange(30.0).reshape(5, 2, 3)
    outs = [tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0),
            tf.reverse_sequence(t, [5, 2], seq_dim=0, batch_dim=-2)]
    got = run(engine, outs, {x: xv, t: tv, lengths: [3, 0, 2, 1]})
    np.testing.assert_array_equal(got[0], _reverse_sequence(xv, [3, 0, 2, 1], 1, 0))
    np.testing.assert_array_equal(got[1], _reverse_sequence(tv, [5, 2], 0, 1))
    check_gradient(outs[0], x, xv, {lengths: [3, 1, 2, 0]})


@pytest.mark.parametrize("engine", ENGINES)
def test_reverse_sequence_refuses_a_length_past_the_axis(engine):
    x = tf.placeholder(tf.float64, [None, None], name="x")
    out = tf.reverse_sequence(x, [4, 1], seq_axis=1)
    with pytest.raises(tf.Error, match="out of range"):
        run(engine, out, {x: np.ones((2, 3))})


@pytest.mark.parametrize("engine", ENGINES)
def test_meshgrid(engine):
    a = tf.placeholder(tf.int32, [None], name="a")
    b = tf.placeholder(tf.int32, [None], name="b")
    av, bv, cv = np.array([1, 2, 3], np.int32), np.array([7, 8], np.int32), np.array([0, 9])
    xy = tf.meshgrid(a, b)
    ij = tf.meshgrid(a, b, tf.constant(cv.astype(np.int32)), indexing="ij")
    got = run(engine, xy + ij, {a: av, b: bv})
    for g, e in zip(got, np.meshgrid(av, bv) + np.meshgrid(av, bv, cv, indexing="ij")):
        np.testing.assert_array_equal(g, e)
    f = tf.placeholder(tf.float64, [3], name="f")
    check_gradient(tf.meshgrid(f, tf.constant(np.array([1.0, 2.0])))[0], f,
                   np.array([0.5, 1.0, 2.0]))


@pytest.mark.parametrize("engine", ENGINES)
def test_sequence_mask(engine):
    x, xv = _x()
    lengths = tf.placeholder(tf.int32, [None], name="lengths")
    outs = [tf.sequence_mask(lengths, 4), tf.sequence_mask(lengths, tf.shape(x)[1],
                                                           dtype=tf.float32),
            tf.sequence_mask([[1], [2]], maxlen=tf.constant(3))]
    got = run(engine, outs, {lengths: [0, 2, 5], x: xv})
    np.testing.assert_array_equal(got[0], np.arange(4) < np.array([[0], [2], [5]]))
    np.testing.assert_array_equal(got[1], (np.arange(3) < np.array([[0], [2], [5]])))
    assert got[1].dtype == np.float32 and got[2].shape == (2, 1, 3)
    unknown = tf.placeholder(tf.float32, [None, None], name="unknown")
    mask = tf.sequence_mask(lengths, tf.shape(unknown)[-1])
    np.testing.assert_array_equal(run(engine, mask, {lengths: [1, 3], unknown: np.ones((2, 4))}),
                                  np.arange(4) < np.array([[1], [3]]))


@pytest.mark.parametrize("engine", ENGINES)
def test_gather_nd_and_scatter_nd(engine):
    x, xv = _x()
    i = tf.placeholder(tf.int64, [None, 2], name="i")
    rows = tf.placeholder(tf.int32, [None, 1], name="rows")
    iv, rv = np.array([[3, 2], [0, 0], [3, 2]]), np.array([[2], [0]], np.int32)
    updates = tf.placeholder(tf.float64, [None], name="updates")
    outs = [tf.gather_nd(x, i), tf.gather_nd(x, rows),
            tf.scatter_nd(i, updates, [4, 3]),
            tf.scatter_nd(tf.constant([[1], [1]]), tf.constant([[1, 2], [3, 4]]), [3, 2])]
    got = run(engine, outs, {x: xv, i: iv, rows: rv, updates: [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(got[0], xv[iv[:, 0], iv[:, 1]])
    np.testing.assert_array_equal(got[1], xv[rv[:, 0]])
    expected = np.zeros((4, 3))
    np.add.at(expected, (iv[:, 0], iv[:, 1]), [1.0, 2.0, 3.0])  # repeated indices add
    np.testing.assert_array_equal(got[2], expected)
    np.testing.assert_array_equal(got[3], [[0, 0], [4, 6], [0, 0]])
    check_gradient(tf.gather_nd(x, i), x, xv, {i: iv})
    check_gradient(tf.scatter_nd(i, updates, [4, 3]), updates, np.array([1.0, 2.0, 3.0]),
                   {i: iv})


@pytest.mark.parametrize("engine", ENGINES)
def test_gather_nd_and_scatter_nd_refuse_indices_out_of_range(engine):
    x, xv = _x()
    i = tf.placeholder(tf.int32, [None, 2], name="i")
    gathered = tf.gather_nd(x, i)
    scattered = tf.scatter_nd(i, tf.ones([1]), [4, 3])
    for out in (gathered, scattered):  # (0, 3) would be row 1's first cell if flattened
        with pytest.raises(tf.Error, match="out of range"):
            run(engine, out, {x: xv, i: np.array([[0, 3]], np.int32)})


@pytest.mark.parametrize("engine", ENGINES)
def test_unsorted_segments(engine):
    x, xv = _x()
    ids = tf.placeholder(tf.int32, [None], name="ids")
    idv = np.array([2, 0, 2, -1])  # -1: dropped, as TF does
    outs = [tf.unsorted_segment_sum(x, ids, 3), tf.math.unsorted_segment_mean(x, ids, 3),
            tf.unsorted_segment_max(x, ids, 3), tf.math.unsorted_segment_min(x, ids, 3),
            tf.unsorted_segment_sum(tf.constant([[1, 2], [3, 4]]), [[0, 1], [1, 1]], 2)]
    got = run(engine, outs, {x: xv, ids: idv})
    lowest, highest = np.finfo(np.float64).min, np.finfo(np.float64).max
    np.testing.assert_array_equal(got[0], [xv[1], np.zeros(3), xv[0] + xv[2]])
    np.testing.assert_array_equal(got[1], [xv[1], np.zeros(3), (xv[0] + xv[2]) / 2])
    np.testing.assert_array_equal(got[2], [xv[1], np.full(3, lowest), np.maximum(xv[0], xv[2])])
    np.testing.assert_array_equal(got[3], [xv[1], np.full(3, highest), np.minimum(xv[0], xv[2])])
    np.testing.assert_array_equal(got[4], [1, 9])
    check_gradient(tf.unsorted_segment_sum(x, ids, 3), x, xv, {ids: idv})
    # (an empty segment's lowest float would overflow the weighted loss)
    check_gradient(tf.unsorted_segment_max(x, ids, 3), x, xv, {ids: [2, 0, 2, 1]})
    with pytest.raises(tf.Error, match="out of range"):
        run(engine, outs[0], {x: xv, ids: np.array([0, 3, 1, 1])})


@pytest.mark.parametrize("engine", ENGINES)
def test_invert_permutation(engine):
    p = tf.placeholder(tf.int32, [None], name="p")
    perm = np.array([3, 0, 4, 1, 2], np.int32)
    got = run(engine, tf.invert_permutation(p), {p: perm})
    np.testing.assert_array_equal(got, np.argsort(perm))
    assert got.dtype == np.int32


@pytest.mark.parametrize("engine", ENGINES)
def test_eye_and_diagonals(engine):
    x, xv = _x()
    square = tf.placeholder(tf.float64, [None, 2, 2], name="square")
    sv = np.arange(8.0).reshape(2, 2, 2)
    outs = [tf.eye(3), tf.eye(2, 3, batch_shape=[2], dtype=tf.int32), tf.matrix_diag(x),
            tf.linalg.diag(tf.constant([1.0, 2.0])), tf.matrix_diag_part(x),
            tf.linalg.diag_part(square), tf.trace(x), tf.linalg.trace(square),
            tf.diag(tf.constant([[1, 2], [3, 4]])),
            tf.diag_part(tf.constant(np.arange(16).reshape(2, 2, 2, 2))),
            tf.matrix_transpose(square), tf.linalg.transpose(x),
            tf.linalg.band_part(x, 1, 0), tf.matrix_band_part(x, -1, 1)]
    got = run(engine, outs, {x: xv, square: sv})
    np.testing.assert_array_equal(got[0], np.eye(3))
    np.testing.assert_array_equal(got[1], np.broadcast_to(np.eye(2, 3, dtype=np.int32),
                                                          (2, 2, 3)))
    np.testing.assert_array_equal(got[2], [np.diag(row) for row in xv])
    np.testing.assert_array_equal(got[3], np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(got[4], np.diagonal(xv))
    np.testing.assert_array_equal(got[5], np.diagonal(sv, axis1=-2, axis2=-1))
    assert got[6] == np.trace(xv)
    np.testing.assert_array_equal(got[7], np.trace(sv, axis1=1, axis2=2))
    np.testing.assert_array_equal(got[8], np.diag([1, 2, 3, 4]).reshape(2, 2, 2, 2))
    np.testing.assert_array_equal(got[9], [[0, 5], [10, 15]])
    np.testing.assert_array_equal(got[10], np.swapaxes(sv, -1, -2))
    np.testing.assert_array_equal(got[11], xv.T)
    np.testing.assert_array_equal(got[12], np.tril(np.triu(xv, -1)))
    np.testing.assert_array_equal(got[13], np.tril(xv, 1))
    assert outs[4].shape.as_list() == [None] and outs[2].shape.as_list() == [None, 3, 3]
    check_gradient(tf.matrix_diag_part(x), x, xv)
    check_gradient(tf.trace(x), x, xv)
    d = tf.placeholder(tf.float64, [None], name="d")
    check_gradient(tf.matrix_diag(d), d, np.array([1.0, -2.0]))


def test_new_names_are_in_their_namespaces():
    import graphjit.compat.v1 as tf1
    top = ["squared_difference", "to_int32", "to_int64", "to_double", "saturate_cast",
           "count_nonzero", "norm", "eye", "linspace", "lin_space", "meshgrid", "reverse",
           "reverse_v2", "reverse_sequence", "sequence_mask", "gather_nd", "scatter_nd",
           "unsorted_segment_sum", "unsorted_segment_mean", "unsorted_segment_max",
           "unsorted_segment_min", "diag", "diag_part", "matrix_diag", "matrix_diag_part",
           "matrix_transpose", "matrix_band_part", "trace", "matrix_inverse",
           "matrix_determinant", "cumprod", "invert_permutation"]
    for name in top:
        assert getattr(tf1, name) is getattr(tf, name), name
    assert tf.math.reduce_std is tf1.math.reduce_std and tf.math.cumprod is tf.cumprod
    assert tf.linalg.inv is tf.matrix_inverse and tf.linalg.det is tf.matrix_determinant
    assert tf.linalg.diag is tf.matrix_diag and tf.linalg.band_part is tf.matrix_band_part
    assert tf1.linalg.matmul is tf.matmul
    for namespace, name in ((tf.linalg, "svd"), (tf1.linalg, "qr"), (tf.math, "bessel_i0")):
        with pytest.raises(tf.UnsupportedNameError, match=name):
            getattr(namespace, name)


def test_bad_arguments_point_at_the_call():
    x, _ = _x()
    i = tf.placeholder(tf.int32, [None, None], name="i")
    cases = [
        (lambda: tf.reverse(x, [1, -1]), tf.ShapeError, "repeats an axis"),
        (lambda: tf.reverse(x, [2]), tf.ShapeError, "axis 2"),
        (lambda: tf.gather_nd(x, i), tf.UnsupportedError, "index length"),
        (lambda: tf.gather_nd(x, tf.constant([[0, 1, 2]])), tf.ShapeError, "rank 2"),
        (lambda: tf.gather_nd(x, tf.constant([[0.5]])), tf.DTypeError, "float32"),
        (lambda: tf.scatter_nd(tf.constant([[0]]), tf.ones([2]), [3]), tf.ShapeError,
         "do not match"),
        (lambda: tf.unsorted_segment_sum(tf.ones([4, 3]), [0, 1], 2), tf.ShapeError,
         "prefix"),
        (lambda: tf.sequence_mask(tf.constant([1, 2])), tf.UnsupportedError, "maxlen"),
        (lambda: tf.reverse_sequence(x, [1], seq_axis=0, batch_axis=0), tf.ShapeError,
         "must differ"),
        (lambda: tf.meshgrid(x[0], x[0], indexing="xz"), tf.ShapeError, "'xz'"),
        (lambda: tf.eye(-2), tf.ShapeError, ">= 0"),
        (lambda: tf.matrix_diag_part(x[0]), tf.ShapeError, "rank >= 2"),
        (lambda: tf.diag_part(tf.ones([2, 3])), tf.ShapeError, "s + s"),
        (lambda: tf.invert_permutation(tf.constant([[0]])), tf.ShapeError, "vector"),
    ]
    for build, error, fragment in cases:  # each names the line of its lambda above
        with pytest.raises(error) as info:
            build()
        assert_points_here(info, fragment, line=build.__code__.co_firstlineno)
