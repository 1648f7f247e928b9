"""fn.explain(): each boundary between two steps gets the partitioner's own reason."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from graphjit.lower import packed_matmul
from graphjit.lower.explain import EXTERN_GEMM, UNRECORDED
from graphjit.lower.fusion_log import Why
from graphjit.lower.packed_matmul import blas_rows


def _mlp():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w1 = tf.constant(np.arange(15, dtype=np.float32).reshape(3, 5), name="w1")
        b1 = tf.constant(np.arange(5, dtype=np.float32), name="b1")
        hidden = tf.nn.relu(tf.matmul(x, w1, name="layer1") + b1, name="hidden")
        w2 = tf.constant(np.ones((5, 2), np.float32), name="w2")
        probs = tf.nn.softmax(tf.matmul(hidden, w2, name="layer2"), name="probs")
    return tf.compile(probs), x


def _only(fn):
    records = list(fn.explain())
    assert len(records) == 1, str(fn.explain())
    return records[0]


def test_mlp_boundaries_are_extern_gemms_in_user_terms():
    fn, _ = _mlp()
    rows = blas_rows()  # (fewer rows by constant weights: packed kernels, below)
    fn(np.ones((rows, 3), np.float32))
    explanation = fn.explain()
    assert [(r.producer, r.consumer) for r in explanation] == [
        ("layer1", "add"), ("hidden", "layer2"), ("layer2", "probs/Max")]
    assert {r.reason for r in explanation} == {EXTERN_GEMM}
    assert explanation[0].shape == (rows, 5) and explanation[0].dtype == "float32"
    assert explanation[0].producer_source.startswith("test_explain.py:")
    text = str(explanation)
    assert "3 boundaries between the 4 steps" in text
    assert "MatMul 'layer1' at test_explain.py:" in text and "BLAS GEMM" in text
    assert explanation.as_dicts()[1]["consumer_step"] == explanation[1].consumer_step


def test_mlp_boundaries_of_packed_products_say_what_the_step_is(monkeypatch):
    monkeypatch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 0)  # packed at once: no tier
    fn, _ = _mlp()
    fn(np.ones((4, 3), np.float32))
    explanation = fn.explain()  # (layer1's bias add and relu are in its kernel)
    assert [(r.producer, r.consumer) for r in explanation] == [
        ("hidden", "layer2"), ("layer2", "probs/Max")]
    assert {r.reason for r in explanation} == {Why.STANDALONE.value}
    assert "MatMul 'layer2' is a matrix product by constant weights" in str(explanation)
    assert "extern" not in str(explanation)


def test_explain_before_any_call_lowers_the_static_shapes_and_compiles_nothing():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 3], name="x")
        tf.exp(tf.reduce_sum(x, axis=0, name="s"), name="y")
    fn = tf.compile(graph)
    record = _only(fn)
    assert fn._last is None  # nothing planned
    assert (record.producer, record.consumer, record.reason) == ("s", "y", "reduce-axes")
    assert "axes [0]" in record.detail and "not the last axes" in record.detail


def test_different_iteration_domains():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 3], name="x")
        v = tf.placeholder(tf.float32, [3], name="v")
        tf.add(x, tf.exp(v, name="a"), name="y")
    record = _only(tf.compile(graph))
    assert (record.producer, record.consumer, record.reason) == ("a", "y", "domain")
    assert "[4, 3]" in record.detail and "[3]" in record.detail


def test_host_op():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 3], name="x")
        values, _ = tf.nn.top_k(x, 2, name="top")
        tf.exp(values, name="y")
    record = _only(tf.compile(graph))
    assert (record.producer, record.reason) == ("top", "host")
    assert "sort" in record.detail


def test_random_draw_on_the_host():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 3], name="x")
        tf.exp(tf.nn.dropout(x, rate=0.5, name="drop"), name="z")
    record = _only(tf.compile(graph))
    assert record.producer_type == "RandomUniformLike" and record.reason == "host"


def test_reshape_of_a_written_buffer_is_a_view():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 6], name="x")
        r = tf.reshape(tf.exp(x, name="e"), [3, 8], name="r")
        tf.sqrt(r, name="z")
    records = list(tf.compile(graph).explain())
    assert [(r.producer, r.consumer, r.reason) for r in records] == [
        ("e", "r", "view"), ("r", "z", "view")]
    assert "moves non-unit dims" in records[0].detail


def test_fetched_intermediate_is_written_by_the_kernel_without_a_boundary():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 3], name="x")
        a = tf.exp(x, name="a")
        y = tf.sqrt(a, name="y")
    explanation = tf.compile([a, y]).explain()
    assert len(explanation) == 0
    assert [(f.tensor, f.step) for f in explanation.fetched_inside] == [("a:0", "fused_exp_sqrt")]
    assert "a:0 in fused_exp_sqrt" in str(explanation)


def test_fetched_value_across_a_boundary_and_its_readers_are_flagged():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 3], name="x")
        s = tf.reduce_sum(x, axis=0, name="s")
        w = tf.constant(np.ones((3, 3), np.float32), name="w")
        m = tf.matmul(tf.reshape(s, [1, 3], name="row"), w, name="m")
        e = tf.exp(s, name="e")
    records = {r.consumer: r for r in tf.compile([s, m, e]).explain()}
    assert records["e"].fetched and records["e"].readers == 2
    assert "read by 2 steps, also fetched" in str(tf.compile([s, m, e]).explain())


def test_every_boundary_of_a_mixed_graph_has_a_recorded_reason():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2, 4, 3], name="x")
        norm = tf.nn.softmax(x * 2.0, name="norm")
        col = tf.reduce_mean(norm, axis=1, name="col")
        flat = tf.reshape(norm, [8, 3], name="flat")
        w = tf.placeholder(tf.float32, [3, 3], name="w")  # (fed: a BLAS call, not packed)
        out = tf.matmul(flat, w, name="mm")
        tf.argmax(out, axis=1, name="best")
        tf.cumsum(col, axis=1, name="run")
    fn = tf.compile(graph)
    records = list(fn.explain())
    assert records and all(r.reason != UNRECORDED for r in records), str(fn.explain())
    reasons = {r.reason for r in records} | {o[0] for r in records for o in r.other_reasons}
    assert {"extern-gemm", "standalone", "reduce-axes", "view"} <= reasons
    argmax = next(r for r in records if r.consumer == "best")
    assert argmax.other_reasons[0][0] == "standalone" and "argreduce" in argmax.other_reasons[0][1]


def _reasons(build, feeds):
    graph = tf.Graph()
    with graph.as_default():
        xs = [tf.placeholder(tf.float32, shape, name=f"x{i}") for i, shape in enumerate(feeds)]
        build(*xs)
    return {(r.producer, r.consumer): r for r in tf.compile(graph).explain()}


def test_cycle_row_and_split_reasons():
    w = np.eye(4, dtype=np.float32)
    cycle = _reasons(lambda x: tf.multiply(tf.exp(x, name="a"),
                                           tf.matmul(tf.exp(x, name="a"), w, name="m"),
                                           name="y"), [(4, 4)])
    assert cycle[("a", "y")].reason == "cycle"
    row = _reasons(lambda x: tf.multiply(x * 2.0, tf.reduce_sum(x * 2.0, axis=-1, name="s"),
                                         name="y"), [(4, 4)])
    assert row[("s", "y")].reason == "row" and "per-row value [4]" in row[("s", "y")].detail

    def two_splits(x):
        a = tf.exp(x, name="a")
        tf.add(tf.reduce_sum(a, axis=-1, name="s1")[:, :, None],
               tf.reduce_sum(a, axis=[1, 2], name="s2")[:, None, None], name="y")
    split = _reasons(two_splits, [(2, 3, 4)])
    assert any(r.reason == "split" for r in split.values()), split
