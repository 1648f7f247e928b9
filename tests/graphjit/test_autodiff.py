"""graphjit.gradients: TF1 semantics (None, sums, grad_ys, reuse, broadcasting, unknown
dims, stop_gradient, errors naming the blocking op) and composite models checked
against hand-derived NumPy backward passes, compiled."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit import interpreter
from graphjit.registry import all_op_defs

RTOL, ATOL = 1e-10, 1e-12


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _run(fetches, feeds: dict, compiled: bool = True):
    """Compiled (the default) or by the reference interpreter."""
    if compiled:
        fn = tf.compile(fetches, feeds=list(feeds))
        return fn(*feeds.values())
    return interpreter.evaluate(fetches, feeds)


# -- semantics --------------------------------------------------------------------

def test_none_for_an_x_the_ys_do_not_depend_on():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [3])
        z = tf.placeholder(tf.float64, [3])
        y = tf.reduce_sum(tf.exp(x))
        gx, gz = tf.gradients(y, [x, z])
        assert gz is None
        assert gx.name.startswith("gradients/")
        assert tf.gradients(y, z) == [None]


def test_multiple_ys_are_summed_and_grad_ys_weigh_them():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 3])
        y1, y2 = tf.square(x), tf.sin(x)
        (g,) = tf.gradients([y1, y2], x)
        w = tf.placeholder(tf.float64, [None, 3])
        (gw,) = tf.gradients([y1, y2], [x], grad_ys=[w, None])
        xv = np.random.default_rng(0).normal(size=(4, 3))
        wv = np.random.default_rng(1).normal(size=(4, 3))
        got, got_w = _run([g, gw], {x: xv, w: wv})
    np.testing.assert_allclose(got, 2 * xv + np.cos(xv), RTOL, ATOL)
    np.testing.assert_allclose(got_w, 2 * xv * wv + np.cos(xv), RTOL, ATOL)


def test_a_tensor_used_several_times_accumulates():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [5])
        y = x * x + x * 3.0 - tf.exp(x) + x
        (g,) = tf.gradients(y, x)
        xv = np.linspace(-1, 1, 5)
        np.testing.assert_allclose(_run([g], {x: xv})[0], 2 * xv + 4 - np.exp(xv), RTOL, ATOL)


def test_gradient_of_x_with_respect_to_itself_is_grad_y():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [2])
        (g,) = tf.gradients(x, x, grad_ys=tf.constant([2.0, 3.0], tf.float64))
        np.testing.assert_array_equal(_run([g], {x: np.zeros(2)}, compiled=False)[0], [2, 3])


def test_bias_gradient_reduces_over_the_batch():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 3])
        b = tf.placeholder(tf.float64, [3])
        s = tf.placeholder(tf.float64, [])
        y = (x + b) * s
        gx, gb, gs = tf.gradients(tf.reduce_sum(y * y), [x, b, s])
        assert gb.shape == (3,) and gs.shape == () and gx.shape.as_list() == [None, 3]
        # static shapes decided every broadcast: no run-time reduction op
        types = {op.type for op in x.graph.get_operations()}
        assert "SumToShapeOf" not in types
        fn = tf.compile([gx, gb, gs], feeds=[x, b, s])
        for n in (4, 1, 7):
            xv, bv = np.random.default_rng(n).normal(size=(n, 3)), np.array([0.5, -1, 2])
            got = fn(xv, bv, np.float64(1.5))
            d = 2 * (xv + bv) * 1.5
            np.testing.assert_allclose(got[0], d * 1.5, RTOL, ATOL)
            np.testing.assert_allclose(got[1], (d * 1.5).sum(0), RTOL, ATOL)
            np.testing.assert_allclose(got[2], (d * (xv + bv)).sum(), RTOL, ATOL)


def test_broadcast_decided_at_run_time_for_unknown_dims():
    """a [?, 3] * b [?, 3]: whether a's batch was 1 and broadcast is known only when the
    plan sees the shapes; one compiled function serves both cases."""
    with tf.Graph().as_default():
        a = tf.placeholder(tf.float64, [None, 3])
        b = tf.placeholder(tf.float64, [None, 3])
        ga, gb = tf.gradients(tf.reduce_sum(a * b * b), [a, b])
        assert "SumToShapeOf" in {op.type for op in a.graph.get_operations()}
        fn = tf.compile([ga, gb], feeds=[a, b])
        rng = np.random.default_rng(0)
        for na, nb in ((1, 4), (4, 4), (4, 1), (1, 1)):
            av, bv = rng.normal(size=(na, 3)), rng.normal(size=(nb, 3))
            got_a, got_b = fn(av, bv)
            want_a = np.sum(bv * bv * np.ones((max(na, nb), 3)), 0, keepdims=True) \
                if na == 1 else bv * bv * np.ones_like(av)
            want_b = 2 * av * bv * np.ones((max(na, nb), 3))
            want_b = want_b.sum(0, keepdims=True) if nb == 1 else want_b
            np.testing.assert_allclose(got_a, want_a, RTOL, ATOL)
            np.testing.assert_allclose(got_b, want_b, RTOL, ATOL)
            assert got_a.shape == av.shape and got_b.shape == bv.shape


def test_reshape_with_several_unknown_dims():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, None, 2])
        (g,) = tf.gradients(tf.reduce_sum(tf.exp(tf.reshape(x, [-1]))), x)
        assert "ReshapeLike" in {op.type for op in x.graph.get_operations()}
        fn = tf.compile(g, feeds=[x])
        for shape in ((2, 3, 2), (1, 4, 2)):
            xv = np.random.default_rng(0).normal(size=shape)
            np.testing.assert_allclose(fn(xv), np.exp(xv), RTOL, ATOL)


def test_stop_gradient_blocks_without_error():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [3])
        y = tf.stop_gradient(x) * x
        assert tf.gradients(tf.stop_gradient(x) * 2.0, x) == [None]
        (g,) = tf.gradients(y, x)
        xv = np.array([1.0, 2.0, 3.0])
        np.testing.assert_allclose(_run([g], {x: xv})[0], xv, RTOL, ATOL)


def test_stop_gradients_argument_gives_partial_derivatives():
    """TF's documented example: a = 0, b = 2a, d(a + b) with a and b held constant."""
    with tf.Graph().as_default():
        a = tf.placeholder(tf.float64, [])
        b = 2.0 * a
        ga, gb = tf.gradients(a + b, [a, b], stop_gradients=[a, b])
        ga_total, = tf.gradients(a + b, a)
        got = _run([ga, gb, ga_total], {a: np.float64(0.0)}, compiled=False)
        assert [float(v) for v in got] == [1.0, 1.0, 3.0]


