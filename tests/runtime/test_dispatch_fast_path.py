"""The per-call fast path (runtime.runner): a call at the latest plan's shapes and dtypes
runs a generated runner; its results are those of the general path and of the NumPy
reference interpreter, and every other call (bad inputs included) takes the general
path with its checks and its errors naming the input."""

from __future__ import annotations

import threading

# Numba loaded first: kernels then load on its dispatcher, not as a warm start's native
# entries (codegen.native), which get no runner until they settle on Numba.
import numba  # noqa: F401
import numpy as np
import pytest

import graphjit as tf
from graphjit.errors import FeedError
from runtime import trace
from runtime.runner import MISS, native_entry, no_runner


def _fma_graph():
    g = tf.Graph()
    with g.as_default():
        a, b, c = (tf.placeholder(tf.float32, [8], name=s) for s in "abc")
        tf.add(a * b, c, name="fma")
    return g


def _mixed_graph():
    """A host step, an extern GEMM reading its result, a view, buffers, several fetches
    (one 0-d) in a nested structure."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 3], name="x")
        v = tf.placeholder(tf.float32, [None, 4], name="v")
        m = tf.matmul(tf.linalg.inv(x + 3.0), v)
        r = tf.reshape(tf.tanh(m), [4, -1])
        s = tf.reduce_sum(r, axis=0)
        y = r * s + 1.0
    return g, {"y": y, "n": [s, tf.reduce_max(v)]}, [x, v]


@pytest.fixture(scope="module")
def fma():
    fn = tf.compile(_fma_graph())
    fn(*(np.ones(8, np.float32),) * 3)  # compiles; the runner is set
    return fn


@pytest.fixture(scope="module")
def mixed():
    g, fetches, feeds = _mixed_graph()
    return g, fetches, feeds, tf.compile(g, fetches=fetches, feeds=feeds)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(8, dtype=np.float32) for _ in range(3))


def test_fast_path_is_taken_and_matches_numpy(fma):
    a, b, c = _inputs()
    assert fma._fast is not no_runner
    assert fma._fast((a, b, c)) is not MISS
    first = fma(a, b, c)
    np.testing.assert_array_equal(first, a * b + c)
    kept = first.copy()
    second = fma(c, b, a)  # the caller holds `first`: it must not be reused
    assert second is not first
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(second, c * b + a)


def test_dropped_output_may_be_reused_held_one_never(fma):
    a, b, c = _inputs(1)
    held = [fma(a, b, c) for _ in range(5)]
    assert len({id(h) for h in held}) == 5
    for h in held:
        np.testing.assert_array_equal(h, a * b + c)


def test_same_results_as_general_path_and_keywords(fma):
    a, b, c = _inputs(2)
    fast = fma(a, b, c)
    by_name = fma(a=a, b=b, c=c)
    by_dict = fma({"a:0": a, "b:0": b, "c:0": c})
    out = np.empty(8, np.float32)
    into = fma(a, b, c, out=out)
    assert into is out
    for value in (by_name, by_dict, out):
        np.testing.assert_array_equal(value, fast)


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(FeedError) as info:
        fn(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("bad", ["wrong_shape", "string", "too_many", "too_few", "rank",
                                 "int_to_float_overflow_free"])
def test_bad_inputs_raise_the_general_paths_errors(fma, bad):
    a, b, c = _inputs(3)
    fresh = tf.compile(_fma_graph())  # no runner yet: the general path's messages
    assert fresh._fast is no_runner
    args = {"wrong_shape": (np.ones(9, np.float32), b, c),
            "string": ("text", b, c),
            "too_many": (a, b, c, a),
            "too_few": (a, b),
            "rank": (np.ones((2, 4), np.float32), b, c),
            "int_to_float_overflow_free": None}[bad]
    if args is None:  # a safe conversion is no error: int64 into float32
        np.testing.assert_array_equal(fma(np.arange(8), b, c),
                                      np.arange(8, dtype=np.float32) * b + c)
        return
    message = _error(fma, *args)
    assert message == _error(fresh, *args)
    if bad in ("wrong_shape", "string", "rank"):
        assert "'a:0'" in message


def test_conversions_take_the_general_path_with_same_results(fma):
    a, b, c = _inputs(4)
    expected = a * b + c
    wide = np.zeros(16, np.float32)
    wide[::2] = a
    cases = [(a.astype(np.float64), b, c), (a.tolist(), b, c), (wide[::2], b, c),
             (np.asfortranarray(a), b, c)]
    for args in cases:
        assert fma._fast(args) is MISS or args[0] is a
        np.testing.assert_allclose(fma(*args), expected, rtol=1e-6)
    np.testing.assert_array_equal(fma(a, b, c), expected)  # and back on the fast path


def test_reference_interpreter_agrees_on_mixed_plan(mixed):
    g, fetches, feeds, fn = mixed
    rng = np.random.default_rng(5)
    with tf.Session(graph=g, engine="reference") as sess:
        for rows in (3, 3, 3):
            x = rng.standard_normal((3, 3), dtype=np.float32)
            v = rng.standard_normal((rows, 4), dtype=np.float32)
            got = fn(x, v)
            want = sess.run(fetches, {feeds[0]: x, feeds[1]: v})
            np.testing.assert_allclose(got["y"], want["y"], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(got["n"][0], want["n"][0], rtol=1e-4, atol=1e-5)
            assert isinstance(got["n"][1], np.float32) and got["n"][1] == want["n"][1]
    assert "run_host" in fn._fast.source and "pool.pop()" in fn._fast.source


def test_shape_changes_alternate_between_plans(mixed):
    _, _, _, fn = mixed
    rng = np.random.default_rng(6)
    x = np.eye(3, dtype=np.float32)
    small = rng.standard_normal((3, 4), dtype=np.float32)
    large = rng.standard_normal((3, 4), dtype=np.float32)
    first = fn(x, small)
    again = fn(x, small)
    np.testing.assert_array_equal(first["y"], again["y"])
    np.testing.assert_array_equal(fn(x, large)["y"], fn(x, large.copy())["y"])


def test_trace_recording_takes_the_traced_path(fma):
    a, b, c = _inputs(7)
    with trace.Recorder() as recorder:
        assert fma._fast((a, b, c)) is MISS
        np.testing.assert_array_equal(fma(a, b, c), a * b + c)
    assert any(span.name == "plan run" for span in recorder.spans)


def test_threads_share_a_runner(fma):
    results, errors = {}, []

    def work(seed):
        try:
            a, b, c = _inputs(seed)
            for _ in range(200):
                got = fma(a, b, c)
                if not np.array_equal(got, a * b + c):
                    errors.append(seed)
            results[seed] = got
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len({id(r) for r in results.values()}) == 4


def test_stateful_function_has_no_runner():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        w = tf.Variable(np.ones(2, np.float32), name="w")
        y = x * w
        init = tf.global_variables_initializer()
    fn = tf.compile(g, fetches=y, feeds=[x])
    tf.compile(init, state=fn.state)()
    np.testing.assert_array_equal(fn(np.full(2, 3, np.float32)), [3, 3])
    assert fn._fast is no_runner


def test_native_entry_only_for_matching_single_signature(fma):
    kernel = fma._last[0]._program[0][1]
    specs = [((8,), np.dtype(np.float32))] * 4
    (compiled,) = kernel.overloads.values()
    assert native_entry(kernel, specs) is compiled.entry_point
    assert native_entry(kernel, specs) is not kernel  # the compiled entry point
    assert native_entry(kernel, [((8,), np.dtype(np.float64))] * 4) is kernel
    assert native_entry(kernel, [((8, 1), np.dtype(np.float32))] * 4) is kernel
    assert native_entry(len, specs) is len


def test_runner_of_a_plan_without_steps_inputs():
    g = tf.Graph()
    with g.as_default():
        tf.constant(np.arange(3, dtype=np.float32), name="k") * 2.0
    fn = tf.compile(g)
    np.testing.assert_array_equal(fn(), [0, 2, 4])
    np.testing.assert_array_equal(fn(), [0, 2, 4])
    assert fn._fast.source.startswith("def run(args):")


def test_runner_follows_the_latest_plan():
    """A call at new shapes, or an inspection planning others, moves the latest plan:
    the runner follows it (fn.kernels and the fast path speak of the same plan)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        tf.tanh(x * 2.0, name="y")
    fn = tf.compile(g)
    short, long = np.linspace(-1, 1, 3, dtype=np.float32), np.ones(5, np.float32)
    np.testing.assert_allclose(fn(short), np.tanh(short * 2), rtol=1e-6)
    assert fn._fast((short,)) is not MISS and fn._fast((long,)) is MISS
    np.testing.assert_allclose(fn(long), np.tanh(long * 2), rtol=1e-6)
    assert fn._fast((long,)) is not MISS and fn._fast((short,)) is MISS
    fn.profile(short, repeat=1)
    assert fn._fast is no_runner
    np.testing.assert_allclose(fn(short), np.tanh(short * 2), rtol=1e-6)
    assert fn._fast((short,)) is not MISS


