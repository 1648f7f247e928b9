"""Traces of what compiled code did, for chrome://tracing and ui.perfetto.dev.

    with graphjit.profiler.trace("trace.json"):
        fn(x)            # compiled calls, Session.run, either engine
        sess.run(y, feed_dict={...})

records, on the thread that ran each: every plan run, each of its kernel, library and
host calls (args: the kernel, its fused ops with the line of yours that created each, the
shapes it reads and writes, planned bytes and FLOPs), every chunk of a parallel kernel
on the helper thread that took it, and the optimizing, lowering and compiling of new
plans. `fn.profile(x).save_trace(path)` writes the same for profiled runs; TF1's
RunOptions(trace_level=FULL_TRACE) fills a RunMetadata's step_stats
(graphjit.client.timeline). Outside a trace nothing is recorded and a call pays one test.
"""

from __future__ import annotations

import contextlib
import os

from graphjit.config import DeviceStepStats, NodeExecStats, StepStats
from graphjit.errors import InvalidArgumentError
from graphjit.unsupported import module_getattr as _module_getattr
from runtime.trace import Recorder

DEVICE = "/job:localhost/replica:0/task:0/device:CPU:0"


@contextlib.contextmanager
def trace(path: str | os.PathLike | None = None):
    """Record everything graphjit runs in the block (all threads) and write it to `path`
    as a Chrome/Perfetto trace (JSON trace events) when the block ends, also when it
    raises. Yields the Recorder: `.spans`, `.chrome_trace()`, `.save(path)`."""
    if path is not None:
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):  # (said now, not after a long run)
            raise InvalidArgumentError(f"cannot write the trace to {path!r}: folder "
                                       f"{folder!r} does not exist")
    recorder = Recorder()
    try:
        with recorder:
            yield recorder
    finally:
        if path is not None:
            recorder.save(path)


def step_stats(recorder: Recorder) -> StepStats:
    """The recorder's spans as TF's StepStats: one device (the CPU), a NodeExecStats per
    span with epoch microseconds (and nanoseconds), its thread and graphjit's args."""
    nodes = []
    for span in recorder.spans:
        start = span.start + recorder.epoch_offset
        length = span.end - span.start
        nodes.append(NodeExecStats(
            node_name=span.name, timeline_label=f"{span.name} ({span.category})",
            all_start_micros=start // 1000, op_end_rel_micros=length // 1000,
            all_end_rel_micros=length // 1000, all_start_nanos=start,
            op_end_rel_nanos=length, all_end_rel_nanos=length, thread_id=span.tid,
            category=span.category, args=span.args))
    device = DeviceStepStats(device=DEVICE, node_stats=nodes,
                             thread_names=dict(recorder.thread_names))
    return StepStats(dev_stats=[device])


__getattr__ = _module_getattr(__name__, "tf.profiler")
