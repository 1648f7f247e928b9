"""TF1's timeline: a traced Session.run's step_stats as a Chrome trace.

    md = tf.RunMetadata()
    sess.run(y, options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE), run_metadata=md)
    with open("timeline.json", "w") as f:
        f.write(timeline.Timeline(md.step_stats).generate_chrome_trace_format())
"""

from __future__ import annotations

import json

from graphjit.errors import InvalidArgumentError
from graphjit.unsupported import module_getattr as _module_getattr
from runtime.trace import chrome_trace


class Timeline:
    """Turns StepStats into a trace: a process per device, a track per thread, an "X"
    event per NodeExecStats (ts from the run's first span, in microseconds)."""

    def __init__(self, step_stats, graph=None):
        if not hasattr(step_stats, "dev_stats"):
            raise InvalidArgumentError(f"Timeline takes a RunMetadata's step_stats, got "
                                       f"{type(step_stats).__name__}")
        self.step_stats = step_stats

    def generate_chrome_trace_format(self, show_dataflow: bool = True,
                                     show_memory: bool = False,
                                     op_time: str = "schedule") -> str:
        """The trace as a JSON string. (graphjit records no dataflow arrows or memory
        counters: `show_dataflow` and `show_memory` change nothing.)"""
        nodes = [n for device in self.step_stats.dev_stats for n in device.node_stats]
        origin = min((_start_ns(n) for n in nodes), default=0)
        events = []
        for pid, device in enumerate(self.step_stats.dev_stats):
            spans = [{"name": n.node_name, "cat": n.category or "Op", "ph": "X", "pid": pid,
                      "tid": n.thread_id, "ts": (_start_ns(n) - origin) / 1e3,
                      "dur": (n.all_end_rel_nanos or n.all_end_rel_micros * 1000) / 1e3,
                      "args": dict(n.args) or {"name": n.node_name}}
                     for n in device.node_stats]
            document = chrome_trace(spans, device.thread_names, device.device, pid)
            events += document["traceEvents"]
        return json.dumps({"traceEvents": events, "displayTimeUnit": "ns"})


def _start_ns(node) -> int:
    return node.all_start_nanos or node.all_start_micros * 1000


__getattr__ = _module_getattr(__name__, "tensorflow.python.client.timeline")
