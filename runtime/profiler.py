"""The profiler: times every step of a plan over repeated runs and reports per kernel
time, share, bytes moved, FLOPs and achieved bandwidth, plus the runtime's own
overhead per call. The runs are recorded as a trace too (`report.save_trace(path)`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from time import perf_counter_ns

from runtime import trace
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

    @property
    def mean_s(self) -> float:
        return self.total_s / self.calls if self.calls else 0.0

    @property
    def gbytes_per_s(self) -> float:
        return self.bytes / self.mean_s / 1e9 if self.mean_s else 0.0

    @property
    def gflops_per_s(self) -> float:
        return self.flops / self.mean_s / 1e9 if self.mean_s else 0.0


@dataclass
class ProfileReport:
    kernels: list[KernelStats]
    calls: int
    wall_s: float  # total wall time of all calls
    overhead_per_call_s: float = 0.0
    recorder: trace.Recorder | None = None  # the profiled runs' spans

    def save_trace(self, path: str) -> None:
        """Write the profiled runs as a Chrome/Perfetto trace (JSON trace events): a span
        per run and per step, each parallel kernel's chunks on the threads that ran them,
        and the planning and compiling the profile did first."""
        if self.recorder is None:
            raise ValueError("this report holds no trace (profile_plan makes one)")
        self.recorder.save(path)

    def as_dicts(self) -> list[dict]:
        total = sum(k.total_s for k in self.kernels) or 1.0
        return [{"name": k.name, "kind": k.kind, "ops": list(k.ops), "calls": k.calls,
                 "total_s": k.total_s, "mean_s": k.mean_s, "share": k.total_s / total,
                 "bytes": k.bytes, "flops": k.flops, "GB/s": k.gbytes_per_s,
                 "GFLOP/s": k.gflops_per_s} for k in self.kernels]

    def __str__(self) -> str:
        head = (f"{'kernel':<40} {'kind':<7} {'calls':>5} {'mean us':>10} {'share':>6} "
                f"{'MB':>8} {'GB/s':>7} {'GFLOP/s':>8}  fused ops")
        lines = [head, "-" * len(head)]
        for row in self.as_dicts():
            ops = ", ".join(row["ops"])
            lines.append(f"{row['name'][:40]:<40} {row['kind']:<7} {row['calls']:>5} "
                         f"{row['mean_s'] * 1e6:>10.1f} {row['share']:>6.1%} "
                         f"{row['bytes'] / 1e6:>8.2f} {row['GB/s']:>7.2f} "
                         f"{row['GFLOP/s']:>8.2f}  {ops[:60]}")
        lines.append(f"{self.calls} calls, {self.wall_s / self.calls * 1e6:.1f} us per call, "
                     f"runtime overhead {self.overhead_per_call_s * 1e6:.1f} us per call")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The same table for Jupyter: self-contained, names escaped."""
        head = "".join(f"<th>{h}</th>" for h in ("kernel", "kind", "calls", "mean us", "share",
                                                 "MB", "GB/s", "GFLOP/s", "fused ops"))
        rows = "".join(
            f"<tr><td>{escape(r['name'])}</td><td>{escape(str(r['kind']))}</td>"
            f"<td>{r['calls']}</td><td>{r['mean_s'] * 1e6:.1f}</td><td>{r['share']:.1%}</td>"
            f"<td>{r['bytes'] / 1e6:.2f}</td><td>{r['GB/s']:.2f}</td>"
            f"<td>{r['GFLOP/s']:.2f}</td><td>{escape(', '.join(r['ops']))}</td></tr>"
            for r in self.as_dicts())
        per_call = self.wall_s / self.calls * 1e6 if self.calls else 0.0
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                f"<p>{self.calls} calls, {per_call:.1f} us per call, runtime overhead "
                f"{self.overhead_per_call_s * 1e6:.1f} us per call</p>")



class _StepTimer:
    """Times each step; keeps (step index, start, end) to make trace spans from after
    the runs, so recording them adds nothing to the measured overhead."""

    def __init__(self, plan):
        self.stats = [KernelStats(s.name, s.kind, s.ops, bytes=s.bytes, flops=s.flops)
                      for s in plan.steps]
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
    with recorder:  # (parallel kernels' chunks and nested plans record themselves)
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
