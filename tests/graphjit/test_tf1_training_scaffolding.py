"""TF1's training scaffolding, as scripts use it: learning-rate schedules against
NumPy's formulas in both engines, the global step, local variables and their
initializer, tables_initializer, Coordinator with threads, and queue runners."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphjit as tf

ENGINES = ["reference", "compiled"]
STEPS = [0, 1, 7, 10, 25, 99, 100, 150]



def _floor(p, staircase):
    return np.floor(p) if staircase else p


def _polynomial(step, lr, steps, end, power, cycle):
    if cycle:
        steps = steps * (1.0 if step == 0 else np.ceil(step / steps))
    else:
        step = min(step, steps)
    return (lr - end) * (1 - step / steps) ** power + end


def _linear_cosine(step, lr, steps, periods, alpha, beta):
    step = min(step, steps)
    linear = (steps - step) / steps
    cosine = 0.5 * (1 + np.cos(np.pi * 2 * periods * step / steps))
    return lr * ((alpha + linear) * cosine + beta)


# (builder of the schedule from a step tensor, NumPy formula of a step)
SCHEDULES = {
    "exponential": (lambda s: tf.train.exponential_decay(0.1, s, 20, 0.5),
                    lambda n: 0.1 * 0.5 ** (n / 20)),
    "exponential_staircase": (lambda s: tf.train.exponential_decay(0.1, s, 20, 0.5, True),
                              lambda n: 0.1 * 0.5 ** _floor(n / 20, True)),
    "natural_exp": (lambda s: tf.train.natural_exp_decay(0.2, s, 10, 0.3),
                    lambda n: 0.2 * np.exp(-0.3 * n / 10)),
    "natural_exp_staircase": (lambda s: tf.train.natural_exp_decay(0.2, s, 10, 0.3, True),
                              lambda n: 0.2 * np.exp(-0.3 * np.floor(n / 10))),
    "inverse_time": (lambda s: tf.train.inverse_time_decay(0.5, s, 10, 2.0),
                     lambda n: 0.5 / (1 + 2.0 * n / 10)),
    "inverse_time_staircase": (lambda s: tf.train.inverse_time_decay(0.5, s, 10, 2.0, True),
                               lambda n: 0.5 / (1 + 2.0 * np.floor(n / 10))),
    "polynomial": (lambda s: tf.train.polynomial_decay(0.1, s, 100, 0.01, power=2.0),
                   lambda n: _polynomial(n, 0.1, 100, 0.01, 2.0, False)),
    "polynomial_cycle": (lambda s: tf.train.polynomial_decay(0.1, s, 40, 0.01, cycle=True),
                         lambda n: _polynomial(n, 0.1, 40, 0.01, 1.0, True)),
    "cosine": (lambda s: tf.train.cosine_decay(0.3, s, 100, alpha=0.1),
               lambda n: 0.3 * (0.9 * 0.5 * (1 + np.cos(np.pi * min(n, 100) / 100)) + 0.1)),
    "linear_cosine": (lambda s: tf.train.linear_cosine_decay(0.3, s, 100, 2.0, 0.1, 0.01),
                      lambda n: _linear_cosine(n, 0.3, 100, 2.0, 0.1, 0.01)),
    "piecewise": (lambda s: tf.train.piecewise_constant(s, [10, 99], [1.0, 0.5, 0.1]),
                  lambda n: 1.0 if n <= 10 else 0.5 if n <= 99 else 0.1),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_schedule_matches_numpy_at_each_step(graph, engine, schedule):
    build, formula = SCHEDULES[schedule]
    step = tf.placeholder(tf.int64, [], name="step")
    lr = build(step)
    assert lr.shape == () and lr.dtype == tf.float32
    with tf.Session(engine=engine) as sess:
        got = [sess.run(lr, {step: n}) for n in STEPS]
    np.testing.assert_allclose(got, [formula(n) for n in STEPS], rtol=2e-6, atol=1e-8)


def test_schedules_have_tf_names(graph):
    step = tf.train.get_or_create_global_step()
    assert tf.train.exponential_decay(0.1, step, 10, 0.9).name == "ExponentialDecay:0"
    assert tf.train.polynomial_decay(0.1, step, 10).name == "PolynomialDecay:0"
    assert tf.train.piecewise_constant(step, [5], [1.0, 2.0]).name == "PiecewiseConstant:0"
    assert tf.train.cosine_decay(0.1, step, 10, name="lr").name == "lr:0"


def test_schedule_is_differentiable_in_the_learning_rate(graph):
    base = tf.Variable(0.1, name="base")
    step = tf.constant(30, tf.int64)
    lr = tf.train.exponential_decay(base, step, 20, 0.5)
    (grad,) = tf.gradients(lr, [base])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(grad), 0.5 ** 1.5, rtol=1e-6)


def test_schedule_errors_name_the_problem(graph):
    with pytest.raises(tf.InvalidArgumentError, match="global_step is required"):
        tf.train.exponential_decay(0.1, None, 10, 0.5)
    with pytest.raises(tf.InvalidArgumentError, match="one value more than boundaries"):
        tf.train.piecewise_constant(tf.constant(3), [1, 2], [1.0, 2.0])
    with pytest.raises(tf.InvalidArgumentError, match="share one dtype"):
        tf.train.piecewise_constant(tf.constant(3), [1], [1, 2.0])


@pytest.mark.parametrize("engine", ENGINES)
def test_minimize_counts_the_global_step_that_decays_the_rate(graph, engine):
    """A TF1 training loop: the schedule reads the step minimize increments."""
    w = tf.Variable(4.0, name="w")
    global_step = tf.train.get_or_create_global_step()
    assert tf.train.get_or_create_global_step() is global_step
    assert tf.train.get_global_step() is global_step
    lr = tf.train.exponential_decay(0.1, global_step, 2, 0.5, staircase=True)
    train = tf.train.GradientDescentOptimizer(lr).minimize(tf.square(w),
                                                           global_step=global_step)
    expected_w = 4.0
    with tf.Session(engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        for n in range(5):
            assert tf.train.global_step(sess, global_step) == n
            expected_w -= 0.1 * 0.5 ** (n // 2) * 2 * expected_w
            sess.run(train)
        got_step = tf.train.global_step(sess, global_step)
        np.testing.assert_allclose(sess.run(w), expected_w, rtol=1e-5)
    assert got_step == 5 and isinstance(got_step, int)


# -- local variables and initializers --------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_local_variables_have_their_own_initializer(graph, engine):
    w = tf.Variable(1.0, name="w")
    count = tf.Variable(5, name="count", trainable=False,
                        collections=[tf.GraphKeys.LOCAL_VARIABLES])
    shared = tf.get_variable("acc", [2], initializer=tf.ones_initializer(),
                             collections=[tf.GraphKeys.LOCAL_VARIABLES], trainable=False)
    assert tf.local_variables() == [count, shared]
    assert tf.global_variables() == [w]
    assert tf.initialize_local_variables is tf.local_variables_initializer
    bump = tf.assign_add(count, 1)
    with tf.Session(engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.FailedPreconditionError):
            sess.run(count)  # the global initializer leaves local variables alone
        sess.run([tf.local_variables_initializer(), tf.tables_initializer()])
        assert sess.run(bump) == 6
        np.testing.assert_array_equal(sess.run(shared), [1.0, 1.0])
        sess.run(tf.initialize_all_variables())
        assert sess.run(count) == 6  # still: initialize_all_variables is the global one


def test_local_variables_initializer_without_locals_is_a_no_op(graph):
    init = tf.local_variables_initializer()
    assert init.type == "NoOp"
    assert tf.tables_initializer().name == "init_all_tables"
    with tf.Session() as sess:
        assert sess.run(init) is None


# -- Coordinator and queue runners -----------------------------------------------------

def test_coordinator_stops_threads_and_joins():
    coord = tf.train.Coordinator()
    counts = [0, 0, 0]

    def work(i):
        while not coord.should_stop():
            counts[i] += 1
            if i == 0 and counts[0] >= 50:
                coord.request_stop()
            coord.wait_for_stop(0.001)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    coord.join(threads, stop_grace_period_secs=10)
    assert coord.should_stop() and coord.joined
    assert counts[0] >= 50 and not any(t.is_alive() for t in threads)


def test_coordinator_reraises_a_threads_exception_in_join():
    coord = tf.train.Coordinator()

    def work():
        with coord.stop_on_exception():
            raise KeyError("reader broke")

    def wait():
        coord.wait_for_stop()

    threads = [threading.Thread(target=work), threading.Thread(target=wait)]
    for t in threads:
        t.start()
    with pytest.raises(KeyError, match="reader broke"):
        coord.join(threads, stop_grace_period_secs=10)
    with pytest.raises(KeyError, match="reader broke"):
        coord.raise_requested_exception()


def test_coordinator_clean_stop_and_first_exception_only():
    coord = tf.train.Coordinator()
    coord.request_stop(tf.errors.OutOfRangeError("end of input"))
    assert coord.should_stop()
    coord.raise_requested_exception()  # OutOfRangeError is a clean stop: nothing raised
    coord.join([])

    coord = tf.train.Coordinator()
    coord.request_stop(ValueError("first"))
    coord.request_stop(ValueError("second"))
    with pytest.raises(ValueError, match="first"):
        coord.raise_requested_exception()


def test_coordinator_names_threads_still_running():
    coord = tf.train.Coordinator()
    release = threading.Event()
    straggler = threading.Thread(target=release.wait, name="slow-reader")
    straggler.start()
    coord.request_stop()
    try:
        with pytest.raises(RuntimeError, match="slow-reader"):
            coord.join([straggler], stop_grace_period_secs=0.05)
    finally:
        release.set()
        straggler.join()


def test_start_queue_runners_starts_nothing_and_queue_runners_are_refused(graph):
    coord = tf.train.Coordinator()
    with tf.Session() as sess:
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        assert threads == []
        coord.request_stop()
        coord.join(threads)
    with pytest.raises(tf.UnsupportedError, match="QueueRunner.*feed_dict"):
        tf.train.QueueRunner(None, [])
    with pytest.raises(tf.UnsupportedError, match="add_queue_runner"):
        tf.train.add_queue_runner(None)
    with pytest.raises(tf.UnsupportedNameError, match="tf.train.shuffle_batch"):
        tf.train.shuffle_batch  # noqa: B018
