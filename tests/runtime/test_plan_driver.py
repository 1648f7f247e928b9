"""The whole-plan native driver (runtime.plan_driver): a runner whose plan is serial
kernels and views switches to one native call after NATIVE_AFTER_CALLS calls, and its
results stay those of the NumPy reference interpreter (several fetches, a fetched
intermediate, views, outputs aliasing an input or a constant, callers on threads);
a plan with a host step keeps calling each step, as does one whose driver fails."""

from __future__ import annotations

import threading

# Numba loaded first: kernels load on its dispatcher (runners only call settled kernels).
import numba  # noqa: F401
import numpy as np
import pytest

import graphjit as tf
import runtime.runner as runner_module
from graphjit.errors import FeedError
from runtime import plan_driver
from runtime.loop_driver import NotNative

AFTER = 3  # calls before a runner builds its driver, here


@pytest.fixture(autouse=True)
def _soon(monkeypatch):
    monkeypatch.setattr(runner_module, "NATIVE_AFTER_CALLS", AFTER)


def _graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8], name="x")
        c = tf.constant(np.linspace(1, 2, 8, dtype=np.float32).reshape(1, 8), name="c")
        s = tf.reduce_sum(x * c, axis=1, keepdims=True)  # a fetched intermediate
        y = tf.exp(x) / (s * s + 1.0)
        r = tf.reshape(y, [32])  # a view
        m = tf.reduce_max(r * 2.0)
        fetches = {"y": y, "r": r, "m": m, "s": s, "x": tf.identity(x), "c": c}
    return g, fetches, x


def _inputs(seed):
    return np.random.default_rng(seed).standard_normal((4, 8)).astype(np.float32)


def _executor(fn):
    (entry,) = fn._executors.values()
    return entry[0]


def _check(got, want):
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.fixture(scope="module")
def graph():
    return _graph()


@pytest.fixture(scope="module")
def reference(graph):
    g, fetches, x = graph
    with tf.Session(graph=g, engine="reference") as sess:
        yield lambda value: sess.run(fetches, {x: value})


def test_driver_runs_every_step_and_matches_the_interpreter(graph, reference):
    g, fetches, x = graph
    fn = tf.compile(g, fetches=fetches, feeds=[x])
    held = []
    for seed in range(AFTER + 3):
        value = _inputs(seed)
        got = fn(value)
        _check(got, reference(value))
        assert got["x"] is not value and not np.shares_memory(got["x"], value)
        held.append((got, value))
        if seed == 0:
            assert "calls_left" in fn._fast.source and "drv(" not in fn._fast.source
    executor = _executor(fn)
    kinds = {str(step.kind) for step in executor.plan.steps}
    assert kinds == {"kernel", "view"}
    assert "drv(" in fn._fast.source and "calls_left" not in fn._fast.source
    for got, value in held:  # results the caller held were never written again
        _check(got, reference(value))
    got = fn(_inputs(9))
    got["c"][...] = 0  # a fetched constant is the caller's copy
    _check(fn(_inputs(9)), reference(_inputs(9)))


def test_inputs_the_driver_refuses_take_the_general_path(graph, reference):
    g, fetches, x = graph
    fn = tf.compile(g, fetches=fetches, feeds=[x])
    for seed in range(AFTER + 1):
        fn(_inputs(seed))
    assert "drv(" in fn._fast.source
    value = _inputs(7)
    for fed in (np.asfortranarray(value), np.repeat(value, 2, axis=1)[:, ::2],
                (value * 100).astype(np.int32), value.astype(np.float64)):
        _check(fn(fed), reference(np.asarray(fed, np.float32)))
    with pytest.raises(FeedError, match="'x"):
        fn(np.zeros((4, 7), np.float32))
    _check(fn(value), reference(value))


def test_threads_share_a_driver(graph, reference):
    g, fetches, x = graph
    fn = tf.compile(g, fetches=fetches, feeds=[x])
    for seed in range(AFTER + 1):
        fn(_inputs(seed))
    assert "drv(" in fn._fast.source
    values = [_inputs(10 + k) for k in range(4)]
    wants = [reference(v) for v in values]
    errors = []

    def work(k):
        try:
            for _ in range(50):
                _check(fn(values[k]), wants[k])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_a_plan_with_a_host_step_keeps_its_steps():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 3], name="x")
        y = tf.exp(tf.linalg.inv(x + 3.0)) * 2.0 + tf.reduce_sum(x)
    fn = tf.compile(g, fetches=y, feeds=[x])
    value = np.eye(3, dtype=np.float32)
    with tf.Session(graph=g, engine="reference") as sess:
        want = sess.run(y, {x: value})
    for _ in range(AFTER + 2):
        np.testing.assert_allclose(fn(value), want, rtol=1e-5)
    assert "run_host" in fn._fast.source
    assert "calls_left" not in fn._fast.source and "drv(" not in fn._fast.source


def test_a_driver_that_cannot_be_built_leaves_the_steps(graph, reference, monkeypatch):
    def fail(plan):
        raise NotNative("no driver here")
    monkeypatch.setattr(plan_driver, "build_plan_driver", fail)
    g, fetches, x = graph
    fn = tf.compile(g, fetches=fetches, feeds=[x])
    for seed in range(AFTER + 2):
        _check(fn(_inputs(seed)), reference(_inputs(seed)))
    assert "calls_left" not in fn._fast.source and "drv(" not in fn._fast.source


def test_only_plans_of_kernels_and_views_want_a_driver(graph):
    g, fetches, x = graph
    fn = tf.compile(g, fetches=fetches, feeds=[x])
    fn(_inputs(0))
    assert plan_driver.wants_driver(_executor(fn).plan)
    one = tf.Graph()
    with one.as_default():  # one kernel: its driver checks the inputs natively
        a = tf.placeholder(tf.float32, [4], name="a")
        tf.exp(a * 2.0, name="e")
        tf.exp(tf.linalg.inv(tf.reshape(a, [2, 2])), name="h")  # a host step
    single = tf.compile(one, fetches="e:0", feeds=["a:0"])
    single(np.ones(4, np.float32))
    assert plan_driver.wants_driver(_executor(single).plan)
    host = tf.compile(one, fetches="h:0", feeds=["a:0"])
    host(np.array([2, 0, 0, 2], np.float32))
    assert not plan_driver.wants_driver(_executor(host).plan)


@pytest.mark.parametrize("calls", [1, AFTER + 1])
def test_a_dropped_function_is_freed_without_a_collection(graph, calls):
    """Counting or upgraded, a runner makes no reference cycle (its upgrade holds it
    weakly): dropping the function frees its plan and runner at once."""
    import gc
    import weakref
    g, fetches, x = graph
    fn = tf.compile(g, fetches=fetches, feeds=[x])
    for seed in range(calls):
        fn(_inputs(seed))
    assert ("drv(" in fn._fast.source) == (calls > AFTER)
    refs = [weakref.ref(_executor(fn)), weakref.ref(fn._fast)]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del fn
        assert [r() for r in refs] == [None, None]
    finally:
        if was_enabled:
            gc.enable()
