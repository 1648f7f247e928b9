"""TF1-style programs with tf.cond, tf.case and tf.while_loop, in both engines against
NumPy: a branch chosen by a fed bool, an is_training switch, loops to convergence, a
counter stopped by maximum_iterations, a variable growing under shape_invariants,
conds nested in loops; gradients of conds against finite differences; the errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line

ENGINES = ("reference", "compiled")


def run(graph, fetches, feed_dict, engine):
    with tf.Session(graph=graph, engine=engine) as sess:
        return sess.run(fetches, feed_dict)


def run_both(graph, fetches, feed_dict, rtol=1e-6):
    """The compiled values, checked against the reference interpreter's."""
    ref = run(graph, fetches, feed_dict, "reference")
    got = run(graph, fetches, feed_dict, "compiled")
    for r, g in zip(ref if isinstance(ref, list) else [ref], got if isinstance(got, list)
                    else [got]):
        assert np.shape(r) == np.shape(g) and np.asarray(r).dtype == np.asarray(g).dtype
        np.testing.assert_allclose(g, r, rtol=rtol)
    return got


# -- cond -------------------------------------------------------------------------------

def test_cond_chooses_between_two_computations_on_a_fed_bool():
    graph = tf.Graph()
    with graph.as_default():
        use_square = tf.placeholder(tf.bool, [], name="use_square")
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.cond(use_square, lambda: tf.reduce_sum(x * x, axis=1),
                    lambda: tf.reduce_max(tf.abs(x), axis=1))
        out = y * 2.0 + 1.0
    a = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    for flag, expected in ((True, (a * a).sum(1)), (False, np.abs(a).max(1))):
        got = run_both(graph, out, {use_square: flag, x: a})
        np.testing.assert_allclose(got, expected * 2 + 1, rtol=1e-5)
    assert out.shape.as_list() == [None]


def test_is_training_switch_between_batch_and_moving_statistics():
    """TF1's batch-norm pattern: the batch's moments in training, the moving averages (a
    variable read in the branch, so captured) at inference; the branches have no effects."""
    graph = tf.Graph()
    with graph.as_default():
        is_training = tf.placeholder(tf.bool, [], name="is_training")
        x = tf.placeholder(tf.float64, [None, 2], name="x")
        moving_mean = tf.Variable(np.array([1.0, -1.0]), name="moving_mean")
        moving_var = tf.Variable(np.array([4.0, 0.25]), name="moving_var")

        def batch_stats():
            mean, var = tf.nn.moments(x, [0])
            return mean, var
        mean, var = tf.cond(is_training, batch_stats, lambda: (moving_mean, moving_var))
        y = (x - mean) / tf.sqrt(var + 1e-3)
        init = tf.global_variables_initializer()
    a = np.random.default_rng(1).normal(2.0, 3.0, size=(8, 2))
    for engine in ENGINES:
        with tf.Session(graph=graph, engine=engine) as sess:
            sess.run(init)
            train = sess.run(y, {x: a, is_training: True})
            infer = sess.run(y, {x: a, is_training: False})
        np.testing.assert_allclose(train, (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-3))
        np.testing.assert_allclose(infer, (a - [1, -1]) / np.sqrt(np.array([4, .25]) + 1e-3))


