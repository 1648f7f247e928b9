"""Traces of compiled code (graphjit.profiler.trace, fn.profile(...).save_trace, TF1's
RunOptions/RunMetadata and timeline): valid trace-event JSON whose spans nest per thread,
kernel spans inside their call carrying the kernel, its ops and the lines that made them."""

from __future__ import annotations

import inspect
import json
import shutil

import numpy as np
import pytest

import graphjit as tf
from graphjit.client import timeline
from runtime import trace as runtime_trace
from tests.trace_format import check_trace, within


def _build():
    """y = tanh(2x + 1), s = sum(y), each op made on a line of this function."""
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = tf.tanh(x * 2.0 + 1.0, name="y")
    s = tf.reduce_sum(y, name="s")
    return x, y, s


_LINES, _FIRST = inspect.getsourcelines(_build)
OUR_LINES = {f"{__file__}:{n}" for n in range(_FIRST, _FIRST + len(_LINES))}


@pytest.fixture
def graph():
    g = tf.Graph()
    with g.as_default():
        _build()
    return g


def _kernel_spans(spans):
    return [s for s in spans if s["cat"] in ("kernel", "extern", "host", "view")]


def _check_kernels_within_runs(spans) -> None:
    """Every step span lies in a run span, and a run's steps take no more than it."""
    runs = [s for s in spans if s["cat"] == "call"]
    assert runs
    steps = _kernel_spans(spans)
    for step in steps:
        assert any(within(step, run) for run in runs), step
    for run in runs:
        assert sum(s["dur"] for s in steps if within(s, run)) <= run["dur"] + 1e-3


def test_a_trace_file_shows_planning_and_each_kernel_call(graph, tmp_path):
    x, y, s = (graph.get_tensor_by_name(n) for n in ("x:0", "y:0", "s:0"))
    path = tmp_path / "trace.json"
    with tf.profiler.trace(str(path)):
        fn = tf.compile([y, s])
        fn(np.ones((4, 3), np.float32))
        fn(np.zeros((4, 3), np.float32))
    spans = check_trace(path.read_text())
    names = [e["name"] for e in spans]
    for phase in ("optimize", "plan", "lower"):
        assert names.count(phase) == 1, phase
    plan = next(e for e in spans if e["name"] == "plan")
    compiles = [e for e in spans if e["cat"] == "compile"]
    assert compiles and all(within(c, plan) for c in compiles)
    assert len([e for e in spans if e["cat"] == "call"]) == 2
    _check_kernels_within_runs(spans)
    kernels = _kernel_spans(spans)
    assert len(kernels) == 2 * len(fn.kernels)
    for span in kernels:
        args = span["args"]
        assert args["kernel"] == span["name"] and args["ops"]
        assert set(args["ops"].values()) <= OUR_LINES, args["ops"]
        assert args["inputs"] == ["float32[4,3]"] and args["bytes"] > 0
    fused_ops = {op for span in kernels for op in span["args"]["ops"]}
    assert {"y", "s"} <= fused_ops


def test_a_parallel_kernel_shows_its_chunks(set_threads, monkeypatch):
    set_threads(2)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [64, 512], name="x")
        fn = tf.compile(tf.exp(x * 0.5))
    with tf.profiler.trace() as recorder:
        fn(np.zeros((64, 512), np.float32))
    spans = check_trace(recorder.chrome_trace())
    chunks = [s for s in spans if s["cat"] == "chunk"]
    kernel, = [s for s in spans if s["cat"] == "kernel"]
    assert chunks and all(within(c, kernel) for c in chunks)
    rows = sorted(tuple(c["args"]["rows"]) for c in chunks)
    assert rows[0][0] == 0 and rows[-1][1] == 64
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    threads = {recorder.thread_names[c["tid"]] for c in chunks}
    assert all(t == "MainThread" or t.startswith("graphjit-") for t in threads), threads


def test_session_run_is_a_span_holding_compiling_planning_and_the_call(graph):
    s = graph.get_tensor_by_name("s:0")
    with tf.profiler.trace() as recorder, tf.Session(graph=graph) as sess:
        sess.run(s, {"x:0": np.ones((2, 3))})
    spans = check_trace(recorder.chrome_trace())
    run, = [e for e in spans if e["name"] == "Session.run"]
    assert run["args"] == {"fetches": ["s:0"], "engine": "compiled"}
    assert {"optimize", "plan", "plan run"} <= {e["name"] for e in spans if within(e, run)}
    _check_kernels_within_runs(spans)


def test_a_loop_s_plans_run_inside_its_host_step():
    g = tf.Graph()
    with g.as_default():
        i = tf.while_loop(lambda i: i < 3, lambda i: i + 1, [tf.constant(0)])
        fn = tf.compile(i)
    with tf.profiler.trace() as recorder:
        assert fn() == 3
    spans = check_trace(recorder.chrome_trace())
    outer = min((e for e in spans if e["cat"] == "call"), key=lambda e: e["ts"])
    inner = [e for e in spans if e["cat"] == "call" and e is not outer]
    assert len(inner) == 7 and all(within(e, outer) for e in inner)  # 4 conds, 3 bodies


