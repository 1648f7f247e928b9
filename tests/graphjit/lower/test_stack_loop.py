"""WhileStack and ScanStack on their two compiled paths (graphjit.lower.stack_loop): the
native driver writing rows into the stacked outputs (runtime.stack_driver) and the host
loop, each checked against the reference interpreter (and onnxruntime for ONNX Loop and
Scan), and which path each loop took."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower import while_loop
from graphjit.lower.while_stack import scan_stack_call, while_stack_call
from graphjit.ops.while_stack import while_stack

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import run_ort  # noqa: E402

F, I32, I64, B = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, initializer=()):
    graph = helper.make_graph(nodes, "stack", inputs, outputs, list(initializer))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def stack_loop_of(graph):
    """The StackLoop of the graph's one WhileStack or ScanStack."""
    (op,) = [op for op in graph.get_operations() if op.type in ("WhileStack", "ScanStack")]
    call = while_stack_call if op.type == "WhileStack" else scan_stack_call
    return call(op).attrs["loop"]


def run_paths(monkeypatch, fn, feeds: dict) -> tuple[list, list]:
    """The compiled results natively (a driver from the first iteration) and on the host
    loop (none)."""
    monkeypatch.setattr(while_loop, "NATIVE_AFTER_ITERATIONS", 0)
    native = [np.asarray(v) for v in fn(**feeds)]
    monkeypatch.setattr(while_loop, "NATIVE_AFTER_ITERATIONS", float("inf"))
    host = [np.asarray(v) for v in fn(**feeds)]
    return native, host


def check_onnx(monkeypatch, model, graph, fn, feeds: dict, ort: bool = True) -> list:
    """Native == host (bit for bit: the same kernels) == reference == onnxruntime (where
    `ort`)."""
    native, host = run_paths(monkeypatch, fn, feeds)
    ref = evaluate(list(graph.outputs), {t: feeds[n] for t, n in
                                         zip(graph.inputs, graph.input_names)})
    want = run_ort(model, feeds) if ort else ref
    for nat, hst, r, w in zip(native, host, ref, want):
        assert nat.dtype == w.dtype and nat.shape == w.shape, (nat.dtype, nat.shape, w.shape)
        np.testing.assert_array_equal(nat, hst)
        np.testing.assert_allclose(nat, r, rtol=1e-6)
        np.testing.assert_allclose(nat, w, rtol=1e-5)
    return native


# -- ONNX Scan: two states, two scan inputs (one reversed), three outputs of three dtypes


