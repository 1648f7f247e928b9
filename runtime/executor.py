"""The executor: runs a Plan on input arrays with no graph walking and no allocation
beyond the outputs.

Each concurrent caller takes a private set of buffers from a pool (created on
demand, returned after the call), so calls from several threads on one plan are
safe without a lock around the kernels. The per-call path is kept to a few list
operations: dispatch costs microseconds on small graphs. While a trace records
(runtime.trace), a call takes a path that records a span for it and for each step.
"""

from __future__ import annotations

from operator import itemgetter
from sys import getrefcount
from time import perf_counter_ns

import numpy as np

from runtime import trace
from runtime.host import owned_results
from runtime.plan import EXTERN, HOST, KERNEL, VIEW, Plan, materialize, output_empty
from runtime.runner import build_runner, no_runner


def _getter(indices: tuple):
    """A fast `lambda arrays: tuple(arrays[i] for i in indices)`."""
    if len(indices) == 1:
        index = indices[0]
        return lambda arrays: (arrays[index],)
    return itemgetter(*indices)


class Executor:
    """Runs one Plan; `run(inputs)` returns the fetched arrays. An array the caller
    still holds is never written again; one it dropped may be recycled."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._pool: list[list] = []
        self._inputs = plan.input_slots
        self._outputs = [(i, spec.shape, spec.dtype) for i, spec in enumerate(plan.slots)
                         if spec.role == "output"]
        # Fetched slots whose arrays are not freshly allocated get copied on return.
        fresh = {i for i, _, _ in self._outputs}
        self._fetch = [(s, s not in fresh) for s in plan.fetch_slots]
        self._program = [
            (step.kind, step.function(), _getter(step.inputs + step.outputs) if step.kind in
             (KERNEL, EXTERN) else _getter(step.inputs) if step.inputs else (lambda a: ()),
             step.outputs, plan.slots[step.outputs[0]].shape if step.kind == VIEW else None)
            for step in plan.steps]
        self._runner = None
        self._arrays_runner = None

    def runner(self, input_dtypes: list, finish=None, single: bool = False):
        """This plan's generated per-call runner (runtime.runner), made on first use;
        the arguments are those of build_runner and the same on every call."""
        if self._runner is None:
            functions = [fn for _, fn, _, _, _ in self._program]
            # A kernel of a warm start (codegen.numba_backend.WarmStart) runs natively for
            # its first calls, on the general path; once it settled on Numba's dispatcher,
            # the runner calls that (its compiled entry point, runtime.runner).
            # (A view or host step has no function: its None is not "still native".)
            settled = [fn.settled() if hasattr(fn, "settled") else fn for fn in functions]
            if any(s is None and hasattr(fn, "settled") for s, fn in zip(settled, functions)):
                return no_runner
            self._runner = build_runner(self.plan, self._pool, settled, input_dtypes,
                                        finish, single)
        return self._runner

    def arrays_runner(self):
        """A runner (runtime.runner) taking one array per input slot, of the plan's
        dtypes and shapes, and returning the fetched arrays as a list (MISS: run()),
        made on first use: what a loop's host step calls on every iteration."""
        if self._arrays_runner is None:
            functions = [fn for _, fn, _, _, _ in self._program]
            settled = [fn.settled() if hasattr(fn, "settled") else fn for fn in functions]
            if any(s is None and hasattr(fn, "settled") for s, fn in zip(settled, functions)):
                return no_runner  # (a warm start still native: asked again next time)
            dtypes = [self.plan.slots[s].dtype for s in self.plan.input_slots]
            self._arrays_runner = build_runner(self.plan, self._pool, settled, dtypes)
        return self._arrays_runner

    def run(self, inputs, timer=None, out: dict | None = None) -> list[np.ndarray]:
        """Run the plan. `out` maps fetch positions to caller-owned arrays to write
        into (checked by the caller: same shape and dtype, C-contiguous), which saves
        allocating, and page-faulting, fresh outputs."""
        if trace.active and timer is None:  # (the one test an untraced call pays)
            return self._run_traced(inputs, out)
        pool = self._pool
        arrays = pool.pop() if pool else materialize(self.plan)
        try:
            for slot, value in zip(self._inputs, inputs):
                arrays[slot] = value
            for slot, shape, dtype in self._outputs:
                # The output of this buffer set's previous call is reused when nothing
                # but this list (and `previous`) refers to it (the caller dropped it):
                # a fresh array would page-fault on every call (W1: 8.7 -> 5.9 ms).
                # (A slot only ever holds arrays of its own shape and dtype: those this
                # code allocates, and out= arrays, which the caller checked.)
                previous = arrays[slot]
                if previous is None or getrefcount(previous) > 3:
                    arrays[slot] = output_empty(shape, dtype)
                del previous
            if out:
                for position, array in out.items():
                    slot, copied = self._fetch[position]
                    if not copied:  # a fresh output: its kernel writes into `array`
                        arrays[slot] = array  # (an input's, constant's slot stays as is)
            if timer is None:
                for kind, fn, args, outs, view_shape in self._program:
                    if kind is KERNEL or kind is EXTERN:
                        fn(*args(arrays))
                    else:
                        run_step(kind, fn, args, outs, view_shape, arrays)
            else:
                timer.run(self.plan, self._program, arrays)
            results = [arrays[s].copy() if copy else arrays[s] for s, copy in self._fetch]
            if out:
                for position, array in out.items():
                    if results[position] is not array:  # a view/input fetch: copy into it
                        np.copyto(array, results[position])
                        results[position] = array
            return results
        finally:
            for slot in self._inputs:
                arrays[slot] = None  # drop references to the caller's arrays
            pool.append(arrays)

    def _run_traced(self, inputs, out: dict | None) -> list[np.ndarray]:
        """run() recording a span for the call and one per step."""
        start = perf_counter_ns()
        try:
            return self.run(inputs, timer=STEP_SPANS, out=out)
        finally:
            trace.record("plan run", "call", start, perf_counter_ns(),
                         {"plan": self.plan.summary, "steps": len(self.plan.steps),
                          "inputs": [list(getattr(a, "shape", ())) for a in inputs]})


class StepSpans:
    """The executor's timer while a trace records: a span per step it runs."""

    def run(self, plan, program, arrays) -> None:
        clock = perf_counter_ns
        for index, (kind, fn, args, outs, view_shape) in enumerate(program):
            start = clock()
            try:
                run_step(kind, fn, args, outs, view_shape, arrays)
            finally:
                step = plan.steps[index]
                trace.record(step.name, str(kind), start, clock(), step=(plan, index))


STEP_SPANS = StepSpans()


def run_step(kind, fn, args, outs, view_shape, arrays) -> None:
    """Run one step; `args(arrays)` gives its argument arrays (inputs, then outputs)."""
    if kind is KERNEL or kind is EXTERN:
        fn(*args(arrays))
    elif kind is VIEW:
        arrays[outs[0]] = args(arrays)[0].reshape(view_shape)
    elif kind is HOST:
        ins = args(arrays)
        for o, r in zip(outs, owned_results(fn(*ins), ins, len(outs))):
            arrays[o] = r
    else:  # pragma: no cover
        raise AssertionError(kind)
