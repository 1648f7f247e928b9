"""codegen.fast_entry: a Numba function called through a builtin that checks its arrays
natively runs exactly where Numba's own entry would get arrays of the compiled kinds, of
the given shapes, C-contiguous; anywhere else it returns False having run nothing. No
reference leaks; the function stays callable when the dispatcher is gone."""

from __future__ import annotations

import gc
import sys

import numba
import numpy as np
import pytest

from codegen import fast_entry
from codegen.fast_entry import NotAvailable, build_fast_entry

F32 = np.dtype(np.float32)


@pytest.fixture(scope="module")
def affine():
    """o[i, j] = x[i, j] * w[j] + 1, over x (2, 3) and w (3,)."""
    @numba.njit(nogil=True)
    def run(x, w, o):
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                o[i, j] = x[i, j] * w[j] + 1.0

    x, w, o = np.ones((2, 3), F32), np.ones(3, F32), np.empty((2, 3), F32)
    run(x, w, o)
    return run, build_fast_entry(run, [((2, 3), F32), ((3,), F32), ((2, 3), F32)])


def _args(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, 3), dtype=F32), rng.standard_normal(3, dtype=F32)


def test_runs_where_the_arrays_are_the_compiled_ones(affine):
    _, entry = affine
    x, w = _args()
    out = np.zeros((2, 3), F32)
    assert entry(x, w, out) is True
    np.testing.assert_allclose(out, x * w + np.float32(1), rtol=1e-6)
    readonly = x.copy()
    readonly.flags.writeable = False  # (inputs are read: their flags are not looked at)
    out[...] = 0
    assert entry(readonly, w, out) is True
    np.testing.assert_allclose(out, x * w + np.float32(1), rtol=1e-6)


def test_refuses_any_other_argument_running_nothing(affine):
    _, entry = affine
    x, w = _args(1)
    out = np.full((2, 3), 7.0, F32)

    class Sub(np.ndarray):
        pass

    wide = np.repeat(x, 2, axis=1)
    for bad in [x.astype(np.float64), x.view(np.int32), x.reshape(6), x.reshape(1, 2, 3),
                x.T.copy(), np.asfortranarray(x), wide[:, ::2], x.view(Sub), x.tolist(), 3,
                None]:
        assert entry(bad, w, out) is False
        assert np.all(out == 7.0)
    assert entry(x, np.repeat(w, 2)[::2], out) is False
    assert entry(x, w) is False and entry(x, w, out, out) is False and entry() is False
    assert np.all(out == 7.0)
    assert entry(x, w, out.astype(np.float64)) is False


def test_dimensions_of_one_may_have_any_stride():
    @numba.njit
    def double(x, o):
        for j in range(x.shape[1]):
            o[0, j] = 2 * x[0, j]

    x, o = np.ones((1, 4), F32), np.empty((1, 4), F32)
    double(x, o)
    entry = build_fast_entry(double, [((1, 4), F32), ((1, 4), F32)])
    row = np.arange(12, dtype=F32).reshape(3, 4)[::2][1:2]  # strides (32, 4)
    assert row.flags.c_contiguous and row.strides[0] == 32
    assert entry(row, o) is True
    np.testing.assert_array_equal(o, 2 * row)


def test_a_bool_result_is_returned_and_no_reference_leaks():
    @numba.njit
    def positive(x, o):
        o[0] = x[0]
        return x[0] > 0

    x, o = np.ones(1, F32), np.empty(1, F32)
    positive(x, o)
    entry = build_fast_entry(positive, [((1,), F32), ((1,), F32)])
    assert entry(x, o) is True
    assert entry(-x, o) is False and o[0] == -1
    counts = [sys.getrefcount(v) for v in (x, o, True, False)]
    for _ in range(1000):
        entry(x, o)
        entry(x.astype(np.float64), o)
    assert [sys.getrefcount(v) for v in (x, o, True, False)] == counts


def test_a_function_always_true_is_called_too():
    @numba.njit
    def fill(o):
        o[:] = 3
        return True

    o = np.zeros(2, F32)
    fill(o)
    entry = build_fast_entry(fill, [((2,), F32)])
    o[:] = 0
    assert entry(o) is True and np.all(o == 3)


def test_a_function_that_raises_returns_false():
    """(The caller's general path runs it again, through Numba, which raises.)"""
    @numba.njit
    def checked(x):
        if x[0] < 0:
            raise ValueError("negative")
        x[0] += 1

    x = np.zeros(1, F32)
    checked(x)
    entry = build_fast_entry(checked, [((1,), F32)])
    assert entry(x) is True and x[0] == 2
    x[0] = -1
    assert entry(x) is False and x[0] == -1
    with pytest.raises(ValueError, match="negative"):
        checked(x)


def test_the_entry_outlives_its_dispatcher():
    @numba.njit
    def inc(x):
        x[0] += 1

    x = np.zeros(1, F32)
    inc(x)
    entry = build_fast_entry(inc, [((1,), F32)])
    del inc
    gc.collect()
    assert entry(x) is True and x[0] == 2


def test_functions_it_cannot_call_are_refused():
    @numba.njit
    def twice(x):
        return x * 2

    twice(np.ones(2, F32))
    with pytest.raises(NotAvailable, match="arguments"):
        build_fast_entry(twice, [((2,), np.dtype(np.float64))])
    with pytest.raises(NotAvailable, match="returns"):
        build_fast_entry(twice, [((2,), F32)])
    twice(np.ones(2))
    with pytest.raises(NotAvailable, match="several"):
        build_fast_entry(twice, [((2,), F32)])

    @numba.njit
    def scale(x, k):
        x[0] *= k

    scale(np.ones(1, F32), 2.0)
    with pytest.raises(NotAvailable, match="arguments"):
        build_fast_entry(scale, [((1,), F32), ((), F32)])


def test_ndarray_fields_are_where_expected():
    """(Else every plan silently keeps Numba's entry point: a NumPy that moved them.)"""
    assert fast_entry._offsets_hold()


def test_zero_dimensional_and_empty_arrays():
    @numba.njit
    def scale(k, x, o):
        for i in range(x.shape[0]):
            o[i] = x[i] * k[()]

    k, x, o = np.array(3.0, F32), np.arange(4, dtype=F32), np.empty(4, F32)
    scale(k, x, o)
    entry = build_fast_entry(scale, [((), F32), ((4,), F32), ((4,), F32)])
    assert entry(k, x, o) is True
    np.testing.assert_array_equal(o, 3 * x)
    assert entry(np.ones(1, F32), x, o) is False  # (rank 1 for a 0-d argument)
    empty = build_fast_entry(scale, [((), F32), ((0,), F32), ((0,), F32)])
    assert empty(k, np.zeros(0, F32), np.zeros(0, F32)) is True
    assert empty(k, np.zeros(0, F32), np.zeros(1, F32)) is False