def test_not_differentiable_error_names_the_blocking_op():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        mask = tf.greater(x, 0.0, name="is_positive")
        y = tf.where(mask, 1.0, -1.0)
        with pytest.raises(tf.NotDifferentiableError, match="Greater 'is_positive'") as info:
            tf.gradients(y, x)
        assert "test_autodiff.py" in str(info.value)  # the user's line that created it
        assert isinstance(info.value, tf.Error)
        with pytest.raises(tf.NotDifferentiableError, match="ArgMax 'best'"):
            tf.gradients(tf.cast(tf.argmax(x, name="best"), tf.float32), x)
        with pytest.raises(tf.NotDifferentiableError, match="Cast 'to_int'"):
            tf.gradients(tf.cast(tf.cast(x, tf.int32, name="to_int"), tf.float32) * 2.0, x)
        # another path that is differentiable: no error
        (g,) = tf.gradients(y * x, x)
        assert g is not None


def test_integer_x_is_reported():
    with tf.Graph().as_default():
        i = tf.placeholder(tf.int32, [3])
        with pytest.raises(tf.NotDifferentiableError, match="Cast"):
            tf.gradients(tf.cast(i, tf.float32) * 2.0, i)


def test_piecewise_constant_ops_follow_tf():
    """Floor, Ceil and Round have no gradient (None), Sign a zero one; no error."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [3])
        assert tf.gradients(tf.floor(x) + tf.round(x) + tf.ceil(x), x) == [None]
        (g,) = tf.gradients(tf.sign(x) + x, x)
        np.testing.assert_array_equal(_run([g], {x: np.ones(3)}, compiled=False)[0], 1.0)
        assert tf.gradients(tf.zeros_like(x), x) == [None]


def test_second_derivative():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [4])
        (g,) = tf.gradients(tf.reduce_sum(x * x * x), x)
        (h,) = tf.gradients(g, x)
        xv = np.array([-1.0, 0.5, 2.0, 3.0])
        np.testing.assert_allclose(_run([h], {x: xv})[0], 6 * xv, RTOL, ATOL)


def test_gradient_of_a_concat_of_empty_tensors_compiles():
    """A row sum over a concat whose pieces are all empty (found by the gradient check)."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [0])
        y = tf.reduce_sum(tf.concat([x, x], 0) * 2.0)
        (g,) = tf.gradients(y, x)
        got_y, got_g = _run([y, g], {x: np.zeros(0)})
    assert got_y == 0.0 and got_g.shape == (0,)


