"""Optimizers: updates against hand-computed NumPy updates for a few steps (in both
engines), slot state kept across runs, Adam's bias correction, the global step,
one fused kernel per variable update, and a short training run whose loss falls."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf

ENGINES = ["compiled", "reference"]
RNG = np.random.default_rng(42)
W0 = RNG.standard_normal((4, 3)).astype(np.float32)
B0 = RNG.standard_normal(3).astype(np.float32)
GRADS = [(RNG.standard_normal((4, 3)).astype(np.float32),
          RNG.standard_normal(3).astype(np.float32)) for _ in range(4)]


def _run_with_given_gradients(make_optimizer, engine, global_step=False):
    """Apply GRADS (fed through placeholders) to two variables; return the variables'
    values after every step, the optimizer and the graph."""
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(W0, name="w")
        b = tf.Variable(B0, name="b")
        gw = tf.placeholder(tf.float32, [4, 3], name="gw")
        gb = tf.placeholder(tf.float32, [3], name="gb")
        step = tf.train.get_or_create_global_step() if global_step else None
        opt = make_optimizer()
        train = opt.apply_gradients([(gw, w), (gb, b)], global_step=step)
        init = tf.global_variables_initializer()
    trace = []
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(init)
        for grad_w, grad_b in GRADS:
            assert sess.run(train, {gw: grad_w, gb: grad_b}) is None
            trace.append(sess.run([w, b]))
        extra = sess.run(step) if global_step else None
    return trace, opt, graph, extra


def _check(trace, expected, rtol=1e-5):
    assert len(trace) == len(expected)
    for (w, b), (ew, eb) in zip(trace, expected):
        np.testing.assert_allclose(w, ew, rtol=rtol, atol=1e-6)
        np.testing.assert_allclose(b, eb, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_gradient_descent(engine):
    trace, opt, graph, step = _run_with_given_gradients(
        lambda: tf.train.GradientDescentOptimizer(0.1), engine, global_step=True)
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    expected = []
    for gw, gb in GRADS:
        w, b = w - 0.1 * gw, b - 0.1 * gb
        expected.append((w, b))
    _check(trace, expected)
    assert step == len(GRADS)
    assert opt.variables() == [] and opt.get_name() == "GradientDescent"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_keeps_its_accumulator_across_runs(engine, nesterov):
    trace, opt, graph, _ = _run_with_given_gradients(
        lambda: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=nesterov), engine)
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    aw, ab = np.zeros_like(w), np.zeros_like(b)
    expected = []
    for gw, gb in GRADS:
        aw, ab = 0.9 * aw + gw, 0.9 * ab + gb
        if nesterov:
            w, b = w - 0.05 * (gw + 0.9 * aw), b - 0.05 * (gb + 0.9 * ab)
        else:
            w, b = w - 0.05 * aw, b - 0.05 * ab
        expected.append((w, b))
    _check(trace, expected)
    slot = opt.get_slot(graph.get_tensor_by_name("w:0"), "momentum")
    assert slot.name == "w/Momentum:0" and not slot.trainable
    assert opt.get_slot_names() == ["momentum"]
    assert slot not in tf.trainable_variables(graph=graph)


def _adam_numpy(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8):
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    expected = []
    for t, grads in enumerate(GRADS, start=1):
        lr_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)  # TF1's bias correction
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            params[i] = params[i] - lr_t * m[i] / (np.sqrt(v[i]) + eps)
        expected.append(tuple(p.copy() for p in params))
    return expected


@pytest.mark.parametrize("engine", ENGINES)
def test_adam_bias_correction(engine):
    trace, opt, graph, _ = _run_with_given_gradients(
        lambda: tf.train.AdamOptimizer(0.01), engine)
    _check(trace, _adam_numpy(), rtol=2e-5)
    # The first step moves each weight by about lr: bias correction at work.
    np.testing.assert_allclose(np.abs(trace[0][0] - W0), 0.01, rtol=1e-3)
    beta1_power, beta2_power = opt._get_beta_accumulators()
    assert beta1_power.name == "beta1_power:0" and not beta1_power.trainable
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(tf.variables_initializer(opt.variables()))
        assert sess.run(beta1_power) == np.float32(0.9)
    w = graph.get_tensor_by_name("w:0")
    assert [opt.get_slot(w, s).name for s in ("m", "v")] == ["w/Adam:0", "w/Adam_1:0"]


def test_adam_update_of_each_variable_is_one_kernel():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(W0, name="w")
        gw = tf.placeholder(tf.float32, [4, 3], name="gw")
        train = tf.train.AdamOptimizer(0.01).apply_gradients([(gw, w)])
    fn = tf.compile(train)
    stores = {}
    for step in fn.kernels:
        for name in step.ops:
            op = graph.get_operation_by_name(name)
            if op.type == "Assign":
                stores.setdefault(step.name, []).append(op.inputs[0].op.name)
    update = [targets for targets in stores.values() if "w" in targets]
    assert update == [["w/Adam", "w/Adam_1", "w"]], fn.kernels
    assert all(s.kind in ("kernel", "view") for s in fn.kernels)


def test_apply_gradients_errors():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(W0, name="w")
        opt = tf.train.GradientDescentOptimizer(0.1)
        with pytest.raises(tf.GraphError, match="no gradients"):
            opt.apply_gradients([(None, w)])
        with pytest.raises(tf.GraphError, match="does not fit"):
            opt.apply_gradients([(tf.zeros([3]), w)])
        with pytest.raises(tf.GraphError, match="not a graphjit.Variable"):
            opt.apply_gradients([(tf.zeros([4, 3]), tf.zeros([4, 3]))])


# -- with graphjit.gradients ----------------------------------------------------------

def _regression(optimizer):
    rng = np.random.default_rng(0)
    x_data = rng.standard_normal((32, 3)).astype(np.float32)
    y_data = x_data @ np.array([[1.5], [-2.0], [0.5]], np.float32) + 0.3
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.float32, [None, 1], name="y")
        w = tf.Variable(tf.zeros([3, 1]), name="w")
        b = tf.Variable(tf.zeros([1]), name="b")
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
        step = tf.train.create_global_step()
        train = optimizer.minimize(loss, global_step=step)
        init = tf.global_variables_initializer()
    return graph, {x: x_data, y: y_data}, (x_data, y_data), w, b, loss, train, init, step


def test_minimize_takes_the_hand_computed_gradient_step():
    graph, feed, (xd, yd), w, b, loss, train, init, step = _regression(
        tf.train.GradientDescentOptimizer(0.1))
    with tf.Session(graph=graph) as sess:
        sess.run(init)
        for _ in range(3):
            w_now, b_now = sess.run([w, b])
            residual = xd @ w_now + b_now - yd
            expected_w = w_now - 0.1 * 2 * xd.T @ residual / len(xd)
            expected_b = b_now - 0.1 * 2 * residual.mean(0)
            sess.run(train, feed)
            np.testing.assert_allclose(sess.run(w), expected_w, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(sess.run(b), expected_b, rtol=1e-5, atol=1e-6)
        assert sess.run(step) == 3


@pytest.mark.parametrize("make", [
    lambda: tf.train.GradientDescentOptimizer(0.1),
    lambda: tf.train.MomentumOptimizer(0.05, 0.9),
    lambda: tf.train.AdamOptimizer(0.1),
], ids=["sgd", "momentum", "adam"])
def test_short_training_run_lowers_the_loss(make):
    graph, feed, _, w, b, loss, train, init, _ = _regression(make())
    losses = {}
    for engine in ENGINES:
        with tf.Session(graph=graph, engine=engine) as sess:
            sess.run(init)
            losses[engine] = [sess.run([loss, train], feed)[0] for _ in range(15)]
    trace = losses["compiled"]
    assert trace[-1] < 0.5 * trace[0] and trace[-1] < trace[-2]
    np.testing.assert_allclose(trace, losses["reference"], rtol=1e-4)


def test_compute_gradients_pairs_and_var_list():
    graph, feed, _, w, b, loss, train, init, _ = _regression(
        tf.train.GradientDescentOptimizer(0.1))
    with graph.as_default():
        unused = tf.Variable(1.0, name="unused")
        opt = tf.train.GradientDescentOptimizer(0.1)
        pairs = opt.compute_gradients(loss)
        assert [v for _, v in pairs] == [w, b, unused]
        assert pairs[2][0] is None and pairs[0][0].shape == [3, 1]
        only_b = opt.compute_gradients(loss, var_list=[b])
        assert [v for _, v in only_b] == [b]
        with pytest.raises(tf.GraphError, match="no gradients"):
            opt.minimize(tf.reduce_sum(tf.ones([2])) * 1.0, var_list=[unused])
    assert train in graph.get_collection(tf.GraphKeys.TRAIN_OP)
