"""Looking inside a compiled function: memory() buffer by buffer, ir() for example
shapes before any call, and the profile's roofline on real kernels."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.lower.packed_matmul import blas_rows


def mlp(batch=None, hidden=16, classes=4, features=12):
    """x -> matmul -> + b -> relu -> matmul -> softmax: BLAS and fused kernels."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [batch, features], name="x")
        w1 = tf.constant(rng.normal(0, .3, (features, hidden)).astype(np.float32), name="W1")
        b1 = tf.constant(rng.normal(0, .3, hidden).astype(np.float32), name="b1")
        h = tf.nn.relu(tf.matmul(x, w1) + b1, name="hidden")
        w2 = tf.constant(rng.normal(0, .3, (hidden, classes)).astype(np.float32), name="W2")
        tf.nn.softmax(tf.matmul(h, w2), name="probs")
    return graph


# Rows enough for BLAS GEMMs and fused epilogues (fewer by constant weights are packed
# kernels, graphjit.lower.packed_matmul)
ROWS = blas_rows()


def _inputs(rows: int, features: int = 12) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(rows, features)).astype(np.float32)


def test_memory_breaks_the_peak_down_by_buffer():
    fn = tf.compile(mlp())
    fn(_inputs(ROWS))
    memory = fn.memory()
    assert {"planned_peak_bytes", "intermediate_bytes", "output_bytes"} <= set(memory)
    buffers = memory["buffers"]
    assert buffers and sum(b["bytes"] for b in buffers) == memory["planned_peak_bytes"]
    values = [v for b in buffers for v in b["values"]]
    assert sum(v["bytes"] for v in values) == memory["intermediate_bytes"]
    assert {"MatMul", "hidden"} <= {op for v in values for op in v["ops"]}
    steps = memory["steps"]
    for buffer in buffers:
        assert all(v["bytes"] <= buffer["bytes"] for v in buffer["values"])
        ranges = sorted(v["live_steps"] for v in buffer["values"])
        for (_, end), (start, _) in zip(ranges, ranges[1:]):
            assert end <= start  # values sharing a buffer are never live at once
        for v in buffer["values"]:
            first, last = v["live_steps"]
            assert 0 <= first <= last <= len(steps) and steps[first] == v["written_by"]
    shared = [b for b in buffers if len(b["values"]) > 1]
    assert shared and memory["planned_peak_bytes"] < memory["intermediate_bytes"]


def test_ir_before_a_call_for_example_inputs_equals_ir_after_it():
    examples = _inputs(ROWS)
    fn = tf.compile(mlp())
    with pytest.raises(tf.Error, match="unknown shape"):
        fn.ir("loops")  # no static shapes and no examples: says what to do
    before = fn.ir("loops", examples)
    by_shape = fn.ir("loops", shapes=[(ROWS, 12)])
    assert not fn._executors  # lowering only: nothing planned or compiled
    fn(examples)
    assert before == by_shape == fn.ir("loops") and "kernel fused_add_relu" in before
    assert len(fn._executors) == 1  # ir() for other shapes plans nothing either
    fn.ir("loops", _inputs(3))
    assert len(fn._executors) == 1


def test_every_stage_works_before_a_call_given_examples():
    fn = tf.compile(mlp())
    for stage in ("graph", "loops", "python", "llvm", "asm"):
        assert fn.ir(stage, _inputs(5)).strip(), stage
    assert "@njit(" in fn.ir("python", shapes=[(5, 12)])
    assert list(fn._executors) == [((5, 12),)]  # compiled stages plan for the examples


def test_ir_example_shapes_are_checked_like_inputs():
    fn = tf.compile(mlp())
    with pytest.raises(tf.FeedError, match="'x'"):
        fn.ir("loops", shapes=[(5, 7)])
    with pytest.raises(tf.FeedError, match="one shape per input"):
        fn.ir("loops", shapes=[(5, 12), (1,)])
    with pytest.raises(tf.FeedError, match="x"):
        fn.ir("loops", np.ones((5, 7), np.float32))
    with pytest.raises(tf.InvalidArgumentError, match="not both"):
        fn.ir("loops", _inputs(2), shapes=[(2, 12)])


def test_the_profile_measures_each_kernel_against_the_roofline():
    fn = tf.compile(mlp(hidden=64, classes=10, features=96))
    report = fn.profile(_inputs(blas_rows(64), 96), repeat=5)  # (BLAS GEMMs too)
    ceilings = report.ceilings()
    rows = [r for r in report.as_dicts() if r["% of limit"] is not None]
    assert {r["kind"] for r in rows} >= {"kernel", "extern"}
    for r in rows:
        assert r["limit GFLOP/s"] > 0 or r["flops"] == 0
        # above 100% only where data stayed in caches faster than memory: bounded
        assert 0 < r["% of limit"] <= 50, r
        ridge = ceilings.ceiling(r["parallel"]).ridge
        assert r["bound"] == ("compute" if r["intensity"] > ridge else "memory"), r
    matmul = next(r for r in rows if r["kind"] == "extern" and "MatMul" in r["ops"])
    assert matmul["intensity"] > 1  # a GEMM reuses each byte many times
    assert [r["name"] for r in report.sorted("limit").as_dicts()][0] == min(
        rows, key=lambda r: r["% of limit"])["name"]
    assert "% limit" in str(report) and "GFLOP/s (measured)" in str(report)