def test_argument_errors():
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default():
        x = tf.placeholder(tf.float32, [2])
    with g2.as_default():
        y = tf.placeholder(tf.float32, [2])
    with pytest.raises(tf.GraphError, match="another graph"):
        tf.gradients(y, x)
    with g1.as_default():
        with pytest.raises(tf.GraphError, match="2 grad_ys given for 1 ys"):
            tf.gradients(x * 2.0, x, grad_ys=[None, None])
        with pytest.raises(tf.ShapeError):
            tf.gradients(x * 2.0, x, grad_ys=[tf.ones([3])])


def test_every_op_is_differentiable_with_a_rule_or_marked_not_differentiable():
    inconsistent = sorted(name for name, op_def in all_op_defs().items()
                          if op_def.differentiable != (op_def.grad is not None))
    assert not inconsistent, ("ops marked differentiable without a gradient rule, or with "
                              f"a rule but marked not differentiable: {inconsistent}")


# -- composite models against hand-derived NumPy backward passes --------------------

def _mlp(n_in=6, n_hidden=5, n_out=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n_in, n_hidden)) * 0.5, rng.normal(size=n_hidden) * 0.1,
            rng.normal(size=(n_hidden, n_out)) * 0.5, rng.normal(size=n_out) * 0.1]


def _mlp_numpy_backward(x, labels, w1, b1, w2, b2):
    n = len(x)
    z1 = x @ w1 + b1
    h1 = np.maximum(z1, 0)
    logits = h1 @ w2 + b2
    p = _softmax(logits)
    loss = -np.mean(np.log(p[np.arange(n), labels]))
    d_logits = (p - np.eye(logits.shape[1])[labels]) / n
    d_h1 = d_logits @ w2.T
    d_z1 = d_h1 * (z1 > 0)
    return loss, [d_z1 @ w1.T, x.T @ d_z1, d_z1.sum(0), h1.T @ d_logits, d_logits.sum(0)]


def test_mlp_matches_numpy_backward_for_any_batch_size():
    params = _mlp()
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 6], name="x")
        labels = tf.placeholder(tf.int64, [None], name="labels")
        ws = [tf.placeholder(tf.float64, p.shape) for p in params]
        hidden = tf.nn.relu(tf.matmul(x, ws[0]) + ws[1])
        logits = tf.nn.bias_add(tf.matmul(hidden, ws[2]), ws[3])
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
        grads = tf.gradients(loss, [x] + ws)
        fn = tf.compile([loss] + grads, feeds=[x, labels] + ws)
    rng = np.random.default_rng(1)
    for n in (8, 3, 1):
        xv, yv = rng.normal(size=(n, 6)), rng.integers(0, 4, size=n)
        got = fn(xv, yv, *params)
        assert all(step.kind != "host" for step in fn.kernels)
        want_loss, want = _mlp_numpy_backward(xv, yv, *params)
        np.testing.assert_allclose(got[0], want_loss, 1e-12)
        for g, w in zip(got[1:], want):
            np.testing.assert_allclose(g, w, RTOL, ATOL)


