"""runtime.trace on its own: spans of hand-built plans (Python callables, no Numba), of
parallel chunks on the pool's threads, of profiled runs; and nothing when no trace is on."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from codegen import parallel
from runtime import trace
from runtime.executor import Executor
from runtime.plan import HOST, KERNEL, Plan, SlotSpec, Step, assign_buffers
from runtime.profiler import profile_plan
from tests.trace_format import check_trace, within

F32 = np.dtype(np.float32)


def _double(x, out):
    out[...] = 2 * x


def _executor() -> Executor:
    """y = 2x (a kernel), z = y + 1 (a host step), with the ops' user lines."""
    slots = [SlotSpec((3,), F32, "input"), SlotSpec((3,), F32, "buffer"),
             SlotSpec((None,), F32, "host")]
    steps = [Step("fused_mul", KERNEL, _double, (0,), (1,), ops=("mul",), bytes=24, flops=3,
                  sources=("model.py:7",)),
             Step("add", HOST, lambda y: (y + 1,), (1,), (2,), ops=("add",),
                  sources=("model.py:8",))]
    plan = Plan(slots, steps, (0,), (2,), summary="the plan computing 'add:0'")
    assign_buffers(plan)
    return Executor(plan)


def test_a_traced_run_has_a_span_per_step_inside_the_run_span():
    executor = _executor()
    with trace.Recorder() as recorder:
        (z,) = executor.run([np.ones(3, F32)])
    np.testing.assert_array_equal(z, [3, 3, 3])
    spans = check_trace(recorder.chrome_trace())
    run, = [s for s in spans if s["cat"] == "call"]
    kernel, host = [s for s in spans if s["cat"] != "call"]
    assert run["args"]["plan"] == "the plan computing 'add:0'" and run["args"]["steps"] == 2
    assert kernel["args"] == {"kernel": "fused_mul", "kind": "kernel",
                              "ops": {"mul": "model.py:7"}, "inputs": ["float32[3]"],
                              "outputs": ["float32[3]"], "bytes": 24, "flops": 3}
    assert (host["name"], host["cat"], host["args"]["outputs"]) == ("add", "host",
                                                                    ["float32[?]"])
    assert within(kernel, run) and within(host, run)
    assert kernel["ts"] + kernel["dur"] <= host["ts"]


def test_no_span_is_made_outside_a_trace(monkeypatch):
    executor = _executor()
    recorder = trace.Recorder()
    with recorder:
        executor.run([np.ones(3, F32)])
    count = len(recorder.spans)

    def refuse(*args, **kwargs):
        raise AssertionError("recorded without a trace")
    monkeypatch.setattr(trace, "record", refuse)
    executor.run([np.ones(3, F32)])
    assert trace.active == () and parallel._chunk_observer is None
    assert len(recorder.spans) == count


def test_recorders_may_overlap_and_stop_in_any_order():
    executor = _executor()
    outer, inner = trace.Recorder().start(), trace.Recorder().start()
    executor.run([np.ones(3, F32)])
    outer.stop()
    executor.run([np.ones(3, F32)])
    inner.stop()
    assert (len(outer.spans), len(inner.spans)) == (3, 6)
    assert trace.active == ()


def test_chunks_are_spans_on_the_threads_that_ran_them(set_threads, monkeypatch):
    set_threads(2)
    helper_ran = threading.Event()
    caller = threading.get_ident()

    def rows(x, out, lo, hi):  # the caller's chunk waits for a helper's: both take one
        if threading.get_ident() == caller:
            helper_ran.wait(10)
        else:
            helper_ran.set()
        out[lo:hi] = x[lo:hi] + 1

    x = np.arange(16, dtype=F32)
    out = np.empty_like(x)
    with trace.Recorder() as recorder:
        parallel.run_chunked(rows, (x, out), len(x))
    np.testing.assert_array_equal(out, x + 1)
    spans = check_trace(recorder.chrome_trace())
    assert {s["name"] for s in spans} == {"rows"} and {s["cat"] for s in spans} == {"chunk"}
    covered = sorted(tuple(s["args"]["rows"]) for s in spans)
    assert covered[0][0] == 0 and covered[-1][1] == 16
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))  # each row once
    assert {s["args"]["chunks"] for s in spans} == {len(spans)}
    names = {recorder.thread_names[s["tid"]] for s in spans}
    assert threading.current_thread().name in names
    assert any(name.startswith("graphjit-") for name in names)


def test_profile_keeps_a_trace_of_its_runs(tmp_path):
    executor = _executor()
    report = profile_plan(executor, [np.ones(3, F32)], repeat=3)
    report.save_trace(str(tmp_path / "profile.json"))
    spans = check_trace((tmp_path / "profile.json").read_text())
    runs = [s for s in spans if s["cat"] == "call"]
    assert len(runs) == 3 and all(r["args"]["profiled"] for r in runs)
    for run in runs:
        inside = [s for s in spans if s["cat"] != "call" and within(s, run)]
        assert [s["name"] for s in inside] == ["fused_mul", "add"]
    assert report.kernels[0].calls == 3


def test_a_failing_step_still_ends_its_span():
    def broken(x, out):
        raise ValueError("broken kernel")
    plan = Plan([SlotSpec((3,), F32, "input"), SlotSpec((3,), F32, "output")],
                [Step("broken", KERNEL, broken, (0,), (1,))], (0,), (1,))
    assign_buffers(plan)
    with trace.Recorder() as recorder, pytest.raises(ValueError, match="broken kernel"):
        Executor(plan).run([np.ones(3, F32)])
    check_trace(recorder.chrome_trace())
    assert sorted(s.name for s in recorder.spans) == ["broken", "plan run"]


def test_concurrent_callers_get_a_track_each():
    executor = _executor()

    def calls():
        for _ in range(5):
            executor.run([np.ones(3, F32)])
    threads = [threading.Thread(target=calls, name=f"caller-{i}") for i in range(2)]
    with trace.Recorder() as recorder:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    spans = check_trace(recorder.chrome_trace())
    by_thread = {}
    for s in spans:
        by_thread.setdefault(recorder.thread_names[s["tid"]], []).append(s["cat"])
    assert sorted(by_thread) == ["caller-0", "caller-1"]
    assert all(cats.count("call") == 5 and len(cats) == 15 for cats in by_thread.values())
