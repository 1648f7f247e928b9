"""TF1 tutorial programs that must run with only `import tensorflow as tf` changed to
`import graphjit as tf` (issue #13): default sessions (`t.eval()`, `op.run()`,
InteractiveSession), tf.nn.dropout, and variable scopes sharing variables through
get_variable. Each program runs on both engines; numbers are checked against NumPy."""

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


# -- tf.nn.dropout ---------------------------------------------------------------------

def _dropout_graph(seed=7, shape=(None, 400)):
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        x = tf.placeholder(tf.float32, shape)
        keep_prob = tf.placeholder(tf.float32)  # as TF1 tutorials write it: no shape
        h = tf.nn.relu(x)
        h_drop = tf.nn.dropout(h, keep_prob)
    return graph, x, keep_prob, h_drop


def test_dropout_keep_prob_fed_in_training_and_test(engine):
    graph, x, keep_prob, h_drop = _dropout_graph()
    inputs = _data(64, 400, low=0.5, high=1.5)  # all kept by the relu
    with tf.Session(graph=graph, engine=engine) as sess:
        train = sess.run(h_drop, feed_dict={x: inputs, keep_prob: 0.5})
        train_08 = sess.run(h_drop, feed_dict={x: inputs, keep_prob: 0.8})
        test = sess.run(h_drop, feed_dict={x: inputs, keep_prob: 1.0})
    np.testing.assert_array_equal(test, inputs)  # keep_prob 1.0 keeps every value as is
    for out, keep in ((train, 0.5), (train_08, 0.8)):
        kept = out != 0
        np.testing.assert_allclose(out[kept], inputs[kept] / np.float32(keep), rtol=1e-6)
        sigma = np.sqrt(keep * (1 - keep) / out.size)
        assert abs(kept.mean() - keep) < 4 * sigma  # the fraction kept
        assert abs(out.mean() / inputs.mean() - 1) < 8 * sigma  # the mean is preserved


def test_dropout_draws_a_new_mask_each_run_the_same_in_both_engines():
    masks = {}
    for engine in ENGINES:
        graph, x, keep_prob, h_drop = _dropout_graph(seed=3, shape=(None, 100))
        with tf.Session(graph=graph, engine=engine) as sess:
            masks[engine] = [sess.run(h_drop, {x: np.ones((4, 100)), keep_prob: 0.5}) != 0
                             for _ in range(3)]
    np.testing.assert_array_equal(masks["reference"], masks["compiled"])
    first, second, _ = masks["compiled"]
    assert (first != second).mean() > 0.3  # independent draws differ in about half
    graph, x, keep_prob, h_drop = _dropout_graph(seed=4, shape=(None, 100))
    with tf.Session(graph=graph) as sess:  # another graph seed, another sequence
        assert (sess.run(h_drop, {x: np.ones((4, 100)), keep_prob: 0.5}) != first).any()


def test_dropout_gradient_flows_through_the_kept_values(engine):
    inputs = _data(8, 50, low=0.5, high=1.5)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 50])
        w = tf.Variable(tf.ones([50]))
        y = tf.nn.dropout(x * w, rate=0.25, seed=1)
        grad_w, grad_x = tf.gradients(tf.reduce_sum(y * 3.0), [w, x])
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            out, gw, gx = sess.run([y, grad_w, grad_x], {x: inputs})
    kept = out != 0
    scale = np.float32(1 / 0.75)
    np.testing.assert_allclose(gx, 3 * scale * kept, rtol=1e-6)
    np.testing.assert_allclose(gw, (3 * scale * kept * inputs).sum(0), rtol=1e-5)


def test_dropout_noise_shape_shares_the_mask(engine):
    images = _data(6, 4, 4, 8, low=0.5, high=1.5)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4, 4, 8])
        per_channel = tf.nn.dropout(x, 0.5, noise_shape=[tf.shape(x)[0], 1, 1, 8], seed=2)
        per_example = tf.nn.dropout(x, rate=0.5, noise_shape=[None, 1, 1, 1], seed=3)
        with tf.Session(engine=engine) as sess:
            channels, examples = sess.run([per_channel, per_example], {x: images})
    for out, axes in ((channels, (1, 2)), (examples, (1, 2, 3))):
        kept = out != 0
        assert (kept == kept.all(axis=axes, keepdims=True)).all()  # one draw per group
        np.testing.assert_allclose(out[kept], 2 * images[kept], rtol=1e-6)
    assert 0 < (channels != 0).mean() < 1


