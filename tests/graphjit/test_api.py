"""compile() defaults, @jit tracing, IR dumps and compile errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from codegen import numba_backend
from codegen.numba_backend import BackendError


def test_compile_defaults_to_graph_outputs_and_placeholders():
    graph = tf.Graph()
    with graph.as_default():
        a = tf.constant(5.0, name="a")
        b = tf.constant(3.0, name="b")
        tf.add(a, b, name="c")
    fn = tf.compile(graph)
    assert fn.feeds == [] and fn() == np.float32(8.0)


def test_compile_tensor_list_and_nested_structures():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        y = x * 2.0
        z = tf.exp(x)
        fn = tf.compile({"double": y, "both": (y, z)})
    out = fn(np.array([0.0, 1.0], np.float32))
    np.testing.assert_allclose(out["double"], [0, 2])
    np.testing.assert_allclose(out["both"][1], np.exp([0, 1]), rtol=1e-6)


def test_jit_traces_once_per_dtype_and_rank():
    @tf.jit
    def scaled_sum(x, y, scale):
        return tf.reduce_sum(x * y, axis=-1) * scale

    ones = np.ones((3, 4), np.float32)
    row = np.arange(4, dtype=np.float32)
    np.testing.assert_allclose(scaled_sum(ones, row, 2.0), [12.0] * 3)
    np.testing.assert_allclose(scaled_sum(np.ones((9, 4), np.float32), row, 2.0), [12.0] * 9)
    assert len(scaled_sum.traces) == 1
    scaled_sum(ones.astype(np.float64), row.astype(np.float64), 2.0)
    assert len(scaled_sum.traces) == 2


def test_jit_keeps_the_traces_used_last(monkeypatch):
    """A static argument that changes every call traces again; old traces are dropped."""
    from graphjit import api
    monkeypatch.setattr(api, "MAX_TRACES", 2)

    @tf.jit
    def shifted(x, shift):
        return x + shift

    x = np.arange(3, dtype=np.float32)
    for shift in (1.0, 2.0, 1.0, 3.0):
        np.testing.assert_allclose(shifted(x, shift), x + shift)
    assert [key[1] for key in shifted.traces] == [("static", 1.0), ("static", 3.0)]


def test_dump_writes_every_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_DUMP", "graph,loops,python")
    monkeypatch.setenv("GRAPHJIT_DUMP_DIR", str(tmp_path))
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        fn = tf.compile(tf.sqrt(x + 1.0))
    fn(np.ones(3, np.float32))
    names = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    assert names == ["graph.txt", "loops.txt", "python.txt"]
    assert "@njit(" in next(tmp_path.glob("*.python.txt")).read_text()


def test_numba_failure_becomes_compile_error_with_context(monkeypatch):
    def failing(kernel):
        raise BackendError("Numba failed to compile kernel: typing error", "def k(): pass")
    monkeypatch.setattr("codegen.numba_backend.compile_kernel", failing)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        fn = tf.compile(tf.exp(x, name="boom"))
    with pytest.raises(tf.CompileError) as info:
        fn(np.ones(2, np.float32))
    message = str(info.value)
    assert "boom" in message and "loop IR" in message and "def k(): pass" in message


def test_loop_ir_needs_no_compile(monkeypatch):
    """ir("loops") before any call lowers the static shapes and compiles nothing; the
    compiled stages, and calls, compile as before."""
    def failing(kernel):
        raise AssertionError(f"compiled {kernel.name}")
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        fn = tf.compile(tf.reduce_sum(tf.exp(x) * 2.0))
    with monkeypatch.context() as patch:
        patch.setattr("codegen.numba_backend.compile_kernel", failing)
        text = fn.ir("loops")
    assert "kernel fused_exp" in text and "exp(" in text
    assert fn.ir("loops") == text and "@njit(" in fn.ir("python")
    assert fn(np.zeros(4, np.float32)) == 8.0


def test_plans_hold_no_graph_objects():
    """Host steps (an op's reference, a gather-index check) are registered host kernels
    called with plain data, not closures over graph ops."""
    with tf.Graph().as_default():
        p = tf.placeholder(tf.float32, [None, 3], name="p")
        i = tf.placeholder(tf.int32, [None], name="i")
        h = tf.placeholder(tf.float16, [None], name="h")
        fn = tf.compile([tf.gather(p * 2.0, i), tf.sqrt(h) + h])
    fn(np.ones((2, 3), np.float32), np.array([1], np.int32), np.array([4], np.float16))
    hosts = [s for s in fn._entry()[1].steps if s.kind == "host"]
    assert {s.host.kernel for s in hosts} == {"reference", "check_gather_indices"}
    for step in hosts:
        assert step.fn is None
        for value in [*step.host.attrs.values(), *step.host.attrs.get("attrs", {}).values()]:
            assert not isinstance(value, (tf.Operation, tf.Tensor, tf.Graph)), value
    with pytest.raises(tf.ShapeError, match="GatherV2 .* index 7 is out of range"):
        fn(np.ones((2, 3), np.float32), np.array([7], np.int32), np.array([4], np.float16))


def test_session_reuses_compiled_plans():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        y = tf.tanh(x) + 1.0
    with tf.Session(graph=graph) as sess:
        sess.run(y, {x: np.zeros(4)})
        before = numba_backend.compile_count
        for n in (1, 5, 17):
            np.testing.assert_allclose(sess.run(y, {x: np.zeros(n)}), np.ones(n))
        assert numba_backend.compile_count == before
