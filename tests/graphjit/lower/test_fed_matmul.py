"""Products of many rows by fed weights (graphjit.lower.fed_matmul, turned on here):
packed per call
into a planned buffer, then the tile kernel with its row blocks split between threads,
equal the reference interpreter; few rows, few columns, constant weights and
transpose_a stay where they were."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower import fed_matmul, packed_matmul

RNG = np.random.default_rng(11)


@pytest.fixture(scope="module", autouse=True)
def small_thresholds():
    """Small shapes through the fed path: from 5 rows and 8 columns."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fed_matmul, "ENABLED", True)
        patch.setattr(fed_matmul, "MIN_ROWS", 5)
        patch.setattr(fed_matmul, "MIN_COLUMNS", 8)
        patch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 0)
        yield


def _graph(dtype, n):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [None, 7])
        w = tf.placeholder(dtype, [7, n])
        wt = tf.placeholder(dtype, [n, 7])
        bias = tf.placeholder(dtype, [n])
        product = tf.matmul(x, w)
        summed = tf.nn.bias_add(tf.matmul(x, wt, transpose_b=True), bias)
        fetches = [product, product * 2.0, summed, tf.nn.relu(summed),
                   tf.nn.relu(tf.matmul(x * 3.0, w) + bias)]
    return [x, w, wt, bias], fetches


@pytest.fixture(scope="module", params=["float32", "float64"])
def compiled(request):
    dtype = request.param
    width = packed_matmul.tile_shape(dtype)[1]
    n = width + 3  # two panels, the last nearly empty
    feeds, fetches = _graph(np.dtype(dtype).type, n)
    return dtype, n, feeds, fetches, tf.compile(fetches, feeds=feeds)


@pytest.mark.parametrize("rows", [5, 8, 9, 70, 131])
def test_products_by_fed_weights_equal_the_reference(compiled, rows):
    dtype, n, feeds, fetches, fn = compiled
    arrays = [RNG.standard_normal((rows, 7)).astype(dtype),
              RNG.standard_normal((7, n)).astype(dtype),
              RNG.standard_normal((n, 7)).astype(dtype),
              RNG.standard_normal(n).astype(dtype)]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(fn(*arrays), evaluate(fetches, dict(zip(feeds, arrays)))):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    loops = fn.ir("loops")
    assert loops.count("kernel pack_") == 3 and "extern matmul" not in loops
    # the fed bias and the relus are the tiles' epilogues: both stages of `summed` stored
    assert loops.count(" of tile ") == 3 and "stages (1, 2)" in loops \
        and loops.count("+ in2 relu") == 2


def test_few_rows_or_columns_constant_weights_and_transpose_a_stay_as_they_were(
        monkeypatch):
    monkeypatch.setattr(fed_matmul, "MIN_ROWS", 64)
    width = packed_matmul.tile_shape("float32")[1]
    monkeypatch.setattr(fed_matmul, "MIN_COLUMNS", 2 * width)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 7])
        w = tf.placeholder(tf.float32, [7, 2 * width])
        narrow = tf.placeholder(tf.float32, [7, width])
        y = tf.placeholder(tf.float32, [None, 2 * width])
        fetches = [tf.matmul(x, w, name="wide"), tf.matmul(x, narrow, name="narrow"),
                   tf.matmul(x, y, transpose_a=True, name="ta")]
    fn = tf.compile(fetches, feeds=[x, w, narrow, y])
    def steps(rows):
        arrays = [RNG.standard_normal((rows, 7)).astype(np.float32),
                  RNG.standard_normal((7, 2 * width)).astype(np.float32),
                  RNG.standard_normal((7, width)).astype(np.float32),
                  RNG.standard_normal((rows, 2 * width)).astype(np.float32)]
        for got, want in zip(fn(*arrays), evaluate(fetches, dict(zip([x, w, narrow, y],
                                                                      arrays)))):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        return {s.name: s.kind.value for s in fn.kernels}
    many, few = steps(64), steps(63)
    assert many["pack_wide"] == "kernel" and many["matmul_wide"] == "kernel"
    assert many["matmul_narrow"] == "extern" and many["matmul_ta"] == "extern"
    assert "pack_wide" not in few and few["matmul_wide"] == "extern"


def test_the_pack_kernel_pads_the_last_panel_with_zeros():
    from codegen.numba_backend import compile_kernel
    w = RNG.standard_normal((5, 11)).astype(np.float32)
    for transposed, source in ((False, w), (True, np.ascontiguousarray(w.T))):
        kernel = fed_matmul.pack_kernel("pack_t", "float32", 8, transposed)
        panels = np.full((2, 5, 8), np.nan, np.float32)
        compile_kernel(kernel).call(source, panels)
        np.testing.assert_array_equal(panels, packed_matmul.pack_panels(w, 8))


def test_fed_products_wait_for_the_tier_as_packed_ones_do(monkeypatch):
    """A young plan calls BLAS (the kernels' compile is paid only by a function called
    again and again); after PACKED_AFTER_CALLS calls it is planned with the tiles."""
    from codegen import numba_backend
    monkeypatch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 2)
    monkeypatch.setattr(numba_backend, "is_loaded_or_cached", lambda kernel: False)
    feeds, fetches = _graph(np.float32, 40)
    fn = tf.compile(fetches, feeds=feeds)
    arrays = [RNG.standard_normal((6, 7)).astype(np.float32),
              RNG.standard_normal((7, 40)).astype(np.float32),
              RNG.standard_normal((40, 7)).astype(np.float32),
              RNG.standard_normal(40).astype(np.float32)]
    want = evaluate(fetches, dict(zip(feeds, arrays)))
    kinds = []
    for _ in range(4):
        for got, w in zip(fn(*arrays), want):
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
        kinds.append(" of tile " in fn.ir("loops"))
    assert kinds == [False, False, True, True]


def test_the_fed_path_is_off_by_default(monkeypatch):
    monkeypatch.setattr(fed_matmul, "ENABLED", False)
    feeds, fetches = _graph(np.float32, 40)
    fn = tf.compile(fetches, feeds=feeds)
    fn(*[np.ones(s, np.float32) for s in ((200, 7), (7, 40), (40, 7), (40,))])
    assert " of tile " not in fn.ir("loops") and "extern matmul" in fn.ir("loops")