def test_softmax_cross_entropy_dense_and_sparse():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4)) * 3
    y = rng.random((5, 4))
    y /= y.sum(-1, keepdims=True)
    ids = rng.integers(0, 4, size=5)
    weights = rng.uniform(0.5, 2, size=5)
    with tf.Graph().as_default():
        logits = tf.placeholder(tf.float64, [None, 4])
        labels = tf.placeholder(tf.float64, [None, 4])
        sparse = tf.placeholder(tf.int32, [None])
        w = tf.placeholder(tf.float64, [None])
        v1 = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        v2 = tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
        sp = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=sparse, logits=logits)
        g1_logits, g1_labels = tf.gradients(v1, [logits, labels], grad_ys=w)
        assert g1_labels is None  # TF1: no gradient into the labels
        g2_logits, g2_labels = tf.gradients(v2, [logits, labels], grad_ys=w)
        (gs,) = tf.gradients(sp, logits, grad_ys=w)
        got = _run([g1_logits, g2_logits, g2_labels, gs],
                   {logits: z, labels: y, sparse: ids, w: weights})
    p = _softmax(z)
    dense = (p * y.sum(-1, keepdims=True) - y) * weights[:, None]
    np.testing.assert_allclose(got[0], dense, RTOL, ATOL)
    np.testing.assert_allclose(got[1], dense, RTOL, ATOL)
    np.testing.assert_allclose(got[2], -np.log(p) * weights[:, None], RTOL, ATOL)
    np.testing.assert_allclose(got[3], (p - np.eye(4)[ids]) * weights[:, None], RTOL, ATOL)


def test_layer_norm_matches_numpy_backward():
    rng = np.random.default_rng(4)
    xv, gv, bv = rng.normal(size=(3, 6)), rng.normal(size=6), rng.normal(size=6)
    dy = rng.normal(size=(3, 6))
    eps = 1e-5
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 6])
        gamma = tf.placeholder(tf.float64, [6])
        beta = tf.placeholder(tf.float64, [6])
        up = tf.placeholder(tf.float64, [None, 6])
        y = tf.nn.layer_normalization(x, gamma, beta, epsilon=eps)
        grads = tf.gradients(y, [x, gamma, beta], grad_ys=up)
        got = _run(grads, {x: xv, gamma: gv, beta: bv, up: dy})
    n = xv.shape[1]
    mu = xv.mean(-1, keepdims=True)
    r = 1 / np.sqrt(((xv - mu) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (xv - mu) * r
    dxhat = dy * gv
    dx = r / n * (n * dxhat - dxhat.sum(-1, keepdims=True)
                  - xhat * (dxhat * xhat).sum(-1, keepdims=True))
    np.testing.assert_allclose(got[0], dx, 1e-9, 1e-11)
    np.testing.assert_allclose(got[1], (dy * xhat).sum(0), RTOL, ATOL)
    np.testing.assert_allclose(got[2], dy.sum(0), RTOL, ATOL)


def test_cnn_compiled_matches_reference_with_unknown_batch():
    """conv2d + max_pool + avg_pool + dense: every backward op lowers natively and the
    compiled gradients equal the reference interpreter's for two batch sizes."""
    rng = np.random.default_rng(5)
    fv, wv = rng.normal(size=(3, 3, 2, 4)) * 0.3, rng.normal(size=(2 * 2 * 4, 3)) * 0.3
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 8, 8, 2])
        labels = tf.placeholder(tf.int32, [None])
        f = tf.placeholder(tf.float64, fv.shape)
        w = tf.placeholder(tf.float64, wv.shape)
        h = tf.nn.relu(tf.nn.conv2d(x, f, strides=1, padding="SAME"))
        h = tf.nn.avg_pool(tf.nn.max_pool(h, 2, 2, "VALID"), 3, 2, "SAME")
        logits = tf.matmul(tf.reshape(h, [-1, 2 * 2 * 4]), w)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
        grads = tf.gradients(loss, [x, f, w])
        fn = tf.compile(grads, feeds=[x, labels, f, w])
    for n in (3, 1):
        feeds = {x: rng.normal(size=(n, 8, 8, 2)), labels: rng.integers(0, 3, size=n),
                 f: fv, w: wv}
        got = fn(*feeds.values())
        assert all(step.kind != "host" for step in fn.kernels)
        want = interpreter.evaluate(grads, feeds)
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, RTOL, ATOL)
