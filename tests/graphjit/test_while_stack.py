"""WhileStack (graphjit.ops.while_stack): a while loop whose body also gives rows,
stacked over the iterations. Compiled against the reference interpreter and NumPy;
one body plan for all iterations; buffers grown past their first capacity, sized once
for a known count; bad loops refused naming the op."""

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower.while_stack import FIRST_CAPACITY
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