def test_dropout_with_python_rates():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 1000])
        assert tf.nn.dropout(x, keep_prob=1.0) is x and tf.nn.dropout(x, rate=0.0) is x
        y = tf.nn.dropout(x, rate=0.25, seed=5, name="drop")
        assert y.name == "drop:0" and y.shape == (None, 1000)
        with tf.Session() as sess:
            out = sess.run(y, {x: np.ones((20, 1000))})
    assert set(np.unique(out)) == {0.0, np.float32(4 / 3)}
    assert abs((out != 0).mean() - 0.75) < 4 * np.sqrt(0.75 * 0.25 / out.size)


def test_mlp_tutorial_with_dropout_in_an_interactive_session(engine):
    """The deep-MNIST tutorial's shape on a small problem: an InteractiveSession, weights
    from tf.truncated_normal, a dropout layer fed keep_prob 0.5 to train and 1.0 to
    evaluate; test-time outputs equal NumPy's forward pass with the trained weights."""
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=(64, 10)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[(inputs[:, 0] > 0).astype(int) + (inputs[:, 1] > 0)]
    graph = tf.Graph()
    sess = tf.InteractiveSession(graph=graph, engine=engine)
    try:
        tf.set_random_seed(11)
        x = tf.placeholder(tf.float32, [None, 10])
        y_ = tf.placeholder(tf.float32, [None, 3])
        W1 = tf.Variable(tf.truncated_normal([10, 32], stddev=0.1))
        b1 = tf.Variable(tf.constant(0.1, shape=[32]))
        h1 = tf.nn.relu(tf.matmul(x, W1) + b1)
        keep_prob = tf.placeholder(tf.float32)
        h1_drop = tf.nn.dropout(h1, keep_prob)
        W2 = tf.Variable(tf.truncated_normal([32, 3], stddev=0.1))
        b2 = tf.Variable(tf.constant(0.1, shape=[3]))
        y = tf.matmul(h1_drop, W2) + b2
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
        train_step = tf.train.AdamOptimizer(1e-2).minimize(loss)
        tf.global_variables_initializer().run()
        test_feed = {x: inputs, y_: labels, keep_prob: 1.0}
        first = loss.eval(feed_dict=test_feed)
        for _ in range(30):
            train_step.run(feed_dict={x: inputs, y_: labels, keep_prob: 0.5})
        last, logits = loss.eval(feed_dict=test_feed), y.eval(feed_dict=test_feed)
        weights = sess.run([W1, b1, W2, b2])
    finally:
        sess.close()
    assert last < 0.8 * first
    w1, c1, w2, c2 = weights
    np.testing.assert_allclose(logits, np.maximum(inputs @ w1 + c1, 0) @ w2 + c2,
                               rtol=1e-4, atol=1e-5)


# -- variable scopes and get_variable ---------------------------------------------------

def _tower(x):
    w = tf.get_variable("w", [3, 2], initializer=tf.random_normal_initializer(seed=1))
    b = tf.get_variable("b", [2], initializer=tf.constant_initializer(0.5))
    return tf.matmul(x, w) + b


def test_two_towers_share_their_variables(engine):
    a, c = _data(4, 3, seed=1), _data(5, 3, seed=2)
    with tf.Graph().as_default():
        x1, x2 = tf.placeholder(tf.float32, [None, 3]), tf.placeholder(tf.float32, [None, 3])
        with tf.variable_scope("model"):
            y1 = _tower(x1)
        with tf.variable_scope("model", reuse=True):
            y2 = _tower(x2)
        assert [v.name for v in tf.global_variables()] == ["model/w:0", "model/b:0"]
        assert y1.op.name.startswith("model/") and y2.op.name.startswith("model_1/")
        loss = tf.reduce_sum(y1) + tf.reduce_sum(y2)
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            w, b = sess.run(["model/w:0", "model/b:0"])
            out1, out2 = sess.run([y1, y2], {x1: a, x2: c})
            sess.run(train, {x1: a, x2: c})
            new_w, new_b = sess.run(["model/w:0", "model/b:0"])
    np.testing.assert_allclose(b, [0.5, 0.5])
    np.testing.assert_allclose(out1, a @ w + b, rtol=1e-5)
    np.testing.assert_allclose(out2, c @ w + b, rtol=1e-5)
    # d loss / d w sums the inputs of both towers: one variable, updated once
    np.testing.assert_allclose(new_w, w - 0.1 * (a.sum(0) + c.sum(0))[:, None], rtol=1e-5)
    np.testing.assert_allclose(new_b, b - 0.1 * (len(a) + len(c)), rtol=1e-5)


def _dense(x, units, name, seed=2):
    with tf.variable_scope(name, reuse=tf.AUTO_REUSE):
        kernel = tf.get_variable("kernel", [x.shape[-1], units],
                                 initializer=tf.glorot_uniform_initializer(seed=seed))
        bias = tf.get_variable("bias", [units], initializer=tf.zeros_initializer())
        return tf.nn.relu(tf.matmul(x, kernel) + bias)