def scan_model():
    """s += a_t * 0.5, k += b_t over a [T, 3] forward and b [T] (int32) reversed; rows s,
    k (int64, stacked reversed) and sum(a_t) > 0 (bool)."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["a_t", "half"], ["a_half"]),
         helper.make_node("Add", ["s_in", "a_half"], ["s_out"]),
         helper.make_node("Cast", ["b_t"], ["b64"], to=I64),
         helper.make_node("Add", ["k_in", "b64"], ["k_out"]),
         helper.make_node("ReduceSum", ["a_t"], ["a_sum"], keepdims=0),
         helper.make_node("Greater", ["a_sum", "zero"], ["positive"]),
         helper.make_node("Identity", ["s_out"], ["s_row"]),
         helper.make_node("Identity", ["k_out"], ["k_row"])],
        "body",
        [_vi("s_in", F, [3]), _vi("k_in", I64, []), _vi("a_t", F, [3]), _vi("b_t", I32, [])],
        [_vi("s_out", F, [3]), _vi("k_out", I64, []), _vi("s_row", F, [3]),
         _vi("k_row", I64, []), _vi("positive", B, [])],
        [helper.make_tensor("half", F, [], [0.5]), helper.make_tensor("zero", F, [], [0.0])])
    scan = helper.make_node("Scan", ["s0", "k0", "a", "b"],
                            ["s_final", "k_final", "ss", "ks", "pos"], body=body,
                            num_scan_inputs=2, scan_input_directions=[0, 1],
                            scan_output_directions=[0, 1, 0])
    return _model([scan],
                  [_vi("s0", F, [3]), _vi("k0", I64, []), _vi("a", F, [None, 3]),
                   _vi("b", I32, [None])],
                  [_vi("s_final", F, [3]), _vi("k_final", I64, []), _vi("ss", F, [None, 3]),
                   _vi("ks", I64, [None]), _vi("pos", B, [None])])


@pytest.fixture(scope="module")
def scan():
    model = scan_model()
    graph = import_model(model)
    assert "ScanStack" in {op.type for op in graph.get_operations()}
    return model, graph, graph.compile()


@pytest.mark.parametrize("length", [0, 1, 5, 40])
def test_scan_forward_and_reverse_inputs_and_outputs_natively(monkeypatch, scan, length):
    model, graph, fn = scan
    rng = np.random.default_rng(length)
    feeds = {"s0": rng.standard_normal(3).astype(np.float32), "k0": np.array(7, np.int64),
             "a": rng.standard_normal((length, 3)).astype(np.float32),
             "b": rng.integers(-9, 9, length).astype(np.int32)}
    # (onnxruntime refuses a reversed scan input of length 0)
    got = check_onnx(monkeypatch, model, graph, fn, feeds, ort=length > 0)
    assert [g.shape for g in got[2:]] == [(length, 3), (length,), (length,)]
    assert [g.dtype for g in got[2:]] == [np.float32, np.int64, np.bool_]
    assert stack_loop_of(graph).paths() == ([(True, None)] if length else [])


# -- ONNX Loop: a trip count and a data exit; rows of four dtypes, two not a kernel's own


def loop_model():
    """v = v * 1.25 + 0.5 while sum(v) < limit, at most M times; rows v (float32 [2]),
    i (int64, the body's input), the cond (bool, also a loop-carried value) and sum(v)
    as float64."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["v_in", "scale"], ["v_scaled"]),
         helper.make_node("Add", ["v_scaled", "shift"], ["v_out"]),
         helper.make_node("ReduceSum", ["v_out"], ["total"], keepdims=0),
         helper.make_node("Less", ["total", "limit"], ["cond_out"]),
         helper.make_node("Cast", ["total"], ["total64"], to=TensorProto.DOUBLE),
         helper.make_node("Identity", ["v_out"], ["v_row"]),
         helper.make_node("Identity", ["i"], ["i_row"]),
         helper.make_node("Identity", ["cond_out"], ["c_row"])],
        "body",
        [_vi("i", I64, []), _vi("cond_in", B, []), _vi("v_in", F, [2])],
        [_vi("cond_out", B, []), _vi("v_out", F, [2]), _vi("v_row", F, [2]),
         _vi("i_row", I64, []), _vi("c_row", B, []), _vi("total64", TensorProto.DOUBLE, [])],
        [helper.make_tensor("scale", F, [], [1.25]), helper.make_tensor("shift", F, [], [0.5])])
    loop = helper.make_node("Loop", ["m", "go", "v"], ["v_final", "vs", "is", "cs", "ts"],
                            body=body)
    return _model([loop], [_vi("m", I64, []), _vi("go", B, []), _vi("v", F, [2]),
                           _vi("limit", F, [])],
                  [_vi("v_final", F, [2]), _vi("vs", F, [None, 2]), _vi("is", I64, [None]),
                   _vi("cs", B, [None]), _vi("ts", TensorProto.DOUBLE, [None])])


@pytest.fixture(scope="module")
def loop():
    model = loop_model()
    graph = import_model(model)
    assert "WhileStack" in {op.type for op in graph.get_operations()}
    return model, graph, graph.compile()


@pytest.mark.parametrize("m, go, limit, trips", [
    (10, False, 1e9, 0),  # the cond false on entry: no iteration
    (0, True, 1e9, 0),  # a zero trip count
    (3, True, 1e9, 3),  # the trip count ends it
    (500, True, 1e4, 33),  # the data ends it, past two doublings of the rows
    (40, True, 1e30, 40),
])
def test_loop_with_a_trip_count_and_a_data_exit_natively(monkeypatch, loop, m, go, limit,
                                                         trips):
    model, graph, fn = loop
    feeds = {"m": np.array(m, np.int64), "go": np.array(go), "v": np.array([1, 2], np.float32),
             "limit": np.array(limit, np.float32)}
    got = check_onnx(monkeypatch, model, graph, fn, feeds)
    assert [len(g) for g in got[1:]] == [trips] * 4
    np.testing.assert_array_equal(got[2], np.arange(trips))
    assert stack_loop_of(graph).paths() == ([(True, None)] if trips else [])


# -- graphjit's own WhileStack: a known count, a mid-run handover, a check, a fallback