@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_tf1_full_trace_fills_run_metadata_for_the_timeline(graph, engine):
    s = graph.get_tensor_by_name("s:0")
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    metadata = tf.RunMetadata()
    with tf.Session(graph=graph, engine=engine) as sess:
        value = sess.run(s, {"x:0": np.zeros((2, 3))}, options=options,
                         run_metadata=metadata)
    np.testing.assert_allclose(value, 6 * np.tanh(1.0), rtol=1e-6)
    device, = metadata.step_stats.dev_stats
    assert device.device.endswith("CPU:0") and device.node_stats
    assert device.node_stats[-1].node_name == "Session.run"
    text = timeline.Timeline(metadata.step_stats).generate_chrome_trace_format()
    spans = check_trace(json.loads(text))
    assert len(spans) == len(device.node_stats)
    work = [e for e in spans if e["cat"] in ("kernel", "reference")]
    assert work and all(set(e["args"]["ops"].values()) <= OUR_LINES for e in work)
    if engine == "reference":  # one span per op (constants too)
        assert {"Add", "Mul", "Sum", "Tanh"} <= {e["args"]["kernel"] for e in work}
    else:
        _check_kernels_within_runs(spans)


def test_untraced_calls_record_nothing(graph, monkeypatch):
    x, s = graph.get_tensor_by_name("x:0"), graph.get_tensor_by_name("s:0")
    fn = tf.compile(s)
    with tf.profiler.trace() as recorder:
        fn(np.ones((2, 3), np.float32))
    count = len(recorder.spans)

    def refuse(*args, **kwargs):
        raise AssertionError("recorded without a trace")
    monkeypatch.setattr(runtime_trace, "record", refuse)
    fn(np.ones((2, 3), np.float32))
    for engine in ("compiled", "reference"):
        with tf.Session(graph=graph, engine=engine) as sess:
            sess.run(s, {x: np.ones((2, 3))})
            sess.run(s, {x: np.ones((2, 3))}, options=tf.RunOptions(),
                     run_metadata=tf.RunMetadata())  # NO_TRACE
            sess.run(s, {x: np.ones((2, 3))},  # a trace level, but nowhere to put it
                     options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE))
    assert len(recorder.spans) == count and runtime_trace.active == ()


def test_profile_saves_a_trace_of_its_planning_and_runs(graph, tmp_path):
    s = graph.get_tensor_by_name("s:0")
    fn = tf.compile(s)
    report = fn.profile(np.ones((5, 3), np.float32), repeat=2)
    report.save_trace(tmp_path / "profile.json")
    spans = check_trace((tmp_path / "profile.json").read_text())
    assert "plan" in {e["name"] for e in spans}  # the profile planned for these shapes
    runs = [e for e in spans if e["cat"] == "call" and e["args"].get("profiled")]
    assert len(runs) == 2
    _check_kernels_within_runs(spans)


def test_a_trace_into_a_missing_folder_is_refused_before_running(tmp_path):
    with pytest.raises(tf.InvalidArgumentError, match="does not exist"):
        with tf.profiler.trace(tmp_path / "nowhere" / "trace.json"):
            raise AssertionError("the block ran")


def test_tf_profiler_names_graphjit_lacks_say_so():
    with pytest.raises(tf.UnsupportedNameError, match="tf.profiler.profile"):
        tf.profiler.profile  # noqa: B018


def _trace_processor() -> str | None:
    """A trace processor binary already on PATH: the perfetto package would download one."""
    return shutil.which("trace_processor_shell") or shutil.which("trace_processor")


def test_perfetto_loads_the_trace(graph, tmp_path):
    perfetto = pytest.importorskip("perfetto.trace_processor")
    binary = _trace_processor()
    if binary is None:
        pytest.skip("no trace_processor_shell on PATH (perfetto would download it)")
    s = graph.get_tensor_by_name("s:0")
    fn = tf.compile(s)
    path = tmp_path / "trace.json"
    with tf.profiler.trace(path):
        fn(np.ones((2, 3), np.float32))
    processor = perfetto.TraceProcessor(
        trace=str(path), config=perfetto.TraceProcessorConfig(bin_path=binary))
    try:
        names = {row.name for row in processor.query("select name from slice")}
    finally:
        processor.close()
    assert {"plan run", "plan"} <= names


def test_a_timeline_of_an_untraced_run_metadata_is_an_empty_trace():
    metadata = tf.RunMetadata()
    assert metadata.step_stats.dev_stats == []
    assert check_trace(timeline.Timeline(metadata.step_stats)
                       .generate_chrome_trace_format()) == []
    with pytest.raises(tf.InvalidArgumentError, match="step_stats"):
        timeline.Timeline(metadata)