def test_only_the_branch_taken_runs():
    """The other branch would fail (an index out of range): it must not run, and a
    compiled plan makes no plan for it."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [5], name="x")
        i = tf.placeholder(tf.int32, [], name="i")
        y = tf.cond(i < 5, lambda: tf.gather(x, i), lambda: tf.constant(-1.0))
    a = np.arange(5, dtype=np.float32)
    assert run_both(graph, y, {x: a, i: 7}) == -1.0
    assert run_both(graph, y, {x: a, i: 3}) == 3.0
    with pytest.raises(tf.ShapeError, match="out of range"):
        run(graph, tf.gather(x, i), {x: a, i: 7}, "compiled")
    with graph.as_default():
        y = tf.cond(i < 5, lambda: tf.gather(x, i), lambda: tf.constant(-1.0))
    fn = tf.compile(y, feeds=[x, i])
    fn(a, np.int32(9))
    branches = y.op.attrs
    assert branches["else_branch"].compiled()._executors
    assert not branches["then_branch"].compiled()._executors
    assert [(s.kind, s.ops) for s in fn.kernels if s.kind == "host"] == [("host", ("cond_1",))]


def test_cond_returns_nested_structures_and_unpacks_singletons():
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        x = tf.placeholder(tf.int32, [3], name="x")
        out = tf.cond(p, lambda: {"a": x + 1, "b": [x * 2, x]},
                      lambda: {"a": x - 1, "b": [x, x * 3]})
        single = tf.cond(p, lambda: [x], lambda: [x + 10])
        strict = tf.cond(p, lambda: [x], lambda: [x + 10], strict=True)
    assert sorted(out) == ["a", "b"] and isinstance(out["b"], list)
    assert isinstance(single, tf.Tensor) and isinstance(strict, list)
    a = np.array([1, 2, 3], np.int32)
    got = run_both(graph, [out["a"], out["b"][0], out["b"][1], single], {p: False, x: a})
    for g, e in zip(got, [a - 1, a, a * 3, a + 10]):
        np.testing.assert_array_equal(g, e)


def test_case_picks_the_first_true_predicate_else_the_default():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        y = tf.case([(x < 0, lambda: -x), (x < 10, lambda: x * 2)], default=lambda: x + 100)
        z = tf.case({x > 5: lambda: tf.constant(1), x > 1: lambda: tf.constant(2)})
    for value, want_y, want_z in ((-3, 3, 2), (4, 8, 2), (20, 120, 1), (0.5, 1, 2)):
        got = run_both(graph, [y, z], {x: value})
        assert got == [want_y, want_z], value


# -- while_loop ---------------------------------------------------------------------------

def test_while_loop_sums_to_a_fed_bound():
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        i, total = tf.while_loop(lambda i, s: i <= n, lambda i, s: (i + 1, s + i),
                                 [tf.constant(1), tf.constant(0)])
    for bound in (0, 1, 10, 100):
        assert run_both(graph, [i, total], {n: bound}) == [max(bound, 0) + 1,
                                                           bound * (bound + 1) // 2]


def test_newtons_method_for_sqrt_iterates_to_convergence():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")

        def body(y, steps):
            return 0.5 * (y + x / y), steps + 1
        y, steps = tf.while_loop(
            lambda y, steps: tf.reduce_max(tf.abs(y * y - x)) > 1e-12 * tf.reduce_max(x),
            body, (x + 1.0, 0))
    a = np.array([2.0, 9.0, 1e4, 0.5])
    got_y, got_steps = run_both(graph, [y, steps], {x: a})
    np.testing.assert_allclose(got_y, np.sqrt(a), rtol=1e-12)
    assert 5 < got_steps < 40
    fn = tf.compile([y, steps], feeds=[x])
    fn(a)
    fn(a * 2)
    body_plans = y.op.attrs["body"].compiled()._executors
    assert len(body_plans) == 1  # one plan, reused by every iteration of both calls


def test_maximum_iterations_stops_a_counter():
    graph = tf.Graph()
    with graph.as_default():
        limit = tf.placeholder(tf.int32, [], name="limit")
        forever = tf.while_loop(lambda i: i >= 0, lambda i: i + 1, [tf.constant(0)],
                                maximum_iterations=7)
        fed = tf.while_loop(lambda i, v: i >= 0, lambda i, v: (i + 2, v * 2.0),
                            [tf.constant(0), tf.constant(1.0)], maximum_iterations=limit)
    assert run_both(graph, forever, {}) == 7
    assert run_both(graph, fed, {limit: 5}) == [10, 32.0]
    assert run_both(graph, fed, {limit: 0}) == [0, 1.0]


def test_a_loop_variable_grows_under_shape_invariants():
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float32, [2], name="x")
        _, grown = tf.while_loop(lambda i, v: i < n,
                                 lambda i, v: (i + 1, tf.concat([v, v + 1.0], 0)),
                                 [tf.constant(0), x],
                                 shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])])
        total = tf.reduce_sum(grown) + tf.cast(tf.shape(grown)[0], tf.float32)
    assert grown.shape.as_list() == [None]
    a = np.array([1.0, 2.0], np.float32)
    for steps in (0, 1, 3, 1):
        expected = a
        for _ in range(steps):
            expected = np.concatenate([expected, expected + 1])
        got_grown, got_total = run_both(graph, [grown, total], {n: steps, x: a})
        np.testing.assert_array_equal(got_grown, expected)
        assert got_total == expected.sum() + expected.size
    fn = tf.compile(total, feeds=[n, x])
    with pytest.raises(tf.UnsupportedError, match="memory.*in stages"):
        fn.memory()


def test_a_loop_variable_may_not_change_shape_without_an_invariant():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        with pytest.raises(tf.ShapeError, match=r"input tensor 'x:0' enters the loop with "
                           r"shape \(2,\), but has shape \(4,\) after one iteration.*"
                           r"shape_invariants") as info:
            line = caller_line(); tf.while_loop(lambda v: v[0] < 1, lambda v: tf.concat([v, v], 0), [x])  # noqa: E501, E702
    assert_points_here(info, "While 'while'", line=line)


def test_loop_variables_in_nested_structures():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        state = {"step": tf.constant(0), "pair": (x, [tf.zeros_like(x)])}

        def body(s):
            v, (acc,) = s["pair"]
            return {"step": s["step"] + 1, "pair": (v * 0.5, [acc + v])}
        out = tf.while_loop(lambda s: s["step"] < 4, body, [state],
                            return_same_structure=True)
    (final,) = out
    a = np.array([8.0, 16.0, -4.0], np.float32)
    got = run_both(graph, [final["step"], final["pair"][0], final["pair"][1][0]], {x: a})
    assert got[0] == 4
    np.testing.assert_allclose(got[1], a / 16)
    np.testing.assert_allclose(got[2], a * (1 + .5 + .25 + .125))


def collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def test_a_cond_nested_in_a_while_loop():
    """Collatz: the body chooses with a cond; the cond reads the outer `three`, captured
    through the body."""
    graph = tf.Graph()
    with graph.as_default():
        start = tf.placeholder(tf.int64, [], name="start")
        three = tf.placeholder(tf.int64, [], name="three")

        def body(n, steps):
            n = tf.cond(tf.equal(n % 2, 0), lambda: n // 2, lambda: three * n + 1)
            return n, steps + 1
        _, steps = tf.while_loop(lambda n, steps: n > 1, body, [start, 0])
    for value in (1, 6, 27, 97):
        assert run_both(graph, steps, {start: value, three: 3}) == collatz_steps(value)


def test_a_while_loop_nested_in_a_while_loop():
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")

        def outer(i, total):
            _, inner = tf.while_loop(lambda j, s: j < i, lambda j, s: (j + 1, s + j * i),
                                     [0, 0])
            return i + 1, total + inner
        _, total = tf.while_loop(lambda i, t: i < n, outer, [0, 0])
    assert run_both(graph, total, {n: 6}) == sum(j * i for i in range(6) for j in range(i))


def test_a_loop_indexes_its_input_with_the_counter():
    """TF1 loops read `xs[i]` with the counter (a gather; a negative i counts from the
    end), here a running maximum over the time axis and the last step via xs[..., -1]."""
    graph = tf.Graph()
    with graph.as_default():
        xs = tf.placeholder(tf.float32, [None, 3], name="xs")
        steps = tf.shape(xs)[0]

        def body(i, best):
            return i + 1, tf.maximum(best, xs[i])
        _, best = tf.while_loop(lambda i, b: i < steps, body, [1, xs[0]])
        last = xs[tf.constant(-1) * tf.shape(xs)[1] // 3]
        column = xs[..., tf.shape(xs)[1] - 1]
    a = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    got = run_both(graph, [best, last, column], {xs: a})
    np.testing.assert_array_equal(got[0], a.max(0))
    np.testing.assert_array_equal(got[1], a[-1])
    np.testing.assert_array_equal(got[2], a[:, -1])


def _recurrent_model():
    graph = tf.Graph()
    with graph.as_default():
        xs = tf.placeholder(tf.float32, [5, None], name="xs")
        t = tf.placeholder(tf.float32, [None], name="t")
        training = tf.placeholder(tf.bool, [], name="training")
        w, u = tf.Variable(0.5, name="w"), tf.Variable(0.1, name="u")
        _, h = tf.while_loop(lambda i, h: i < 5,
                             lambda i, h: (i + 1, tf.tanh(h * w + xs[i] * u)),
                             [0, tf.zeros_like(t)])
        out = tf.cond(training, lambda: h * 0.9, lambda: h)
        loss = tf.reduce_mean(tf.square(out - t))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tf.global_variables_initializer()
    return graph, (xs, t, training), loss, train, init


def test_training_through_a_loop_and_a_cond_with_an_optimizer():
    """A small recurrent model: the loop reads the variables (captured), a cond switches
    on training; gradient descent lowers the loss alike in both engines."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(5, 8)).astype(np.float32)
    target = np.tanh(data.sum(0) * 0.3).astype(np.float32)
    losses = {}
    for engine in ENGINES:
        graph, inputs, loss, train, init = _recurrent_model()
        with tf.Session(graph=graph, engine=engine) as sess:
            sess.run(init)
            feed = dict(zip(inputs, (data, target, True)))
            losses[engine] = [sess.run([loss, train], feed)[0] for _ in range(15)]
    assert losses["compiled"][-1] < losses["compiled"][0] / 10
    np.testing.assert_allclose(losses["compiled"], losses["reference"], rtol=1e-4)


