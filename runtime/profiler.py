"""The profiler: times every step of a plan over repeated runs and reports per kernel
time, share, bytes moved, FLOPs and achieved bandwidth, plus the runtime's own
overhead per call, and how close each kernel comes to this machine's roofline
(runtime.roofline). The runs are recorded as a trace too (`report.save_trace(path)`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from html import escape
from time import perf_counter_ns

from runtime import collector, roofline, trace
from runtime.executor import run_step


@dataclass
class KernelStats:
    name: str
    kind: str
    ops: tuple
    calls: int = 0
    total_s: float = 0.0
    bytes: int = 0
    flops: int = 0
    parallel: bool = False  # ran on several threads: measured against their ceiling

    @property
    def mean_s(self) -> float:
        return self.total_s / self.calls if self.calls else 0.0

    @property
    def gbytes_per_s(self) -> float:
        return self.bytes / self.mean_s / 1e9 if self.mean_s else 0.0

    @property
    def gflops_per_s(self) -> float:
        return self.flops / self.mean_s / 1e9 if self.mean_s else 0.0


# report.sorted(by=...): the key of each kernel, and whether the largest comes first
SORT_KEYS = {
    "time": (lambda k, r: k.total_s, True), "share": (lambda k, r: k.total_s, True),
    "mean": (lambda k, r: k.mean_s, True), "calls": (lambda k, r: k.calls, True),
    "bytes": (lambda k, r: k.bytes, True), "flops": (lambda k, r: k.flops, True),
    "GB/s": (lambda k, r: k.gbytes_per_s, True), "GFLOP/s": (lambda k, r: k.gflops_per_s, True),
    # furthest below its roof first (steps without one last)
    "limit": (lambda k, r: math.inf if r is None else r.fraction, False),
    "name": (lambda k, r: k.name, False),
}
TABLE_COLUMNS = ("kernel", "kind", "calls", "mean us", "share", "MB", "GB/s", "GFLOP/s",
                 "% of limit", "bound", "fused ops")


@dataclass
class ProfileReport:
    """Per-step times of profiled runs, each against this machine's roofline (measured
    once: runtime.roofline). `kernels` and `as_dicts()` hold full names and op lists; the
    printed table shortens them."""

    kernels: list[KernelStats]
    calls: int
    wall_s: float  # total wall time of all calls
    overhead_per_call_s: float = 0.0
    recorder: trace.Recorder | None = None  # the profiled runs' spans
    machine: roofline.Machine | None = None  # measured on first use when not given

    def save_trace(self, path: str) -> None:
        """Write the profiled runs as a Chrome/Perfetto trace (JSON trace events): a span
        per run and per step, each parallel kernel's chunks on the threads that ran them,
        and the planning and compiling the profile did first."""
        if self.recorder is None:
            raise ValueError("this report holds no trace (profile_plan makes one)")
        self.recorder.save(path)

    def ceilings(self) -> roofline.Machine:
        """This machine's measured ceilings (runtime.roofline.machine(), cached on disk)."""
        if self.machine is None:
            self.machine = roofline.machine()
        return self.machine

    def roof(self, k: KernelStats) -> roofline.Roof | None:
        """Where a step stands against its ceiling; None for a step that moves nothing."""
        if k.calls == 0 or (k.flops <= 0 and k.bytes <= 0):
            return None
        return roofline.roof(k.flops, k.bytes, k.mean_s, self.ceilings().ceiling(k.parallel))

    def sorted(self, by: str = "time") -> ProfileReport:
        """The same report with its steps in another order: time (or share), mean, calls,
        bytes, flops, GB/s, GFLOP/s (largest first), limit (furthest below its roof
        first) or name."""
        if by not in SORT_KEYS:
            raise ValueError(f"cannot sort a profile by {by!r}; choose one of "
                             f"{', '.join(SORT_KEYS)}")
        key, largest_first = SORT_KEYS[by]
        ordered = sorted(self.kernels, key=lambda k: key(k, self.roof(k)),
                         reverse=largest_first)
        return replace(self, kernels=ordered)

    def as_dicts(self) -> list[dict]:
        """A dict per step. "% of limit" is achieved / min(peak FLOP/s, bandwidth x
        intensity) as a fraction, "bound" memory or compute (None for both on a step
        that moves nothing, a view)."""
        total = sum(k.total_s for k in self.kernels) or 1.0
        rows = []
        for k in self.kernels:
            r = self.roof(k)
            rows.append({"name": k.name, "kind": k.kind, "ops": list(k.ops), "calls": k.calls,
                         "total_s": k.total_s, "mean_s": k.mean_s, "share": k.total_s / total,
                         "bytes": k.bytes, "flops": k.flops, "GB/s": k.gbytes_per_s,
                         "GFLOP/s": k.gflops_per_s, "parallel": k.parallel,
                         "intensity": None if r is None else r.intensity,
                         "limit GFLOP/s": None if r is None else r.limit_flops_per_s / 1e9,
                         "% of limit": None if r is None else r.fraction,
                         "bound": None if r is None else r.bound})
        return rows

    def _footer(self) -> str:
        per_call = self.wall_s / self.calls * 1e6 if self.calls else 0.0
        return (f"{self.calls} calls, {per_call:.1f} us per call, runtime overhead "
                f"{self.overhead_per_call_s * 1e6:.1f} us per call; limits: "
                f"{self.ceilings()}")

    def __str__(self) -> str:
        head = (f"{'kernel':<40} {'kind':<7} {'calls':>5} {'mean us':>10} {'share':>6} "
                f"{'MB':>8} {'GB/s':>7} {'GFLOP/s':>8} {'% limit':>7} {'bound':<7}  fused ops")
        lines = [head, "-" * len(head)]
        for row in self.as_dicts():
            ops = ", ".join(row["ops"])
            limit = "" if row["% of limit"] is None else f"{row['% of limit']:.1%}"
            lines.append(f"{row['name'][:40]:<40} {row['kind']:<7} {row['calls']:>5} "
                         f"{row['mean_s'] * 1e6:>10.1f} {row['share']:>6.1%} "
                         f"{row['bytes'] / 1e6:>8.2f} {row['GB/s']:>7.2f} "
                         f"{row['GFLOP/s']:>8.2f} {limit:>7} {row['bound'] or '':<7}  "
                         f"{ops[:60]}")
        lines.append(self._footer())
        return "\n".join(lines)

    def html_table(self) -> str:
        """The table as HTML, every name escaped (Jupyter, graphjit's report page)."""
        head = "".join(f"<th>{h}</th>" for h in TABLE_COLUMNS)
        body = []
        for r in self.as_dicts():
            limit = "" if r["% of limit"] is None else f"{r['% of limit']:.1%}"
            body.append(
                f"<tr><td class=\"kernel\">{escape(r['name'])}</td>"
                f"<td>{escape(str(r['kind']))}</td><td>{r['calls']}</td>"
                f"<td>{r['mean_s'] * 1e6:.1f}</td><td>{r['share']:.1%}</td>"
                f"<td>{r['bytes'] / 1e6:.2f}</td><td>{r['GB/s']:.2f}</td>"
                f"<td>{r['GFLOP/s']:.2f}</td><td>{limit}</td><td>{r['bound'] or ''}</td>"
                f"<td>{escape(', '.join(r['ops']))}</td></tr>")
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                f"<p>{escape(self._footer())}</p>")

    def _repr_html_(self) -> str:
        """The same table for Jupyter: self-contained, names escaped."""
        return self.html_table()