def counting_graph(count=None):
    """i, and rows i * x and xs[i] (a gather, its index checked) while i < n."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        xs = tf.placeholder(tf.float32, [30, 2], name="xs")
        n = tf.placeholder(tf.int64, [], name="n")
        (i,), rows = while_stack(
            lambda i: i < n,
            lambda i: ([i + 1], [tf.cast(i, tf.float32) * x, tf.gather(xs, i)]),
            [tf.constant(np.int64(0))], count=count, name="counting")
    return graph, [i, *rows], {"x": x, "xs": xs, "n": n}


def _feeds(names, trips):
    rng = np.random.default_rng(trips)
    return {names["x"]: rng.standard_normal(2).astype(np.float32),
            names["xs"]: rng.standard_normal((30, 2)).astype(np.float32),
            names["n"]: np.int64(trips)}


def test_a_long_loop_hands_over_mid_run_and_a_failed_check_names_the_gather(monkeypatch):
    monkeypatch.setattr(while_loop, "NATIVE_AFTER_ITERATIONS", 5)
    graph, outs, names = counting_graph()
    fn = tf.compile(outs)
    feeds = _feeds(names, 23)  # 5 rows on the host, 18 natively, the rows grown once
    got = fn(*[feeds[t] for t in (names["x"], names["xs"], names["n"])])
    for g, r in zip(got, evaluate(outs, feeds)):
        np.testing.assert_array_equal(g, r)
    assert stack_loop_of(graph).paths() == [(True, None)]
    bad = _feeds(names, 31)  # xs has 30 rows: the driver stops, the host raises
    with pytest.raises(tf.ShapeError, match="WhileStack 'counting'.*index 30 is out of range"):
        fn(*[bad[t] for t in (names["x"], names["xs"], names["n"])])


def test_a_known_count_is_checked_natively(monkeypatch):
    monkeypatch.setattr(while_loop, "NATIVE_AFTER_ITERATIONS", 0)
    graph, outs, names = counting_graph(count=6)
    fn = tf.compile(outs)
    for trips in (6, 6):
        feeds = _feeds(names, trips)
        got = fn(*[feeds[t] for t in (names["x"], names["xs"], names["n"])])
        for g, r in zip(got, evaluate(outs, feeds)):
            assert g.shape == r.shape
            np.testing.assert_array_equal(g, r)
    for trips in (4, 9):  # too few, too many (the rows grow past the count natively)
        feeds = _feeds(names, trips)
        with pytest.raises(tf.ShapeError, match=f"ran {trips} iterations.*declared 6"):
            fn(*[feeds[t] for t in (names["x"], names["xs"], names["n"])])
    assert stack_loop_of(graph).paths() == [(True, None)]


def test_a_body_with_a_nested_loop_stays_on_the_host(monkeypatch):
    """A while loop inside the body is a host step the driver cannot call: the loop runs
    on the host, and its results are still the reference's."""
    monkeypatch.setattr(while_loop, "NATIVE_AFTER_ITERATIONS", 0)
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float32, [3], name="x")

        def body(i, v):
            _, halved = tf.while_loop(lambda j, w: j < i, lambda j, w: (j + 1, w * 0.5),
                                      [tf.constant(0), v])
            return [i + 1, v + halved], [halved, tf.cast(i, tf.float64)]

        finals, rows = while_stack(lambda i, v: i < n, body, [tf.constant(0), x])
    fn = tf.compile([*finals, *rows])
    feeds = {n: np.int32(6), x: np.array([1.0, -2.0, 4.0], np.float32)}
    got = fn(feeds[n], feeds[x])
    for g, r in zip(got, evaluate([*finals, *rows], feeds)):
        assert g.shape == r.shape and g.dtype == r.dtype
        np.testing.assert_allclose(g, r, rtol=1e-6)
    ((native, why),) = stack_loop_of(graph).paths()
    assert not native and "host step" in why


def test_threads_share_the_scan_driver(monkeypatch, scan):
    """Callers on several threads each get their own loop buffers and stacked outputs
    from the one driver (its constants and intermediates pooled per caller)."""
    monkeypatch.setattr(while_loop, "NATIVE_AFTER_ITERATIONS", 0)
    model, graph, fn = scan
    rng = np.random.default_rng(9)
    feeds = [{"s0": rng.standard_normal(3).astype(np.float32), "k0": np.array(j, np.int64),
              "a": rng.standard_normal((50 + j, 3)).astype(np.float32),
              "b": rng.integers(-9, 9, 50 + j).astype(np.int32)} for j in range(4)]
    want = [run_ort(model, f) for f in feeds]
    errors = []

    def caller(j):
        try:
            for _ in range(3):
                for g, w in zip(fn(**feeds[j]), want[j]):
                    np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5)
        except Exception as exc:  # (reported on the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert stack_loop_of(graph).paths() == [(True, None)]
