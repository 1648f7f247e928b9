"""A native driver for loops that stack a row per iteration (a while loop with scan
outputs, a scan over the rows of sequences): the body plan runs as one Numba function
that writes each iteration's rows straight into the stacked outputs.

It is runtime.loop_driver's driver with two more kinds of arguments: the stacked
outputs, preallocated by the caller ([capacity, *row] each; row i of each is where
iteration i writes its rows, as a kernel's output array: no copy when a kernel makes
the row), and, for a scan, the whole sequences (iteration i reads row i of each, a view).
The loop variables are double-buffered as there. A while loop's body also gives the
cond of its new values (ONNX Loop's body does), so an iteration runs one plan.

A call runs iterations from `pos` until the cond is false, a check fails, or `stop`
(the outputs' capacity, or the sequences' length) is reached: the caller then grows the
outputs and calls again, or has its result.
"""

from __future__ import annotations

from time import perf_counter

import numpy as np

from runtime.loop_driver import (
    DONE,
    MORE,
    DriverSource,
    HostSteps,
    LoopDriver,
    NotNative,
    kernel_id,
    next_chunk_limit,
    no_host_steps,
)
from runtime.plan import Plan

HEADER = '''"""A graphjit stacking-loop driver (runtime.stack_driver); the kernels it calls are
given to its module before it runs, as named below."""
from codegen.numba_cache import njit
'''


def _specs(plan: Plan, slots) -> list[tuple]:
    return [(tuple(plan.slots[s].shape), plan.slots[s].dtype) for s in slots]


def _row_view(stacked: str, shape: tuple) -> str:
    """Row i of a stacked array as a C-contiguous array Numba passes to a kernel of the
    row's rank (an integer index drops a 0-d row to a scalar: sliced, then reshaped)."""
    return f"{stacked}[i]" if shape else f"{stacked}[i:i + 1].reshape(())"


class StackDriver(LoopDriver):
    """A stacking loop as one native function (build_stack_driver). `row_specs`: each
    stacked output's row (shape, dtype)."""

    def __init__(self, source: str, env: dict, specs: list, emitters: list,
                 row_specs: list):
        super().__init__(source, env, specs, emitters)
        self.row_specs = row_specs

    def run_rows(self, values: list, extra: list, sequences: list, stacked: list,
                 pos: int, stop: int) -> tuple[list, int, int]:
        """Iterations from `pos` (rows written so far) up to `stop` at most, writing row
        i of each `stacked` array (and reading row i of each sequence): (the values, the
        new pos, the status: DONE (cond false), MORE (`stop` reached), or STOPPED (a
        check failed; the values are those entering iteration pos))."""
        current = [np.empty(shape, dtype) for shape, dtype in self._specs]
        other = [np.empty(shape, dtype) for shape, dtype in self._specs]
        for dst, src in zip(current, values):
            np.copyto(dst, src)
        extra = [e if e.flags.writeable else e.copy() for e in extra]
        sequences = [s if s.flags.writeable else s.copy() for s in sequences]
        fixed = self._pool.pop() if self._pool else self._arrays()
        try:
            while True:  # in bursts of about CHUNK_SECONDS: Ctrl-C is seen between them
                if pos >= stop:
                    return current, pos, MORE
                start = perf_counter()
                args = (pos, min(self._limit, stop - pos), *current, *other, *sequences,
                        *stacked, *extra, *fixed)
                ran, status = self._fn(*args) if self._fn.overloads else self._first(args)
                pos += ran
                if ran % 2:
                    current, other = other, current
                if status != MORE:
                    return current, pos, status
                self._limit = next_chunk_limit(self._limit, perf_counter() - start)
        finally:
            self._pool.append(fixed)


def build_stack_driver(body_plan: Plan, n: int, sequences: int, rows: int, has_cond: bool,
                       host_steps: HostSteps = no_host_steps) -> StackDriver:
    """The native driver of a loop of `n` variables whose body plan takes the variables,
    a row of each of `sequences` sequences, then extra inputs, and gives the new
    variables, `rows` rows, then (`has_cond`) the cond of the new variables; raises
    NotNative saying why there is none."""
    specs = _specs(body_plan, body_plan.input_slots[:n])
    results = _specs(body_plan, body_plan.fetch_slots)
    if len(results) != n + rows + has_cond:
        raise NotNative("the body gives other outputs than the loop takes")
    if results[:n] != specs:
        raise NotNative("the body changes the shape or dtype of a loop variable")
    if has_cond and results[-1] != ((), np.bool_):
        raise NotNative("the body's cond is not a bool scalar")
    row_specs = results[n:n + rows]
    seq_specs = _specs(body_plan, body_plan.input_slots[n:n + sequences])
    k = len(body_plan.input_slots) - n - sequences
    cur, nxt = [f"c{j}" for j in range(n)], [f"d{j}" for j in range(n)]
    seqs, xs = [f"s{j}" for j in range(sequences)], [f"x{j}" for j in range(sequences)]
    stacked, ts = [f"r{j}" for j in range(rows)], [f"t{j}" for j in range(rows)]
    ext = [f"e{j}" for j in range(k)]
    source = DriverSource(host_steps)
    body_lines, names = source.emit(body_plan, cur + xs + ext,
                                    nxt + ts + ([None] if has_cond else []))
    views = [f"{x} = {_row_view(s, shape)}" for x, s, (shape, _) in zip(xs, seqs, seq_specs)]
    views += [f"{t} = {_row_view(r, shape)}" for t, r, (shape, _) in zip(ts, stacked, row_specs)]
    step = ["i = pos + iterations", *views, *body_lines]
    if has_cond:  # (read before the swap: the cond may be a new variable's array)
        step.append(f"go = {names[-1]}[()]")
    if n:
        step.append(f"{', '.join(cur + nxt)} = {', '.join(nxt + cur)}")
    step.append("iterations += 1")
    if has_cond:
        step += ["if not go:", f"    return iterations, {DONE}"]
    params = cur + nxt + seqs + stacked + ext + [p for e in source.emitters for p in e.params]
    lines = [f"def driver(pos, limit, {', '.join(params)}):", "    iterations = 0",
             "    while iterations < limit:", *[f"        {line}" for line in step],
             f"    return iterations, {MORE}"]
    kernels = [f"# {name}: {kernel_id(fn)}" for name, fn in source.env.items()]
    text = "\n".join([HEADER, *kernels, "", "",
                      "@njit(nogil=True, error_model='numpy')", *lines]) + "\n"
    return StackDriver(text, source.env, specs, source.emitters, row_specs)