# -- gradients ------------------------------------------------------------------------------

def _finite_difference(graph, loss, x, feeds, eps=1e-6):
    base = feeds[x]
    grad = np.zeros_like(base)
    for k in range(base.size):
        plus, minus = base.copy(), base.copy()
        plus.flat[k] += eps
        minus.flat[k] -= eps
        f = [run(graph, loss, {**feeds, x: v}, "reference") for v in (plus, minus)]
        grad.flat[k] = (f[0] - f[1]) / (2 * eps)
    return grad


@pytest.mark.parametrize("taken", [True, False])
def test_gradients_of_a_cond_are_those_of_the_branch_taken(taken):
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        x = tf.placeholder(tf.float64, [None, 3], name="x")
        w = tf.placeholder(tf.float64, [3], name="w")
        h = tf.cond(p, lambda: tf.tanh(x * w), lambda: tf.sin(x) * 2.0)  # w: one branch
        loss = tf.reduce_sum(h * h) + tf.reduce_sum(w)
        gx, gw = tf.gradients(loss, [x, w])
    rng = np.random.default_rng(3)
    feeds = {p: taken, x: rng.normal(size=(2, 3)), w: rng.normal(size=3)}
    got = run_both(graph, [gx, gw], feeds, rtol=1e-10)
    for value, t in zip(got, (x, w)):
        np.testing.assert_allclose(value, _finite_difference(graph, loss, t, feeds),
                                   rtol=1e-6, atol=1e-8)
    if not taken:
        np.testing.assert_allclose(got[1], np.ones(3))  # d sum(w) only


