"""Run-time behaviour of compiled functions: fusion, no recompiles across batch sizes,
buffer reuse, fresh outputs, thread safety, profiling and errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphjit as tf
from codegen import numba_backend
from graphjit.lower.packed_matmul import PACKED_AFTER_CALLS, blas_rows
from runtime.plan import ALIGN_BYTES


def _softmax_graph(width=16):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, width], name="x")
        tf.nn.softmax(x * 2.0 - 1.0, name="probs")
    return graph


def _softmax(x):
    x = x.astype(np.float64) * 2 - 1
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_softmax_is_one_kernel_without_full_size_intermediates():
    fn = tf.compile(_softmax_graph())
    x = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    np.testing.assert_allclose(fn(x), _softmax(x), rtol=1e-5, atol=1e-7)
    kernels = [s for s in fn.kernels if s.kind == "kernel"]
    assert len(kernels) == 1 and len(fn.kernels) == 1
    assert fn.memory()["intermediate_bytes"] == 0  # nothing but the output is written


def test_gelu_chain_is_one_kernel():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        tf.nn.gelu(x, approximate=True)
    fn = tf.compile(graph)
    v = np.linspace(-5, 5, 101).astype(np.float32)
    expected = 0.5 * v * (1 + np.tanh(0.7978845608 * (v + 0.044715 * v ** 3)))
    np.testing.assert_allclose(fn(v), expected, rtol=1e-5, atol=1e-6)
    assert [s.kind for s in fn.kernels] == ["kernel"]


def test_new_batch_size_compiles_nothing():
    fn = tf.compile(_softmax_graph(width=12))
    fn(np.ones((3, 12), np.float32))
    before = numba_backend.compile_count
    for batch in (1, 7, 64):
        x = np.random.default_rng(batch).normal(size=(batch, 12)).astype(np.float32)
        np.testing.assert_allclose(fn(x), _softmax(x), rtol=1e-5, atol=1e-7)
    assert numba_backend.compile_count == before


def test_outputs_are_fresh_and_inputs_untouched():
    fn = tf.compile(_softmax_graph())
    x = np.random.default_rng(1).normal(size=(4, 16)).astype(np.float32)
    keep = x.copy()
    first = fn(x)
    second = fn(x + 1)
    assert not np.shares_memory(first, second)
    np.testing.assert_allclose(first, _softmax(keep), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(x, keep)


def test_intermediate_buffers_are_allocated_once_and_shared():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 8], name="x")
        w = tf.constant(np.eye(8, dtype=np.float32))
        h = tf.nn.relu(tf.matmul(x, w) + 1.0)
        tf.reduce_sum(tf.matmul(h, w), axis=0, name="out")
    fn = tf.compile(graph)
    x = np.arange(16, dtype=np.float32).reshape(2, 8)
    expected = (np.maximum(x + 1, 0)).sum(0)
    np.testing.assert_allclose(fn(x), expected)
    executor = fn._executors[((2, 8),)][0]
    pooled = executor._pool[0]
    buffer_slots = [i for i, s in enumerate(executor.plan.slots) if s.role == "buffer"]
    assert buffer_slots  # the matmul results live in planned buffers
    before = [id(pooled[i]) for i in buffer_slots]
    np.testing.assert_allclose(fn(x), expected)
    assert executor._pool == [pooled]  # the same buffer set, reused
    assert [id(pooled[i]) for i in buffer_slots] == before
    memory = fn.memory()
    assert memory["planned_peak_bytes"] <= memory["intermediate_bytes"]


@pytest.mark.parametrize("rows", [50, 4096])  # 4096 x 16: chunks on graphjit's threads
def test_calls_from_several_threads(set_threads, rows, monkeypatch):
    set_threads(3)
    fn = tf.compile(_softmax_graph())
    inputs = [np.random.default_rng(i).normal(size=(rows, 16)).astype(np.float32)
              for i in range(8)]
    fn(inputs[0])
    assert ("chunk_lo" in fn.kernels[0].compiled.source) == (rows == 4096)
    results = [None] * 8

    def work(i):
        for _ in range(20):
            results[i] = fn(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, r in zip(inputs, results):
        np.testing.assert_allclose(r, _softmax(x), rtol=1e-5, atol=1e-7)


def test_call_styles_and_feed_errors():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.placeholder(tf.float32, [2], name="y")
        z = tf.add(x, y, name="z")
    fn = tf.compile(graph)
    xv, yv = np.ones((3, 2), np.float32), np.arange(2, dtype=np.float32)
    for out in (fn(xv, yv), fn(x=xv, y=yv), fn({x: xv, "y:0": yv})):
        np.testing.assert_array_equal(out, xv + yv)
    assert fn.leaves == [z]
    with pytest.raises(tf.FeedError, match="missing input 'y'"):
        fn(xv)
    with pytest.raises(tf.FeedError, match=r"shape \[3, 3\].*x:0"):
        fn(np.ones((3, 3), np.float32), yv)
    with pytest.raises(tf.FeedError, match="unknown input 'w'"):
        fn(x=xv, w=yv)


def test_profile_report_has_every_kernel():
    fn = tf.compile(_softmax_graph())
    report = fn.profile(np.ones((64, 16), np.float32), repeat=5)
    rows = report.as_dicts()
    assert len(rows) == 1 and rows[0]["calls"] == 5 and rows[0]["bytes"] == 2 * 64 * 16 * 4
    assert rows[0]["mean_s"] > 0 and "probs" in rows[0]["ops"]
    text = str(report)
    assert "per call" in text and rows[0]["name"][:40] in text


def test_inspection_stages():
    fn = tf.compile(_softmax_graph())
    fn(np.ones((2, 16), np.float32))
    assert "probs = RealDiv" in fn.ir("graph")
    loops = fn.ir("loops")
    assert loops.startswith("kernel fused_") and "for j1" in loops
    assert "@njit(" in fn.ir("python")
    assert "define" in fn.ir("llvm")
    with pytest.raises(ValueError, match="unknown stage"):
        fn.ir("bytecode")


def test_large_inputs_use_a_parallel_kernel():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        tf.tanh(x) * 2.0 + tf.exp(-x)
    fn = tf.compile(graph)
    v = np.linspace(-3, 3, 100_000).astype(np.float32)
    np.testing.assert_allclose(fn(v), np.tanh(v) * 2 + np.exp(-v), rtol=1e-5, atol=1e-6)
    assert "prange" in fn.ir("python")


def test_out_buffer_receives_the_result():
    fn = tf.compile(_softmax_graph())
    x = np.random.default_rng(3).normal(size=(6, 16)).astype(np.float32)
    buffer = np.empty((6, 16), np.float32)
    result = fn(x, out=buffer)
    assert result is buffer
    np.testing.assert_allclose(buffer, _softmax(x), rtol=1e-5, atol=1e-7)
    with pytest.raises(tf.FeedError, match="out= array"):
        fn(x, out=np.empty((6, 15), np.float32))


def test_out_buffers_for_fetched_inputs_and_constants_leave_them_alone():
    # An out= array once took the place of a fetched input or constant in the plan's
    # slots: kernels read it instead of the input, and the constant stayed replaced.
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        c = tf.constant(np.array([1, 2, 3], np.float32))
        y = x * 2.0 + c
    fn = tf.compile(graph, fetches=[y, c, x], feeds=[x], passes="none")
    ones = np.ones(3, np.float32)
    out = [np.zeros(3, np.float32), np.full(3, 9, np.float32), np.full(3, 7, np.float32)]
    results = fn(ones, out=out)
    assert all(r is o for r, o in zip(results, out))
    expected = [np.array([3, 4, 5], np.float32), np.array([1, 2, 3], np.float32), ones]
    for got in (out, fn(ones)):
        for value, want in zip(got, expected):
            np.testing.assert_array_equal(value, want)


def test_layer_norm_and_log_softmax_are_one_kernel_each():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 32], name="x")
        gamma = tf.constant(np.linspace(0.5, 1.5, 32).astype(np.float32))
        beta = tf.constant(np.linspace(-1, 1, 32).astype(np.float32))
        norm = tf.nn.layer_normalization(x, gamma, beta, epsilon=1e-5)
        logp = tf.nn.log_softmax(x)
    v = np.random.default_rng(4).normal(size=(5, 32)).astype(np.float32)
    for fetch, expected in ((norm, None), (logp, None)):
        fn = tf.compile(fetch, feeds=[x])
        result = fn(v)
        with tf.Session(graph=graph, engine="reference") as sess:
            expected = sess.run(fetch, {x: v})
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)
        assert [s.kind for s in fn.kernels] == ["kernel"], fn.kernels
        assert fn.memory()["intermediate_bytes"] == 0


def test_mlp_layer_is_a_gemm_and_one_fused_epilogue():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 20], name="x")
        w = tf.constant(np.random.default_rng(5).normal(size=(20, 8)).astype(np.float32))
        b = tf.constant(np.arange(8, dtype=np.float32) / 8)
        tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b), name="h")
    fn = tf.compile(graph)
    rows = blas_rows()  # fewer rows by constant weights: a packed loop kernel instead
    v = np.random.default_rng(6).normal(size=(rows, 20)).astype(np.float32)
    expected = np.maximum(v @ np.asarray(w.op.attrs["value"]) + np.arange(8) / 8, 0)
    np.testing.assert_allclose(fn(v), expected, rtol=1e-5, atol=1e-5)
    assert [s.kind for s in fn.kernels] == ["extern", "kernel"]
    assert fn.kernels[1].ops[-1] == "h"
    loops = fn.ir("loops")
    assert "out0 = extern matmul(in0, in1)" in loops  # the GEMM is a loop-IR extern call
    assert "site.matmul(in0, in1, out=out0)" in fn.ir("python")  # codegen.blas
    for _ in range(PACKED_AFTER_CALLS + 1):  # BLAS first, packed after (the tier)
        np.testing.assert_allclose(fn(v[:4]), expected[:4], rtol=1e-5, atol=1e-5)
    assert [s.kind for s in fn.kernels] == ["kernel"]  # bias add and relu: its epilogue
    assert fn.kernels[0].ops[-1] == "h"
    assert " of tile " in fn.ir("loops") and "extern" not in fn.ir("loops")


def test_nan_and_signed_zero_follow_numpy_in_max_min_relu():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        y = tf.placeholder(tf.float32, [None, 4], name="y")
        outs = [tf.maximum(x, y), tf.minimum(x, y), tf.nn.relu(x),
                tf.reduce_max(x, axis=1), tf.reduce_min(x, axis=0), tf.nn.softmax(x)]
    xv = np.array([[np.nan, 1, -0.0, 2], [3, -np.inf, 0.0, np.inf]], np.float32)
    yv = np.array([[0, np.nan, 0.0, 1], [np.inf, 2, -0.0, -1]], np.float32)
    compiled = tf.compile(outs, feeds=[x, y])(xv, yv)
    with tf.Session(graph=graph, engine="reference") as sess:
        expected = sess.run(outs, {x: xv, y: yv})
    for c, e in zip(compiled, expected):
        np.testing.assert_array_equal(c, e)


def test_results_the_caller_holds_are_never_recycled():
    fn = tf.compile(_softmax_graph())
    rng = np.random.default_rng(7)
    inputs = [rng.normal(size=(3, 16)).astype(np.float32) for _ in range(4)]
    held = [fn(x) for x in inputs]  # every result kept: each must stay intact
    view = fn(inputs[0])[1:]  # only a view kept: its base must not be reused either
    fn(inputs[1])
    for x, result in zip(inputs, held):
        np.testing.assert_allclose(result, _softmax(x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(view, _softmax(inputs[0])[1:], rtol=1e-5, atol=1e-7)
    dropped_address = fn(inputs[2]).__array_interface__["data"][0]
    reused = fn(inputs[3])  # the previous result was dropped: its memory may be reused
    assert reused.__array_interface__["data"][0] == dropped_address
    np.testing.assert_allclose(reused, _softmax(inputs[3]), rtol=1e-5, atol=1e-7)


def test_large_outputs_start_on_a_cache_line_on_every_call_path():
    """A kernel storing whole vectors into an output off a line splits each store
    (W2: 8% slower); outputs below a page stay plain arrays (`runtime.plan.output_empty`)."""
    fn = tf.compile(_softmax_graph(1024))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 1024)).astype(np.float32)
    results = [fn(x), fn(x), fn({"x:0": x}), fn(x=x)]  # runner, and the general path
    for result in results:
        assert result.ctypes.data % ALIGN_BYTES == 0 and result.flags.writeable
        np.testing.assert_allclose(result, _softmax(x), rtol=1e-5, atol=1e-7)
    assert len({r.ctypes.data for r in results}) == len(results)  # all held: none reused
    del results
    dropped = fn(x).ctypes.data
    assert fn(x).ctypes.data == dropped  # a dropped aligned output is reused as before
    small = tf.compile(_softmax_graph(16))(x[:, :16])
    assert small.flags.owndata  # (96 bytes: np.empty)
    np.testing.assert_allclose(small, _softmax(x[:, :16]), rtol=1e-5, atol=1e-7)


def test_read_only_feeds_float16_ops_and_variable_integer_exponents():
    """Read-only arrays are valid feeds; float16 ops (no Numba arithmetic) run as NumPy
    host steps, also when one reads an input twice; pow(x, float(int)) compiles without
    'afn', whose powi form calls a symbol Numba cannot link (the process died)."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float16, [None, 4], name="x")
        half = tf.nn.softmax(tf.exp(x) * 2 + 1)
        is_nan = tf.not_equal(x, x)
        wide = tf.cast(x, tf.float64)
        powered = tf.pow(wide, tf.cast(tf.cast(x * 3, tf.int32), tf.float64))
    fetches = [half, is_nan, powered]
    fn = tf.compile(fetches)
    value = np.array([[0.5, np.nan, -1.5, 2.0], [1.0, -0.25, 3.0, 0.0]], np.float16)
    value.flags.writeable = False
    expected = tf.Session(graph=graph, engine="reference").run(fetches, {x: value})
    for got, want in zip(fn(value), expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert any(step.kind == "host" for step in fn.kernels)