class _StepTimer:
    """Times each step; keeps (step index, start, end) to make trace spans from after
    the runs, so recording them adds nothing to the measured overhead."""

    def __init__(self, plan):
        self.stats = [KernelStats(s.name, s.kind, s.ops, bytes=s.bytes, flops=s.flops,
                                  parallel=s.parallel) for s in plan.steps]
        self.samples: list[tuple] = []

    def run(self, plan, program, arrays) -> None:
        clock = perf_counter_ns
        samples = self.samples
        for index, (stats, (kind, fn, args, outs, view_shape)) in enumerate(
                zip(self.stats, program)):
            start = clock()
            run_step(kind, fn, args, outs, view_shape, arrays)
            end = clock()
            stats.total_s += (end - start) * 1e-9
            stats.calls += 1
            samples.append((index, start, end))


def profile_plan(executor, inputs, repeat: int,
                 recorder: trace.Recorder | None = None) -> ProfileReport:
    """Time `repeat` runs of the executor's plan; the first (warm-up) run is not counted.
    The runs are recorded into `recorder` (a new one by default), which the report keeps."""
    executor.run(inputs)
    timer = _StepTimer(executor.plan)
    recorder = trace.Recorder() if recorder is None else recorder
    runs = []
    with recorder, collector.paused():  # (parallel chunks and nested plans record themselves)
        start = time.perf_counter()
        for _ in range(repeat):
            begin = perf_counter_ns()
            executor.run(inputs, timer=timer)
            runs.append((begin, perf_counter_ns()))
        wall = time.perf_counter() - start
        plan = executor.plan
        for begin, end in runs:
            trace.record("plan run", "call", begin, end,
                         {"plan": plan.summary, "steps": len(plan.steps), "profiled": True})
        for index, begin, end in timer.samples:
            trace.record(plan.steps[index].name, str(plan.steps[index].kind), begin, end,
                         step=(plan, index))
    in_steps = sum(k.total_s for k in timer.stats)
    return ProfileReport(timer.stats, repeat, wall, max(wall - in_steps, 0.0) / repeat,
                         recorder)