def test_second_order_gradient_through_a_cond():
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        x = tf.placeholder(tf.float64, [], name="x")
        y = tf.cond(p, lambda: x * x * x, lambda: tf.exp(x))
        (dy,) = tf.gradients(y, [x])
        (d2y,) = tf.gradients(dy, [x])
    assert np.isclose(run_both(graph, d2y, {p: True, x: 2.0}), 12.0)
    assert np.isclose(run_both(graph, d2y, {p: False, x: 2.0}), np.exp(2.0))


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_gradients_through_a_while_loop_match_finite_differences(steps):
    """TF1's loop gradient: the iterations kept, walked backward; through the loop
    variables, a captured weight and a cond in the body."""
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float64, [3], name="x")
        w = tf.placeholder(tf.float64, [], name="w")

        def body(i, v, total):
            v = tf.cond(tf.reduce_sum(v) > 0, lambda: tf.sin(v) * w + v * 0.5,
                        lambda: v * v * w)
            return i + 1, v, total + tf.reduce_sum(v * v)
        _, y, total = tf.while_loop(lambda i, v, t: i < n, body,
                                    [0, x, tf.constant(0.0, tf.float64)])
        loss = tf.reduce_sum(y * y) + total
        gx, gw = tf.gradients(loss, [x, w])
    feeds = {n: steps, x: np.array([0.3, -1.2, 2.0]), w: np.array(1.3)}
    got = run_both(graph, [gx, gw], feeds, rtol=1e-10)
    for value, t in zip(got, (x, w)):
        np.testing.assert_allclose(value, _finite_difference(graph, loss, t, feeds),
                                   rtol=1e-6, atol=1e-8)
    if steps == 0:
        np.testing.assert_allclose(got[0], 2 * feeds[x])
        assert got[1] == 0


