"""From a LoweredProgram to a runtime Plan: its kernels are compiled by the Numba backend
(identical kernels compile once), its steps become the plan's calls and its slots get
buffers shared by liveness. `build_plan` is lowering and this together.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING

from codegen.loopir import Kernel, format_kernel
from codegen.record import MutableRecord
from graphjit import compile_log
from graphjit.compile_progress import CompileProgress
from graphjit.errors import CompileError, ResourceExhaustedError
from graphjit.interpreter import format_bytes, memory_limit
from graphjit.lower.program import LateShapes, LoweredProgram, lower
from graphjit.plan_info import KernelRecord
from runtime import trace
from runtime.executor import Executor
from runtime.plan import Plan, Step, StepKind, assign_buffers

if TYPE_CHECKING:
    from codegen.numba_backend import CompiledKernel


@dataclass(eq=False, repr=False)
class LoweredStep(MutableRecord):
    """What lowering made of a region: for `fn.kernels`, `ir()` and the profiler.
    `compiled` is None for views and host steps, and before compiling."""

    name: str
    kind: StepKind
    ops: tuple[str, ...]
    kernel: Kernel | None = None
    compiled: CompiledKernel | None = None

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}: {', '.join(self.ops)}>"


def listed_steps(program: LoweredProgram, compiled: dict | None = None) -> list[LoweredStep]:
    """The steps `fn.kernels` shows, with their compiled kernels where given
    (step index -> CompiledKernel)."""
    compiled = compiled or {}
    return [LoweredStep(s.name, s.kind, s.ops, s.kernel, compiled.get(i))
            for i, s in enumerate(program.steps) if s.listed]


def compile_program(program: LoweredProgram,
                    records: list[KernelRecord] | None = None) -> dict[int, CompiledKernel]:
    """Step index -> its compiled kernel; a failure names the step's graph ops and its
    loop IR (and the generated source, when Numba failed). Appends to `records` how each
    kernel was got (cache hit or miss) and its seconds, logs them (graphjit.compile_log)
    and shows progress on a terminal when compiling takes long."""
    # (imported here: Numba loads on the first compile, not with graphjit)
    from codegen.numba_backend import (
        BackendError,
        KernelCompileError,
        compile_kernels,
        recording_outcomes,
    )
    indices = [i for i, s in enumerate(program.steps) if s.kernel is not None]
    compile_log.kernels_starting(program.summary, [program.steps[i] for i in indices])
    records = [] if records is None else records
    progress = CompileProgress(len(indices))
    compiled = []
    try:
        for i in indices:  # (one at a time: a trace shows each kernel's compile)
            step = program.steps[i]
            progress.starting(step.name)
            start = perf_counter()
            with trace.span(f"compile {step.name}", "compile",
                            {"kernel": step.name, "ops": list(step.ops)}), \
                    recording_outcomes() as outcomes:
                compiled += compile_kernels([step.kernel])
            outcome = outcomes[-1] if outcomes else None
            record = KernelRecord(step.name, tuple(step.ops),
                                  outcome.source if outcome else "unknown",
                                  outcome.reason if outcome else "", perf_counter() - start)
            records.append(record)
            compile_log.kernel_done(record)
            progress.finished_one()
    except KernelCompileError as exc:
        step = program.steps[indices[len(compiled)]]
        source = (f"\ngenerated source:\n{exc.cause.source}"
                  if isinstance(exc.cause, BackendError) else "")
        raise CompileError(f"{exc.cause}\nfused graph ops: {', '.join(step.ops)}\n"
                           f"loop IR:\n{format_kernel(step.kernel)}{source}") from exc.cause
    finally:
        progress.finish()
    return dict(zip(indices, compiled))


def make_plan(program: LoweredProgram, records: list[KernelRecord] | None = None
              ) -> tuple[Plan, list[LoweredStep]]:
    """Compile the program's kernels and make its runtime Plan, with buffers assigned
    (`records`: see compile_program)."""
    compiled = compile_program(program, records)
    steps = [Step(s.name, s.kind, compiled[i].call if i in compiled else None, s.inputs,
                  s.outputs, s.ops, flops=s.flops, bytes=s.bytes, host=s.host,
                  sources=tuple(program.sources.get(name, "") for name in s.ops),
                  parallel=i in compiled and compiled[i].parallel)
             for i, s in enumerate(program.steps)]
    plan = Plan(program.slots, steps, program.input_slots, program.fetch_slots,
                summary=program.summary)
    assign_buffers(plan)
    check_memory(plan, program.summary)
    return plan, listed_steps(program, compiled)


def shared_buffers(program: LoweredProgram) -> dict[int, tuple[int, int]]:
    """slot -> (buffer, bytes) as make_plan would share them, compiling nothing (for
    pictures of a program not planned yet)."""
    steps = [Step(s.name, s.kind, None, s.inputs, s.outputs) for s in program.steps]
    plan = Plan(program.slots, steps, program.input_slots, program.fetch_slots)
    assign_buffers(plan)
    return plan.buffer_of


def check_memory(plan: Plan, summary: str) -> None:
    """Refuse a plan whose buffers and outputs cannot all be in memory at once, before
    running it (a MemoryError, or the OOM killer, mid-run would say less)."""
    outputs = sum(s.nbytes for s in plan.slots if s.role in ("output", "host"))
    if plan.peak_bytes() + outputs <= memory_limit():
        return
    raise ResourceExhaustedError(
        f"{summary} needs {format_bytes(plan.peak_bytes())} of "
        f"intermediate buffers and {format_bytes(outputs)} of results, more than this "
        f"machine's memory ({format_bytes(memory_limit())})")


def build_plan(fetches, feeds, feed_shapes, constants: dict | None = None,
               late=(), records: list[KernelRecord] | None = None
               ) -> tuple[Plan, list[LoweredStep]]:
    """`constants` (tensor -> array) is filled with the constant arrays the plan uses and
    reused by later plans given the same dict: a function's plans share one copy.
    Fetches in `late` may have shapes the plan learns only when it runs them."""
    return make_plan(_traced_lower(fetches, feeds, feed_shapes, constants, late), records)


def _traced_lower(fetches, feeds, feed_shapes, constants, late=()):
    with trace.span("lower", "plan", {"shapes": [list(s) for s in feed_shapes]}):
        return lower(fetches, feeds, feed_shapes, constants, late)


def plan_executor(fetches, feeds, feed_shapes, constants: dict | None = None,
                  max_plans: int = 64, records: list[KernelRecord] | None = None) -> tuple:
    """(what runs the program, its Plan, its steps for `fn.kernels`, its LoweredProgram):
    an Executor, or a StagedExecutor (Plan and program None) when some shapes are known
    only once computed. `records` receives how each kernel was compiled (compile_program;
    for a staged program, those of its first stage)."""
    try:
        program = _traced_lower(fetches, feeds, feed_shapes, constants)
        plan, lowered = make_plan(program, records)
    except LateShapes as late:
        staged = StagedExecutor(fetches, feeds, feed_shapes, constants, late.tensors,
                                max_plans, records)
        return staged, None, staged.first_steps, None
    return Executor(plan), plan, lowered, program


class StagedExecutor:
    """Runs a program whose shapes are known only in stages: a while loop whose variables
    change shape decides its results' shapes as it runs. The first plan computes those
    `late` tensors; the rest of the program is planned for their shapes (the `max_plans`
    used last are kept), fed them, and may itself be staged again."""

    def __init__(self, fetches, feeds, feed_shapes, constants, late, max_plans: int,
                 records: list[KernelRecord] | None = None):
        plan, self.first_steps = build_plan(late, feeds, feed_shapes, constants, late=late,
                                            records=records)
        self.first = Executor(plan)
        self.fetches, self.feeds, self.late = list(fetches), list(feeds) + list(late), late
        self.feed_shapes, self.constants, self.max_plans = list(feed_shapes), constants, max_plans
        self._rest: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def run(self, inputs, timer=None, out: dict | None = None) -> list:
        values = self.first.run(inputs)
        key = tuple(v.shape for v in values)
        rest = self._rest.get(key)
        if rest is None:
            rest = self._plan(key)
        arrays = list(inputs) + values
        return rest.run(arrays, out=out) if out else rest.run(arrays)

    def _plan(self, key: tuple):
        with self._lock:
            rest = self._rest.get(key)
            if rest is None:
                rest = plan_executor(self.fetches, self.feeds, self.feed_shapes + list(key),
                                     self.constants, self.max_plans)[0]
                self._rest[key] = rest
                while len(self._rest) > self.max_plans:
                    self._rest.popitem(last=False)
            else:
                self._rest.move_to_end(key)
            return rest
