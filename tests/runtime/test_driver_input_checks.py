"""A runner's native entry checks the inputs natively: the lone kernel's fast entry
(codegen.fast_entry) or, where there is none, the plan's driver (runtime.plan_driver:
shapes and strides; the runner checks type, dtype and rank). Either runs where the
inputs are the plan's, C-contiguous as NumPy's flag says, and refuses, running nothing,
where not; the call then takes the general path, with its conversions and its errors
naming the input. Results are the NumPy reference interpreter's, and an output the
caller holds is never written again."""

from __future__ import annotations

# Numba loaded first: kernels load on its dispatcher (runners only call settled kernels).
import numba  # noqa: F401
import numpy as np
import pytest

import graphjit as tf
import runtime.runner as runner_module
from graphjit.errors import FeedError
from runtime.plan import SlotSpec
from runtime.plan_driver import input_checks

AFTER = 2  # calls before a runner builds its driver, here


@pytest.fixture(autouse=True)
def _soon(monkeypatch):
    monkeypatch.setattr(runner_module, "NATIVE_AFTER_CALLS", AFTER)


@pytest.fixture(scope="module")
def graph():
    """One kernel: a batch of rows times a row, plus one."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 8], name="x")
        w = tf.placeholder(tf.float32, [8], name="w")
        y = tf.add(x * w, 1.0, name="y")
    return g, x, w, y


@pytest.fixture(scope="module")
def reference(graph):
    g, x, w, y = graph
    with tf.Session(graph=g, engine="reference") as sess:
        yield lambda xv, wv: sess.run(y, {x: xv, w: wv})


def _values(seed: int, rows: int = 4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, 8), dtype=np.float32), \
        rng.standard_normal(8, dtype=np.float32)


def _driven(graph, rows: int = 4):
    """A compiled function whose latest plan (at `rows`) runs its native entry."""
    g, x, w, y = graph
    fn = tf.compile(g, fetches=y, feeds=[x, w])
    for seed in range(AFTER + 1):
        fn(*_values(seed, rows))
    assert "calls_left" not in fn._fast.source and ".flags" not in fn._fast.source
    return fn


def _entry(fn):
    """What the runner calls with (x, w, the output): the fast entry or the driver."""
    names = fn._fast.__globals__
    return names["drv"] if "drv" in names else names["f0"]


def test_a_one_kernel_plan_runs_its_driver(graph, reference):
    fn = _driven(graph)
    held = []
    for seed in range(5):
        xv, wv = _values(seed)
        got = fn(xv, wv)
        np.testing.assert_allclose(got, reference(xv, wv), rtol=1e-6)
        assert all(got is not h and not np.shares_memory(got, h) for h, _ in held)
        held.append((got, (xv, wv)))
    for got, (xv, wv) in held:  # what the caller held was never written again
        np.testing.assert_allclose(got, reference(xv, wv), rtol=1e-6)


def test_the_entry_refuses_other_shapes_and_strides_running_nothing(graph):
    fn = _driven(graph)
    drv = _entry(fn)  # (x, w, the output)
    xv, wv = _values(0)
    out = np.full((4, 8), 7.0, np.float32)
    assert drv(xv, wv, out) and not np.all(out == 7.0)
    wide = np.zeros((4, 16), np.float32)
    for bad in (wide[:, ::2], np.asfortranarray(xv), xv[:3], wide[:, :8]):
        out[...] = 7.0
        assert not drv(bad, wv, out) and np.all(out == 7.0)
    out[...] = 7.0
    assert not drv(xv, np.zeros(16, np.float32)[::2], out) and np.all(out == 7.0)


def test_refused_inputs_take_the_general_path(graph, reference):
    fn = _driven(graph)
    xv, wv = _values(1)
    wide = np.repeat(xv, 2, axis=1)  # (4, 16): every other column is xv
    strided_w = np.repeat(wv, 2)[::2]
    for args in [(wide[:, ::2], wv), (np.asfortranarray(xv), wv), (xv, strided_w),
                 (xv[:3], wv), (xv.astype(np.float64), wv), (xv.tolist(), wv),
                 ((xv * 100).astype(np.int32), wv)]:  # (int32: float32's size, not its bits)
        want = reference(np.asarray(args[0], np.float32), np.asarray(args[1], np.float32))
        np.testing.assert_allclose(fn(*args), want, rtol=1e-6)
    np.testing.assert_allclose(fn(xv, wv), reference(xv, wv), rtol=1e-6)


def test_contiguous_as_numpy_says_size_one_and_empty_dimensions(graph, reference):
    rows = np.random.default_rng(2).standard_normal((4, 8), dtype=np.float32)
    wv = _values(2)[1]
    one = _driven(graph, rows=1)
    row = rows[::2][1:2]  # (1, 8), strides (64, 4): C-contiguous by NumPy's flag
    assert row.flags.c_contiguous and row.strides[0] == 2 * 8 * 4
    drv = _entry(one)
    out = np.empty((1, 8), np.float32)
    assert drv(row, wv, out)
    np.testing.assert_allclose(out, reference(row, wv), rtol=1e-6)
    np.testing.assert_allclose(one(row, wv), reference(row, wv), rtol=1e-6)
    got = one(np.zeros((8, 0), np.float32).T, wv)  # (0, 8): a plan of no kernel
    assert got.shape == (0, 8)


def test_bad_inputs_still_raise_naming_the_input(graph):
    fn = _driven(graph)
    xv, wv = _values(3)
    with pytest.raises(FeedError, match="'x"):
        fn(np.zeros((4, 7), np.float32), wv)
    with pytest.raises(FeedError, match="'w"):
        fn(xv, np.zeros((2, 8), np.float32))
    with pytest.raises(FeedError, match="'x"):
        fn(xv.astype(np.complex64), wv)
    with pytest.raises(FeedError, match="'w"):
        fn(xv, np.zeros(9, np.float32))


def test_an_array_subclass_takes_the_general_path(graph, reference):
    class Tagged(np.ndarray):
        pass

    fn = _driven(graph)
    xv, wv = _values(4)
    got = fn(xv.view(Tagged), wv)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, reference(xv, wv), rtol=1e-6)


def test_input_checks_follow_numpys_contiguity():
    spec = SlotSpec(shape=(2, 1, 3), dtype=np.dtype(np.float32), role="input")
    assert input_checks("a", spec) == [
        "a.shape[0] != 2", "a.shape[1] != 1", "a.shape[2] != 3",
        "a.strides[2] != 4", "a.strides[0] != 12"]
    empty = SlotSpec(shape=(0, 3), dtype=np.dtype(np.float64), role="input")
    assert input_checks("b", empty) == ["b.shape[0] != 0", "b.shape[1] != 3"]
    assert input_checks("c", SlotSpec(shape=(), dtype=np.dtype(np.int32), role="input")) == []


def test_with_a_fast_entry_the_runner_checks_nothing_itself(graph):
    fn = _driven(graph)
    assert "dtype is not" not in fn._fast.source and ".ndim" not in fn._fast.source
    assert "if not f0(" in fn._fast.source and "drv(" not in fn._fast.source  # (no driver)


def test_without_a_fast_entry_the_driver_checks_shapes_and_the_runner_the_rest(
        graph, reference, monkeypatch):
    import codegen.fast_entry as fast_entry

    def unavailable(*args):
        raise fast_entry.NotAvailable("not here")
    monkeypatch.setattr(fast_entry, "build_fast_entry", unavailable)
    fn = _driven(graph)
    assert "x0.ndim != 2" in fn._fast.source and "x1.dtype is not d1" in fn._fast.source
    assert "if not drv(" in fn._fast.source
    drv = _entry(fn)
    xv, wv = _values(5)
    out = np.full((4, 8), 7.0, np.float32)
    for bad in (np.asfortranarray(xv), xv[:3], np.repeat(xv, 2, axis=1)[:, ::2]):
        assert not drv(bad, wv, out) and np.all(out == 7.0)
    for args in [(xv, wv), (np.asfortranarray(xv), wv), (xv[:3], wv),
                 ((xv * 100).astype(np.int32), wv), (xv, wv)]:
        want = reference(np.asarray(args[0], np.float32), args[1])
        np.testing.assert_allclose(fn(*args), want, rtol=1e-6)
    with pytest.raises(FeedError, match="'x"):
        fn(np.zeros((4, 7), np.float32), wv)