def test_second_order_gradient_through_a_while_loop():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [], name="x")
        y = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * x), [0, x])[1]  # x**4
        (dy,) = tf.gradients(y, [x])
        (d2y,) = tf.gradients(dy, [x])
    assert np.allclose(run_both(graph, [dy, d2y], {x: 1.5}), [4 * 1.5**3, 12 * 1.5**2])


def test_back_prop_false_stops_gradients_at_the_loop():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [2], name="x")
        y = tf.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, v * v), [0, x],
                          back_prop=False)[1]
        grads = tf.gradients(tf.reduce_sum(y), [x])
        (g,) = tf.gradients(tf.reduce_sum(y) + tf.reduce_sum(x * 3.0), [x])
    assert grads == [None]
    np.testing.assert_array_equal(run_both(graph, g, {x: [1.0, 2.0]}), [3.0, 3.0])


def test_loop_gradients_need_loop_variables_of_fixed_shape():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        line = caller_line(); y = tf.while_loop(lambda v: tf.size(v) < 8, lambda v: tf.concat([v, v], 0), [x], shape_invariants=[tf.TensorShape([None])], name="grow")  # noqa: E501, E702
        with pytest.raises(tf.UnsupportedError,
                           match=rf"While 'grow'.*test_control_flow.py:{line}.*keep their "
                                 r"shapes; 'x:0' \(2,\) has the shape invariant \(\?,\)"):
            tf.gradients(tf.reduce_sum(y), [x])


