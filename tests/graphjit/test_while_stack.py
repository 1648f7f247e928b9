"""WhileStack and ScanStack (graphjit.ops.while_stack, scan_stack): loops whose body gives rows,
stacked over the iterations. Compiled against the reference interpreter and NumPy;
one body plan for all iterations; buffers grown past their first capacity, sized once
for a known count; bad loops refused naming the op."""

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower.while_stack import FIRST_CAPACITY
from graphjit.ops.scan_stack import scan_stack
from graphjit.ops.while_stack import while_stack


def _counting(limit_dtype=tf.int64, count=None):
    """i, and rows i * x and [i, i] while i < n: the trip count is n, fed."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        n = tf.placeholder(limit_dtype, [], name="n")
        (i,), rows = while_stack(
            lambda i: i < n,
            lambda i: ([i + 1], [tf.cast(i, tf.float32) * x, tf.stack([i, i])]),
            [tf.constant(np.int64(0))], count=count)
    return graph, x, n, [i, *rows]


def _expected(a, n):
    k = np.arange(n)
    return [np.int64(n), k[:, None].astype(np.float32) * a,
            np.stack([k, k], axis=1).astype(np.int64)]


@pytest.fixture(scope="module")
def counting():
    graph, x, n, outs = _counting()
    return x, n, outs, tf.compile(outs)


@pytest.mark.parametrize("trips", [0, 1, 3, FIRST_CAPACITY, 3 * FIRST_CAPACITY + 1])
def test_rows_stack_in_order_whatever_the_trip_count(counting, trips):
    x, n, outs, fn = counting
    a = np.array([1.5, -2.0], np.float32)
    feeds = {x: a, n: np.int64(trips)}
    got, ref = fn(a, np.int64(trips)), evaluate(outs, feeds)
    for g, r, w in zip(got, ref, _expected(a, trips)):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, r)
        np.testing.assert_allclose(g, w)
    assert got[1].shape == (trips, 2)


def test_the_body_is_planned_once_for_every_iteration(counting):
    x, n, outs, fn = counting
    fn(np.ones(2, np.float32), np.int64(40))
    fn(np.ones(2, np.float32), np.int64(7))
    body = outs[0].op.attrs["body"]
    assert len(body.compiled().cache_info().plans) == 1


def test_a_known_count_gives_outputs_of_that_static_length():
    graph, x, n, outs = _counting(count=5)
    assert [tuple(t.shape) for t in outs[1:]] == [(5, 2), (5, 2)]
    fn = tf.compile(outs)
    a = np.array([1.0, 2.0], np.float32)
    for g, w in zip(fn(a, np.int64(5)), _expected(a, 5)):
        np.testing.assert_allclose(g, w)
    with pytest.raises(tf.ShapeError, match="WhileStack.*ran 4 iterations.*declared 5"):
        fn(a, np.int64(4))
    with pytest.raises(tf.ShapeError, match="ran 4 iterations.*declared 5"):
        evaluate(outs, {x: a, n: np.int64(4)})


def test_rows_that_change_shape_are_refused_naming_the_op():
    """A row read from a loop variable whose shape the invariants let change."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [1], name="x")
        _, (rows,) = while_stack(lambda v: tf.size(v) < 4,
                                 lambda v: ([tf.concat([v, v], 0)], [v]), [x],
                                 shape_invariants=[[None]], name="grow")
    assert tuple(rows.shape) == (None, None)
    a = np.ones(1, np.float32)
    with pytest.raises(tf.ShapeError, match="row output 0 has shape \\[2\\] in iteration 1, "
                                            "\\[1\\] before"):
        evaluate([rows], {x: a})
    with pytest.raises(tf.ShapeError, match="WhileStack 'grow'.*row output 0"):
        tf.compile([rows])(a)


def test_bad_bodies_are_refused_when_built():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2])
        with pytest.raises(tf.InvalidArgumentError, match="WhileStack.*new loop variables, "
                                                          "rows"):
            while_stack(lambda v: tf.reduce_sum(v) > 0, lambda v: [v * 2], [x])
        with pytest.raises(tf.InvalidArgumentError, match="returns 2 loop variables for 1"):
            while_stack(lambda v: tf.reduce_sum(v) > 0, lambda v: ([v, v], []), [x])
        with pytest.raises(tf.ShapeError, match="enters the loop with shape"):
            while_stack(lambda v: tf.reduce_sum(v) > 0,
                        lambda v: ([tf.concat([v, v], 0)], [v]), [x])
        with pytest.raises(tf.InvalidArgumentError, match="count must be a non-negative"):
            while_stack(lambda v: tf.reduce_sum(v) > 0, lambda v: ([v], [v]), [x], count=-2)


# -- ScanStack --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scanning():
    """A running product over the rows of xs [?, 2] (state [2]) and, per row, the
    state and the row's sum with an outer value w: ScanStack's rows of two shapes."""
    graph = tf.Graph()
    with graph.as_default():
        xs = tf.placeholder(tf.float32, [None, 2], name="xs")
        w = tf.placeholder(tf.float32, [], name="w")
        (p,), rows = scan_stack(lambda acc, row: ([acc * row], [acc * row,
                                                                 tf.reduce_sum(row) + w]),
                                [tf.ones([2])], [xs])
    return xs, w, [p, *rows], tf.compile([p, *rows])


@pytest.mark.parametrize("length", [0, 1, 7])
def test_scan_stack_rows_of_each_sequence_row(scanning, length):
    xs, w, outs, fn = scanning
    a = np.random.default_rng(length).uniform(0.5, 1.5, (length, 2)).astype(np.float32)
    got, ref = fn(a, np.float32(0.25)), evaluate(outs, {xs: a, w: np.float32(0.25)})
    prods = np.cumprod(a, axis=0)
    want = [prods[-1] if length else np.ones(2, np.float32), prods, a.sum(axis=1) + 0.25]
    for g, r, e in zip(got, ref, want):
        assert g.shape == e.shape and g.dtype == np.float32
        np.testing.assert_allclose(g, r, rtol=1e-6)
        np.testing.assert_allclose(g, e, rtol=1e-5)
    assert len(outs[0].op.attrs["body"].compiled().cache_info().plans) <= 1


def test_scan_stack_of_a_known_length_has_static_outputs_and_checks_lengths():
    with tf.Graph().as_default():
        a = tf.placeholder(tf.float32, [4, 3])
        b = tf.placeholder(tf.int64, [None])
        (_,), (rows,) = scan_stack(lambda s, x, y: ([s + x], [x * 2.0]),
                                   [tf.zeros([3])], [a, b], name="pair")
        assert tuple(rows.shape) == (4, 3)
        with pytest.raises(tf.ShapeError, match="ScanStack 'pair'.*lengths \\[2, 4\\]"):
            tf.compile([rows])(np.ones((4, 3), np.float32), np.arange(2))
        with pytest.raises(tf.ShapeError, match="lengths \\[3, 4\\]"):
            scan_stack(lambda x, y: ([], [x]), [], [a, tf.zeros([3])])
        with pytest.raises(tf.ShapeError, match="leading axis"):
            scan_stack(lambda x: ([], [x]), [], [tf.constant(1.0)])
        with pytest.raises(tf.InvalidArgumentError, match="new states, rows"):
            scan_stack(lambda s, x: [s], [tf.zeros([3])], [a])
