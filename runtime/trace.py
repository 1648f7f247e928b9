"""Recording what compiled code did as spans for a Chrome/Perfetto trace.

While a Recorder records (graphjit.profiler.trace, a Session.run with a FULL_TRACE
RunOptions, fn.profile), plan runs, their steps, the chunks of parallel kernels and the
front end's phases (optimizing, lowering, compiling) become spans on the threads that ran
them. When none records, `active` is an empty tuple and the executor's one test of it is
all a call pays. A recorder records every thread of the process while it is active.

Spans are exported in the JSON trace-event format: "X" (complete) events with ts/dur in
microseconds, and "M" events naming the process and threads.
"""

from __future__ import annotations

import json
import os
import threading
import time
from time import perf_counter_ns

active: tuple = ()  # the recorders recording now: the flag every traced path tests
_lock = threading.Lock()  # (starting and stopping recorders; recording takes no lock)
PROCESS_NAME = "graphjit"


class Span:
    """One timed piece of work on one thread; times are perf_counter_ns values. A plan
    step's span keeps (plan, index) and makes its args only when exported."""

    __slots__ = ("name", "category", "start", "end", "tid", "_args", "_step")

    def __init__(self, name: str, category: str, start: int, end: int, tid: int,
                 args: dict | None = None, step: tuple | None = None):
        self.name, self.category, self.start, self.end = name, category, start, end
        self.tid, self._args, self._step = tid, args, step

    @property
    def args(self) -> dict:
        if self._args is None:
            self._args = step_args(*self._step) if self._step is not None else {}
        return self._args

    def __repr__(self) -> str:
        return f"<{self.category} span {self.name!r} {(self.end - self.start) / 1e3:.1f} us>"


def step_args(plan, index: int) -> dict:
    """What a step's span tells: its kernel, each fused graph op with the user's line that
    created it, the shapes it reads and writes, planned bytes and FLOPs."""
    step = plan.steps[index]
    sources = step.sources or ("",) * len(step.ops)
    return {"kernel": step.name, "kind": str(step.kind),
            "ops": dict(zip(step.ops, sources)),
            "inputs": [_spec_text(plan.slots[s]) for s in step.inputs],
            "outputs": [_spec_text(plan.slots[s]) for s in step.outputs],
            "bytes": step.bytes, "flops": step.flops}


def _spec_text(spec) -> str:
    """`float32[8,3]`; `?` for a dim a host step decides when it runs."""
    dims = ",".join("?" if d is None else str(d) for d in spec.shape)
    return f"{spec.dtype.name}[{dims}]"


class Recorder:
    """Collects spans while active (`with recorder:`, or start()/stop())."""

    def __init__(self):
        self.spans: list[Span] = []
        self.thread_names: dict[int, str] = {}
        self.origin = perf_counter_ns()  # ts 0 of the exported trace
        self.epoch_offset = time.time_ns() - perf_counter_ns()  # perf_counter -> epoch ns

    def start(self) -> Recorder:
        global active
        with _lock:
            if self not in active:
                active = active + (self,)
                # (here, not at import: codegen.parallel loads Numba, which a trace of
                # the reference interpreter does not need until something compiles)
                from codegen import parallel
                parallel.observe_chunks(_record_chunk)
        return self

    def stop(self) -> None:
        global active
        with _lock:
            active = tuple(r for r in active if r is not self)
            if not active:
                from codegen import parallel
                parallel.observe_chunks(None)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def events(self) -> list[dict]:
        """The spans as trace events, ts/dur in microseconds from the recorder's start."""
        pid = os.getpid()
        return [{"name": s.name, "cat": s.category, "ph": "X", "pid": pid, "tid": s.tid,
                 "ts": (s.start - self.origin) / 1e3, "dur": (s.end - s.start) / 1e3,
                 "args": s.args} for s in self.spans]

    def chrome_trace(self) -> dict:
        return chrome_trace(self.events(), self.thread_names)

    def save(self, path: str) -> None:
        """Write the trace as JSON, for chrome://tracing or ui.perfetto.dev."""
        write_trace(path, self.chrome_trace())


def chrome_trace(events: list[dict], thread_names: dict[int, str],
                 process_name: str = PROCESS_NAME, pid: int | None = None) -> dict:
    """A trace-event document: `events` (of process `pid`, default this one) plus
    metadata naming the process and its threads."""
    pid = os.getpid() if pid is None else pid
    meta = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
             "args": {"name": process_name}}]
    meta += [{"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}
             for tid, name in sorted(thread_names.items())]
    return {"traceEvents": meta + events, "displayTimeUnit": "ns"}


def write_trace(path: str, document: dict) -> None:
    with open(path, "w") as f:
        json.dump(document, f, separators=(",", ":"))


def record(name: str, category: str, start: int, end: int, args: dict | None = None,
           step: tuple | None = None) -> None:
    """Add a span of the calling thread to every active recorder."""
    tid = threading.get_native_id()
    span = Span(name, category, start, end, tid, args, step)
    for recorder in active:
        recorder.spans.append(span)  # (list.append is atomic: no lock)
        if tid not in recorder.thread_names:
            recorder.thread_names[tid] = threading.current_thread().name


def _record_chunk(name: str, lo: int, hi: int, count: int, start: int, end: int) -> None:
    record(name, "chunk", start, end, {"rows": [lo, hi], "chunks": count})


class span:  # noqa: N801 - used as a function: `with trace.span(...)`
    """`with span(name, category, args):` records the block when a trace is recording
    as it starts; otherwise it costs a test."""

    __slots__ = ("name", "category", "args", "start")

    def __init__(self, name: str, category: str, args: dict | None = None):
        self.name, self.category, self.args = name, category, args

    def __enter__(self) -> span:
        self.start = perf_counter_ns() if active else None
        return self

    def __exit__(self, *exc) -> None:
        if self.start is not None and active:
            record(self.name, self.category, self.start, perf_counter_ns(), self.args)