def test_a_path_without_gradient_inside_a_loop_contributes_zero():
    """As in TF: a floor in the body gives no gradient (graphjit raises only where every
    path of the outer graph is blocked by an op it can name)."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [2], name="x")
        y = tf.while_loop(lambda v: tf.reduce_max(v) > 1, lambda v: tf.floor(v / 2), [x])
        (g,) = tf.gradients(tf.reduce_sum(y) + tf.reduce_sum(x), [x])
    np.testing.assert_array_equal(run_both(graph, g, {x: [9.0, 3.0]}), [1.0, 1.0])


# -- errors -------------------------------------------------------------------------------

def test_build_errors_name_the_op_and_the_users_line():
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        x = tf.placeholder(tf.float32, [3], name="x")
        cases = [
            (lambda: tf.cond(True, lambda: x, lambda: x), tf.InvalidArgumentError,
             "Python bool"),
            (lambda: tf.cond(p, x, lambda: x), tf.InvalidArgumentError, "true_fn must be "
             "callable"),
            (lambda: tf.cond(x > 0, lambda: x, lambda: x), tf.ShapeError, "bool scalar"),
            (lambda: tf.cond(p, lambda: x, lambda: (x, x)), tf.GraphError,
             "same structure"),
            (lambda: tf.cond(p, lambda: x, lambda: tf.cast(x, tf.int32)), tf.DTypeError,
             "output 0 is float32 in true_fn and int32 in false_fn"),
            (lambda: tf.cond(p, lambda: x, lambda: tf.concat([x, x], 0)), tf.ShapeError,
             r"output 0 has shape \(3,\) in true_fn and \(6,\) in false_fn"),
            (lambda: tf.while_loop(lambda v: v, lambda v: v, [x]), tf.ShapeError,
             "cond must return a bool scalar"),
            (lambda: tf.while_loop(lambda v: True, lambda v: tf.cast(v, tf.int32), [x]),
             tf.DTypeError, "enters the loop as float32"),
            (lambda: tf.while_loop(lambda v: True, lambda v: v, [x],
                                   shape_invariants=[tf.TensorShape([2])]),
             tf.ShapeError, "not compatible with the initial shape"),
            (lambda: tf.while_loop(lambda v: True, lambda v: [v, v], [x]), tf.GraphError,
             "must return the structure of loop_vars"),
        ]
        for build, error, message in cases:
            with pytest.raises(error, match=message) as info:
                build()
            assert __file__ in str(info.value), message


def test_state_inside_control_flow_is_refused():
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        v = tf.Variable(1.0, name="v")
        with pytest.raises(tf.UnsupportedError, match="RandomUniform.*not supported"):
            tf.while_loop(lambda x: x < 3.0, lambda x: x + tf.random_uniform([]), [0.0])
        with pytest.raises(tf.UnsupportedError, match="Assign.*enclosing graph"):
            tf.cond(p, lambda: tf.assign(v, 2.0), lambda: tf.constant(0.0))
        with pytest.raises(tf.UnsupportedError, match="VariableV2.*not supported"):
            tf.cond(p, lambda: tf.Variable(1.0) * 2.0, lambda: tf.constant(0.0))


def _dropout_in_a_branch():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(3)
        x = tf.placeholder(tf.float32, [4, 500])
        training = tf.placeholder(tf.bool)
        h = tf.cond(training, lambda: tf.nn.dropout(x, 0.5), lambda: x)
        noise = tf.cond(training, lambda: tf.random_normal([3]), lambda: tf.zeros([3]))
        grad, = tf.gradients(tf.reduce_sum(h * h), x)
    return graph, x, training, h, noise, grad


def test_dropout_and_random_draws_in_a_cond_branch():
    """`tf.cond(is_training, lambda: tf.nn.dropout(h, 0.5), lambda: h)`, as TF1 code
    writes it: a draw in a branch is made in the enclosing graph each run and read by
    the branch; both engines draw the same values."""
    results = {}
    for engine in ENGINES:
        graph, x, training, h, noise, grad = _dropout_in_a_branch()
        value = np.ones((4, 500), np.float32)
        with tf.Session(graph=graph, engine=engine) as sess:
            train, train_grad, drawn = sess.run([h, grad, noise], {x: value, training: True})
            test, test_grad, zeros = sess.run([h, grad, noise], {x: value, training: False})
        assert set(np.unique(train)) == {0.0, 2.0} and abs((train == 0).mean() - 0.5) < 0.05
        np.testing.assert_array_equal(train_grad, 2 * train * 2)  # d(h*h)/dx = 2h * 2
        np.testing.assert_array_equal(test, value)
        np.testing.assert_array_equal(test_grad, 2 * value)
        assert np.all(zeros == 0) and np.all(drawn != 0)
        results[engine] = (train, drawn)
    for a, b in zip(results["reference"], results["compiled"]):
        np.testing.assert_array_equal(a, b)


def test_a_run_time_shape_mismatch_of_the_branches_fails_in_both_engines():
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        x = tf.placeholder(tf.float32, [None], name="x")
        y = tf.placeholder(tf.float32, [None], name="y")
        z = tf.cond(p, lambda: x, lambda: y, name="pick")
    for engine in ENGINES:
        with pytest.raises(tf.ShapeError, match=r"If 'pick'.*output 0 has shape \(2,\) in "
                                                r"true_fn and \(3,\) in false_fn"):
            run(graph, z, {p: True, x: [1, 2], y: [1, 2, 3]}, engine)


@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_a_loop_that_runs_zero_times_returns_its_input_not_a_reused_buffer(engine):
    """Fuzz seed 2030 graph 302: the While host step returned its input array itself;
    the plan then reused that input's buffer for a later kernel's result."""
    graph = tf.Graph()
    with graph.as_default():
        x1 = tf.placeholder(tf.float64, [], name="x1")
        x7 = tf.placeholder(tf.float64, [2, 3, 4, 2], name="x7")
        t5 = tf.while_loop(lambda k, v: k < 0, lambda k, v: (k + 1, v * 0.5 + 1.0),
                           [0, abs(x1)])[1]
        pooled = tf.nn.max_pool(x7, ksize=3, strides=1, padding="VALID")
        out = tf.add(tf.split(pooled, [1, 1], axis=-2)[1], t5)
    rng = np.random.default_rng(0)
    feeds = {x1: np.float64(-1.25), x7: rng.standard_normal((2, 3, 4, 2))}
    with tf.Session(graph=graph, engine=engine) as sess:
        got = sess.run(out, feeds)
    window = np.max(np.lib.stride_tricks.sliding_window_view(feeds[x7], (3, 3), (1, 2)),
                    axis=(-2, -1))
    np.testing.assert_allclose(got, window[:, :, 1:2, :] + 1.25)