def test_auto_reuse_in_a_function_called_twice(engine):
    a, c = _data(3, 6, seed=3), _data(2, 6, seed=4)
    with tf.Graph().as_default():
        xa, xc = tf.placeholder(tf.float32, [None, 6]), tf.placeholder(tf.float32, [None, 6])
        ha, hc = _dense(xa, 4, "shared"), _dense(xc, 4, "shared")
        other = _dense(xa, 4, "other", seed=3)
        assert [v.op.name for v in tf.trainable_variables()] == [
            "shared/kernel", "shared/bias", "other/kernel", "other/bias"]
        with tf.Session(engine=engine) as sess:
            tf.global_variables_initializer().run()
            kernel = tf.get_default_graph().get_tensor_by_name("shared/kernel:0").eval()
            out_a, out_c, out_other = sess.run([ha, hc, other], {xa: a, xc: c})
    limit = np.sqrt(6 / (6 + 4))
    assert np.abs(kernel).max() <= limit and kernel.std() > limit / 4
    np.testing.assert_allclose(out_a, np.maximum(a @ kernel, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_c, np.maximum(c @ kernel, 0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(out_other, out_a)  # its own kernel


def test_reuse_variables_and_reentering_a_scope_object():
    with tf.Graph().as_default():
        with tf.variable_scope("foo") as scope:
            v = tf.get_variable("v", [1])
            scope.reuse_variables()
            assert tf.get_variable("v", [1]) is v and tf.get_variable_scope().reuse
            with tf.variable_scope("inner"):  # reuse is inherited
                assert tf.get_variable_scope().reuse is True
        assert tf.get_variable_scope().name == "" and not tf.get_variable_scope().reuse
        with tf.variable_scope(scope) as again:  # re-entered: same variables, new op scope
            assert again.name == "foo" and again.reuse is True
            assert tf.get_variable("v") is v
            assert tf.identity(v).op.name == "foo_1/Identity"
        with tf.variable_scope(scope, auxiliary_name_scope=False) as same:
            with tf.name_scope(same.original_name_scope):
                assert tf.constant(1.0, name="c").op.name == "foo/c"
        with tf.variable_scope("outer"):
            with tf.variable_scope(scope):  # jumps to "foo", whatever the current scope
                assert tf.get_variable("v") is v
        with tf.variable_scope(tf.get_variable_scope(), reuse=True):
            assert tf.get_variable("foo/v") is v


def test_default_name_counters_restart_when_a_scope_is_reentered():
    """TF's own example: scopes from default_name are unique within their parent, and
    re-entering the parent starts counting again."""
    with tf.Graph().as_default():
        with tf.variable_scope("foo") as vs:
            with tf.variable_scope(None, default_name="bar"):
                assert tf.get_variable("a", [1]).name == "foo/bar/a:0"
            with tf.variable_scope(None, default_name="bar"):
                assert tf.get_variable("b", [1]).name == "foo/bar_1/b:0"
        with tf.variable_scope(vs):
            with tf.variable_scope(None, default_name="bar"):
                assert tf.get_variable("c", [1]).name == "foo/bar/c:0"


def test_scope_initializer_and_dtype_are_the_defaults(engine):
    with tf.Graph().as_default():
        with tf.variable_scope("s", initializer=tf.constant_initializer(2.0), dtype=tf.float64):
            a = tf.get_variable("a", [2])
            with tf.variable_scope("inner", initializer=tf.ones_initializer()):
                b = tf.get_variable("b", [2])  # inherits float64, its own initializer
            c = tf.get_variable("c", [2], tf.int32, tf.constant_initializer(2))
            d = tf.get_variable("d", [3], initializer=tf.zeros_initializer)  # a class
        e = tf.get_variable("e", [2], dtype=tf.int32)  # ints default to zeros
        assert [t.dtype for t in (a, b, c, d, e)] == [tf.float64] * 2 + [tf.int32] + \
            [tf.float64, tf.int32]
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            values = sess.run([a, b, c, d, e])
    for value, want in zip(values, ([2.0, 2.0], [1.0, 1.0], [2, 2], [0.0] * 3, [0, 0])):
        np.testing.assert_array_equal(value, want)
    assert values[2].dtype == np.int32 and values[3].dtype == np.float64


def test_initializer_objects_take_the_variables_dtype(engine):
    with tf.Graph().as_default():
        normal = tf.get_variable("normal", [200, 50], tf.float64,
                                 tf.random_normal_initializer(mean=1.0, stddev=0.1, seed=3))
        truncated = tf.get_variable("truncated", [200, 50], tf.float64,
                                    tf.truncated_normal_initializer(stddev=0.5, seed=4))
        const = tf.get_variable("const", [2, 3], tf.float64,
                                tf.constant_initializer([1, 2, 3, 4, 5, 6]))
        glorot = tf.get_variable("glorot", [20, 30], tf.float64,
                                 tf.glorot_uniform_initializer(seed=5))
        ints = tf.get_variable("ints", [2], tf.int64, tf.constant_initializer(7))
        from_value = tf.get_variable("from_value", initializer=np.arange(3.0))
        from_lambda = tf.get_variable("from_lambda", initializer=lambda: tf.ones([2, 2]))
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            n, t, k, g, i, fv, fl = sess.run([normal, truncated, const, glorot, ints,
                                              from_value, from_lambda])
    assert n.dtype == t.dtype == k.dtype == g.dtype == np.float64 and i.dtype == np.int64
    assert abs(n.mean() - 1.0) < 0.01 and abs(n.std() - 0.1) < 0.01
    assert np.abs(t).max() <= 1.0 and 0.35 < t.std() < 0.5  # redrawn beyond 2 stddev
    np.testing.assert_array_equal(k, [[1, 2, 3], [4, 5, 6]])
    assert np.abs(g).max() <= np.sqrt(6 / 50) and g.std() > np.sqrt(6 / 50) / 4
    np.testing.assert_array_equal(i, [7, 7])
    assert fv.dtype == np.float64 and fl.shape == (2, 2)


def test_variable_names_follow_the_variable_scope_not_the_name_scope():
    with tf.Graph().as_default():
        with tf.name_scope("ns"):
            v = tf.get_variable("v", [1])
            assert v.name == "v:0" and tf.identity(v).op.name == "ns/Identity"
            with tf.variable_scope("vs"):
                w = tf.get_variable("w", [1])
                plain = tf.Variable(1.0, name="plain")  # tf.Variable follows the name scope
                assert (w + 1).op.name == "ns/vs/add"
        assert w.name == "vs/w:0" and plain.name == "ns/vs/plain:0"
        x = tf.Variable(0.0, name="x")
        gx = tf.get_variable("x", [])  # the op name is taken: uniquified, as in TF
        assert x.name == "x:0" and gx.name == "x_1:0"
        with tf.variable_scope("", reuse=True):
            assert tf.get_variable("x", []) is gx


def test_sharing_errors_are_worded_as_tf():
    with tf.Graph().as_default():
        with tf.variable_scope("s"):
            first = caller_line() + 1
            tf.get_variable("p", [2])
            line = caller_line() + 2
            with pytest.raises(tf.VariableError) as info:
                tf.get_variable("p", [2])
        assert isinstance(info.value, ValueError)
        assert_points_here(info, "Variable s/p already exists, disallowed. Did you mean to set "
                           "reuse=True or reuse=tf.AUTO_REUSE in VarScope?", line=line)
        assert f":{first}" in str(info.value)  # where it was defined
        with tf.variable_scope("s", reuse=True):
            cases = [(lambda: tf.get_variable("q", [2]), "Variable s/q does not exist, or was "
                      "not created with tf.get_variable(). Did you mean to set "
                      "reuse=tf.AUTO_REUSE in VarScope?"),
                     (lambda: tf.get_variable("p", [3]), "Trying to share variable s/p, but "
                      "specified shape (3,) and found shape (2,)."),
                     (lambda: tf.get_variable("p", [2], tf.float64), "Trying to share variable "
                      "s/p, but specified dtype float64 and found dtype float32.")]
            for get, message in cases:
                with pytest.raises(tf.VariableError) as info:
                    get()
                assert message in str(info.value)
        with pytest.raises(tf.VariableError, match="do not specify shape"):
            tf.get_variable("k", [2], initializer=tf.constant([1.0, 2.0]))
        with pytest.raises(tf.ShapeError, match=r"Shape of a new variable \(u\) must be fully"):
            tf.get_variable("u")
        with pytest.raises(tf.InvalidArgumentError, match="reuse parameter"):
            tf.variable_scope("s", reuse="yes")


def test_regularizer_losses_are_collected(engine):
    with tf.Graph().as_default():
        with tf.variable_scope("layer", regularizer=lambda w: 0.5 * tf.reduce_sum(w * w)):
            w = tf.get_variable("w", [2], initializer=tf.constant_initializer(3.0))
        with tf.variable_scope("layer", reuse=True):
            tf.get_variable("w", [2])  # shared: no second loss
        (loss,) = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
        assert loss.op.name.startswith("layer/w/Regularizer/")
        with tf.Session(engine=engine) as sess:
            sess.run(w.initializer)
            assert sess.run(loss) == 9.0
