"""tf.map_fn, tf.scan, tf.foldl and tf.foldr against NumPy loops, in both engines, with
gradients through them."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_check import check_gradient, run_both

XV = np.arange(12, dtype=np.float32).reshape(4, 3) / 4


@pytest.fixture(autouse=True)
def graph():
    with tf.Graph().as_default() as g:
        yield g


def test_map_fn_matches_a_python_loop_with_unknown_batch():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = tf.map_fn(lambda row: row * 2.0 + tf.reduce_sum(row), x)
    assert y.shape.as_list() == [None, 3]
    want = np.stack([r * 2 + r.sum() for r in XV])
    for got in run_both(y, {x: XV}):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    for got in run_both(y, {x: XV[:1]}):  # another batch size, no rebuild
        np.testing.assert_allclose(got, want[:1], rtol=1e-6)


def test_map_fn_nested_elems_and_outputs_with_dtype():
    x = tf.constant(XV)
    k = tf.constant([1, 2, 3, 4])
    out = tf.map_fn(lambda e: {"first": e[0][0], "scaled": e[0] * tf.cast(e[1], tf.float32)},
                    (x, k), dtype={"first": tf.float32, "scaled": tf.float32})
    for got in run_both(out):
        np.testing.assert_allclose(got["first"], XV[:, 0])
        np.testing.assert_allclose(got["scaled"], XV * np.arange(1, 5)[:, None])
    with pytest.raises(tf.InvalidArgumentError, match="dtype says"):
        tf.map_fn(lambda r: r, x, dtype=tf.int32)


def test_map_fn_result_dims_unknown_at_build_time():
    x = tf.placeholder(tf.float32, [None, None], name="x")
    y = tf.map_fn(lambda row: tf.concat([row, row[:1]], 0), x)
    assert y.shape.as_list() == [None, None]
    for got in run_both(y, {x: XV}):
        np.testing.assert_array_equal(got, np.concatenate([XV, XV[:, :1]], 1))


def test_map_fn_gradient():
    check_gradient(lambda x: tf.map_fn(lambda r: tf.sin(r) * tf.reduce_sum(r * r), x),
                   XV.astype(np.float64))


def test_map_fn_back_prop_false_stops_gradients():
    x = tf.placeholder(tf.float32, [4, 3])
    y = tf.map_fn(lambda r: r * r, x, back_prop=False)
    assert tf.gradients(tf.reduce_sum(y), x) == [None]


def test_fn_may_not_create_variables():
    x = tf.constant(XV)
    with pytest.raises(tf.UnsupportedError, match="variables"):
        tf.map_fn(lambda r: r * tf.Variable(2.0), x)


def _scan_numpy(fn, xs, a=None, reverse=False):
    order = list(range(len(xs)))[::-1] if reverse else list(range(len(xs)))
    out = [None] * len(xs)
    if a is None:
        a = xs[order[0]]
        out[order[0]] = a
        order = order[1:]
    for i in order:
        a = fn(a, xs[i])
        out[i] = a
    return np.stack(out)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_initializer", [False, True])
def test_scan_matches_a_python_loop(reverse, with_initializer):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    fn = lambda a, r: a * 0.5 + r  # noqa: E731
    init = np.array([1.0, -1.0, 2.0], np.float32) if with_initializer else None
    s = tf.scan(fn, x, initializer=None if init is None else tf.constant(init),
                reverse=reverse)
    want = _scan_numpy(fn, XV, init, reverse)
    for got in run_both(s, {x: XV}):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_scan_nested_accumulator_and_gradient():
    x = tf.constant(XV)
    total, count = tf.scan(lambda a, r: (a[0] + r, a[1] + 1.0), x,
                           initializer=(tf.zeros([3]), tf.constant(0.0)))
    for got_total, got_count in run_both([total, count]):
        np.testing.assert_allclose(got_total, np.cumsum(XV, 0), rtol=1e-6)
        np.testing.assert_array_equal(got_count, [1, 2, 3, 4])
    check_gradient(lambda x: tf.scan(lambda a, r: a * r + tf.tanh(r), x,
                                     reverse=True), XV.astype(np.float64) + 0.5)


@pytest.mark.parametrize("fold, reverse", [(tf.foldl, False), (tf.foldr, True)])
def test_folds_match_python_loops(fold, reverse):
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    fn = lambda a, r: a * 2.0 - r  # noqa: E731
    no_init = fold(fn, x)
    with_init = fold(fn, x, initializer=tf.ones([3]))
    rows = list(XV[::-1] if reverse else XV)
    want_no_init, want_init = rows[0], np.ones(3, np.float32)
    for r in rows[1:]:
        want_no_init = fn(want_no_init, r)
    for r in rows:
        want_init = fn(want_init, r)
    for a, b in run_both([no_init, with_init], {x: XV}):
        np.testing.assert_allclose(a, want_no_init, rtol=1e-6)
        np.testing.assert_allclose(b, want_init, rtol=1e-6)
    check_gradient(lambda x: fold(lambda a, r: a * tf.sin(r), x, initializer=tf.constant(
        np.ones(3))), XV.astype(np.float64))


def test_foldl_sums_a_vector_of_scalars():
    total = tf.foldl(lambda a, x: a + x, tf.constant([1, 2, 3, 4, 5]), initializer=10)
    assert run_both(total) == [25, 25]


def test_elems_must_share_their_first_dim():
    with pytest.raises(tf.ShapeError, match="same first dimension"):
        tf.map_fn(lambda e: e[0], (tf.zeros([3, 2]), tf.zeros([4])), dtype=tf.float32)
    with pytest.raises(tf.ShapeError, match="rank >= 1"):
        tf.scan(lambda a, x: a + x, tf.constant(1.0))
