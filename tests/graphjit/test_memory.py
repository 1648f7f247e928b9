"""Memory stays bounded: a function keeps at most `max_plans` plans (least recently used
go), its plans share one copy of each constant, dropping it frees its plans without the
garbage collector, and kernels no function uses are released by the backend."""

from __future__ import annotations

import gc
import threading
import weakref
from contextlib import contextmanager

import numpy as np
import pytest

import graphjit as tf
from codegen import numba_backend
from graphjit.api import DEFAULT_MAX_PLANS
from graphjit.interpreter import evaluate


def _dense(scale: float = 1.0):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        w = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        y = tf.reduce_sum(tf.tanh(tf.matmul(x, w) * scale + 0.5), axis=1)
    return graph, x, y


def _batch(n: int) -> np.ndarray:
    return np.linspace(-1, 1, n * 4, dtype=np.float32).reshape(n, 4)


def _check(fn, x, y, n: int) -> None:
    expected = evaluate([y], {x: _batch(n)})[0]
    np.testing.assert_allclose(fn(_batch(n)), expected, rtol=1e-5, atol=1e-6)


@contextmanager
def _no_gc():
    """Frees must come from reference counts alone: a cycle would wait for the collector."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_plans_are_kept_least_recently_used_up_to_the_limit():
    graph, x, y = _dense()
    fn = tf.compile(graph, fetches=y, feeds=[x], max_plans=3)
    for n in range(1, 7):
        _check(fn, x, y, n)
    assert list(fn._executors) == [((4, 4),), ((5, 4),), ((6, 4),)]
    fn(_batch(4))  # used again: now the most recent
    fn(_batch(7))  # a new plan evicts the least recently used, 5
    assert list(fn._executors) == [((6, 4),), ((4, 4),), ((7, 4),)]
    _check(fn, x, y, 1)  # an evicted shape plans again and is right
    assert len(fn._executors) == 3 and ((1, 4),) in fn._executors
    assert fn.profile(_batch(6), repeat=1).calls == 1  # run_arrays/profile count as use
    assert list(fn._executors)[-1] == ((6, 4),)


def test_max_plans_default_environment_and_errors(monkeypatch):
    graph, x, y = _dense()
    monkeypatch.delenv("GRAPHJIT_MAX_PLANS", raising=False)
    assert tf.compile(graph, fetches=y).max_plans == DEFAULT_MAX_PLANS == 64
    monkeypatch.setenv("GRAPHJIT_MAX_PLANS", "2")
    fn = tf.compile(graph, fetches=y)
    assert fn.max_plans == 2
    for n in range(1, 5):
        fn(_batch(n))
    assert len(fn._executors) == 2
    assert tf.compile(graph, fetches=y, max_plans=5).max_plans == 5  # the argument wins
    for bad in (0, -1, 2.5, "many", True):
        with pytest.raises(tf.InvalidArgumentError, match="max_plans must be a positive"):
            tf.compile(graph, fetches=y, max_plans=bad)
    monkeypatch.setenv("GRAPHJIT_MAX_PLANS", "zero")
    with pytest.raises(tf.InvalidArgumentError, match="GRAPHJIT_MAX_PLANS must be"):
        tf.compile(graph, fetches=y)


def test_plans_share_one_copy_of_each_constant():
    graph, x, y = _dense()
    fn = tf.compile(graph, fetches=y, feeds=[x], passes="none")
    for n in (2, 3, 5):
        _check(fn, x, y, n)
    constants = [[spec.value for spec in entry[1].slots if spec.role == "const"]
                 for entry in fn._executors.values()]
    assert constants[0] and all(len(c) == len(constants[0]) for c in constants)
    for first, *others in zip(*constants):
        assert all(other is first for other in others)
    assert sum(c.nbytes for c in fn._constants.values()) == \
        sum(c.nbytes for c in constants[0])


def test_dropping_a_function_frees_its_plans_and_buffers():
    graph, x, y = _dense()
    fn = tf.compile(graph, fetches=y, feeds=[x])
    for n in (2, 3):
        fn(_batch(n))
    entry = fn._executors[((3, 4),)]
    refs = [weakref.ref(fn), weakref.ref(entry[0]), weakref.ref(entry[1]),
            weakref.ref(entry[0]._pool[0][entry[1].fetch_slots[0]])]
    refs += [weakref.ref(a) for a in fn._constants.values()]
    del entry
    with _no_gc():
        del fn
        assert [r() for r in refs] == [None] * len(refs)


def test_dropping_a_function_with_variables_frees_it():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        v = tf.Variable(np.float32(1.0), name="v")
        step = tf.assign_add(v, tf.reduce_sum(x))
        init = tf.global_variables_initializer()
    fn = tf.compile(graph, fetches=step, feeds=[x])
    tf.compile(init, state=fn.state)()
    assert fn(np.ones(3, np.float32)) == 4.0
    ref = weakref.ref(fn)
    with _no_gc():
        del fn
        assert ref() is None


def test_kernels_no_function_uses_are_released(monkeypatch):
    monkeypatch.setattr(numba_backend, "KEEP_RECENT", 0)
    graph, x, y = _dense(scale=1.2345)  # a literal no other test's kernel has
    fn = tf.compile(graph, fetches=y, feeds=[x])
    _check(fn, x, y, 3)
    steps = [s for s in fn.kernels if s.compiled is not None and s.kind == "kernel"]
    assert steps
    keys = [numba_backend.kernel_hash(s.kernel) for s in steps]
    assert all(k in numba_backend._live for k in keys)
    dispatchers = [weakref.ref(s.compiled.fn) for s in steps]
    del steps
    with _no_gc():
        del fn
        assert not any(k in numba_backend._live for k in keys)
        assert [d() for d in dispatchers] == [None] * len(dispatchers)
    fn = tf.compile(graph, fetches=y, feeds=[x])  # compiled (or loaded) again, and right
    _check(fn, x, y, 5)


def test_recently_used_kernels_outlive_their_function():
    graph, x, y = _dense(scale=0.875)
    fn = tf.compile(graph, fetches=y, feeds=[x])
    _check(fn, x, y, 3)
    del fn
    before = numba_backend.compile_count
    fn = tf.compile(graph, fetches=y, feeds=[x])
    _check(fn, x, y, 4)
    assert numba_backend.compile_count == before  # kept among the KEEP_RECENT


def test_threads_calling_many_shapes_through_a_small_plan_limit():
    # Plans are evicted while other threads still run them or move them to the end.
    graph, x, y = _dense()
    fn = tf.compile(graph, fetches=y, feeds=[x], max_plans=2)
    expected = {n: evaluate([y], {x: _batch(n)})[0] for n in range(1, 7)}
    errors = []

    def work(offset):
        try:
            for i in range(60):
                n = (i + offset) % 6 + 1
                np.testing.assert_allclose(fn(_batch(n)), expected[n], rtol=1e-5, atol=1e-6)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(fn._executors) <= 2


def test_a_session_keeps_a_bounded_number_of_compiled_fetch_sets(monkeypatch):
    """Fetching ever new tensors through one Session drops the least recently used."""
    from graphjit import session as session_module
    monkeypatch.setattr(session_module, "MAX_COMPILED_FETCH_SETS", 2)
    graph, x, y = _dense()
    with graph.as_default():
        fetches = [y, y + 1.0, y * 2.0]
    with tf.Session(graph=graph) as sess:
        for fetch in fetches + [fetches[0]]:
            want = evaluate([fetch], {x: _batch(3)})[0]
            np.testing.assert_allclose(sess.run(fetch, {x: _batch(3)}), want, rtol=1e-5)
        assert [key[0] for key in sess._compiled] == [(fetches[2],), (fetches[0],)]
    assert not sess._compiled  # closing frees them
