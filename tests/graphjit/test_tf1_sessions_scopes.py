"""TF1 tutorial programs that must run with only `import tensorflow as tf` changed to
`import graphjit as tf` (issue #13): default sessions (`t.eval()`, `op.run()`,
InteractiveSession). Each program runs on both engines; numbers are checked against
NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line

ENGINES = ["reference", "compiled"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def _data(*shape, seed=0, low=-1.0, high=1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


# -- default sessions: eval(), run(), as_default(), InteractiveSession --------------------

def test_training_with_eval_and_run_in_a_session(engine):
    """A linear regression as TF1 tutorials write it: the initializer and the training
    step run with op.run(), the loss and weights read with t.eval()."""
    inputs, true_w = _data(32, 3), np.array([[1.0], [-2.0], [0.5]], np.float32)
    targets = inputs @ true_w + 0.3
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        y_ = tf.placeholder(tf.float32, [None, 1])
        W = tf.Variable(tf.zeros([3, 1]))
        b = tf.Variable(tf.zeros([1]))
        y = tf.matmul(x, W) + b
        loss = tf.reduce_mean(tf.square(y - y_))
        train_step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf.Session(engine=engine) as sess:
            assert tf.get_default_session() is sess
            tf.global_variables_initializer().run()
            for _ in range(5):
                train_step.run(feed_dict={x: inputs, y_: targets})
            final_loss = loss.eval(feed_dict={x: inputs, y_: targets})
            final_w, final_b = W.eval(), b.eval()
        assert tf.get_default_session() is None
    w, bias = np.zeros((3, 1)), np.zeros(1)
    for _ in range(5):  # the same steps in NumPy
        err = inputs @ w + bias - targets
        w, bias = w - 0.1 * 2 * inputs.T @ err / err.size, bias - 0.1 * 2 * err.sum(0) / err.size
    np.testing.assert_allclose(final_w, w, rtol=1e-5)
    np.testing.assert_allclose(final_b, bias, rtol=1e-5)
    np.testing.assert_allclose(final_loss, np.mean((inputs @ w + bias - targets) ** 2), rtol=1e-5)


def test_as_default_does_not_close_the_session(engine):
    graph = tf.Graph()
    with graph.as_default():
        p = tf.matmul(tf.constant([[1.0, 2.0]]), tf.Variable([[3.0], [4.0]]))
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, engine=engine)
    with sess.as_default() as default:
        assert default is sess and tf.get_default_session() is sess
        assert tf.get_default_graph() is graph
        init.run()
        assert p.eval() == 11.0
    assert tf.get_default_session() is None and tf.get_default_graph() is not graph
    assert p.eval(session=sess) == 11.0  # still open
    sess.close()
    with pytest.raises(tf.SessionClosedError):
        p.eval(session=sess)


def test_interactive_session_is_the_default_until_closed(engine):
    """The softmax-regression shell session: ops built after InteractiveSession() go into
    its graph, and eval()/run() need no `with` block."""
    graph = tf.Graph()
    sess = tf.InteractiveSession(graph=graph, engine=engine)
    try:
        assert tf.get_default_session() is sess and tf.get_default_graph() is graph
        x = tf.placeholder(tf.float32, [None, 4])
        W = tf.Variable(np.arange(8, dtype=np.float32).reshape(4, 2) / 8)
        b = tf.Variable(tf.zeros([2]))
        y = tf.nn.softmax(tf.matmul(x, W) + b)
        tf.global_variables_initializer().run()
        inputs = _data(5, 4)
        before = y.eval(feed_dict={x: inputs})
        b.assign([1.0, -1.0]).op.run()
        after = y.eval({x: inputs})
        assert x.graph is graph
    finally:
        sess.close()
    assert tf.get_default_session() is None and tf.get_default_graph() is not graph
    with pytest.raises(tf.NoDefaultSessionError):
        y.eval({x: inputs})

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    w = np.arange(8).reshape(4, 2) / 8
    np.testing.assert_allclose(before, softmax(inputs @ w), rtol=1e-5)
    np.testing.assert_allclose(after, softmax(inputs @ w + [1.0, -1.0]), rtol=1e-5)


def test_an_interactive_session_may_close_out_of_order():
    first_graph, second_graph = tf.Graph(), tf.Graph()
    first = tf.InteractiveSession(graph=first_graph)
    with tf.Session(graph=second_graph) as second:
        first.close()
        assert tf.get_default_session() is second and tf.get_default_graph() is second_graph
    assert tf.get_default_session() is None
    assert tf.get_default_graph() not in (first_graph, second_graph)


def test_without_a_default_session_eval_and_run_fail_as_in_tf():
    graph = tf.Graph()
    with graph.as_default():
        v = tf.Variable([1.0, 2.0], name="v")
        y = tf.multiply(v, 2.0, name="y")
        init = tf.global_variables_initializer()
    line = caller_line() + 2
    with pytest.raises(tf.NoDefaultSessionError) as info:
        y.eval()
    assert isinstance(info.value, ValueError)
    assert_points_here(info, "tensor 'y:0'", "`eval()`", "no default session",
                       "eval(session=sess)", line=line)
    line = caller_line() + 2
    with pytest.raises(tf.NoDefaultSessionError) as info:
        init.run()
    assert_points_here(info, "operation 'init'", "`run()`", "run(session=sess)", line=line)
    line = caller_line() + 2
    with pytest.raises(tf.NoDefaultSessionError) as info:
        v.load([3.0, 4.0])
    assert_points_here(info, "variable 'v'", "session=", line=line)
    with tf.Session(graph=graph):
        init.run()
    with pytest.raises(tf.NoDefaultSessionError):  # the `with` block ended
        y.eval()
    line = caller_line() + 2
    with tf.Session(graph=tf.Graph()), pytest.raises(tf.GraphMismatchError) as info:
        y.eval()
    assert_points_here(info, "default session", "tensor 'y:0'", "different", line=line)