def test_fortran_ordered_feeds_are_copied_in_c_order():
    """A Fortran-ordered 2-D feed took the general path and was copied as it was, and no
    kernel signature (C-contiguous arrays) matched it: a TypeError from Numba."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = x * 2.0
    value = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    np.testing.assert_array_equal(tf.compile(g)(value), value * 2)
    with tf.Session(graph=g) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: value}), value * 2)


def test_a_dropped_function_is_freed_without_a_collection(mixed):
    """A runner refers to no CompiledFunction: dropping the function frees its plans at
    once (no reference cycle through the runner waiting for the garbage collector)."""
    import gc
    import weakref
    g, fetches, feeds, _ = mixed
    fn = tf.compile(g, fetches=fetches, feeds=feeds)
    fn(np.eye(3, dtype=np.float32), np.ones((3, 4), np.float32))
    assert fn._fast is not no_runner
    refs = [weakref.ref(fn._last[0]), weakref.ref(fn._last[1]), weakref.ref(fn._fast)]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del fn
        assert [r() for r in refs] == [None] * 3
    finally:
        if was_enabled:
            gc.enable()


def test_unused_feed_and_fetched_input():
    """A feed no step reads still has its checked argument; a fetched input is copied."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        u = tf.placeholder(tf.int32, [2], name="u")
        z = tf.placeholder(tf.float32, [3], name="z")
        y = x * 2.0 + z
    fn = tf.compile(g, fetches=[y, x], feeds=[x, u, z])
    a, ints = np.arange(3, dtype=np.float32), np.ones(2, np.int32)
    for _ in range(2):
        got_y, got_x = fn(a, ints, a + 1)
        np.testing.assert_array_equal(got_y, a * 2 + a + 1)
        np.testing.assert_array_equal(got_x, a)
        assert got_x is not a
    assert fn._fast((a, ints, a)) is not MISS
    assert fn._fast((a, ints.astype(np.int64), a)) is MISS
    assert "'u:0'" in _error(fn, a, np.ones(3, np.int32), a)
