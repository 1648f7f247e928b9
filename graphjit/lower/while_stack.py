"""The host steps of WhileStack and ScanStack: a while loop whose body also gives rows,
one per iteration, stacked into its outputs (ONNX Loop's scan outputs); a loop over
the rows of sequences (ONNX Scan), the same way. Both hand over to a native driver
where their body allows (graphjit.lower.stack_loop): these functions are then the
host loop of the first iterations, of loops the driver cannot run, and the reference's.

The loop variables keep their shapes, so the body runs one plan for every iteration;
the rows go into a buffer per output, allocated once when the iteration count is known
when the graph is built, else grown by doubling (amortized: a few copies in all, not
one per iteration), and cut to the rows written when the loop ends. A ScanStack knows
its count when it starts (the sequences' length): its outputs are sized once, and the
body gets each sequence's row as an input (a view), with no index arithmetic or
gather in its plan.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError
from graphjit.graph import Operation
from graphjit.lower.control_flow import check_invariants, contiguous_arrays, named_errors
from graphjit.lower.stack_loop import stack_loop
from runtime.host import HostCall, register_host_kernel

FIRST_CAPACITY = 16  # rows a buffer holds before its first growth, count unknown


class RowStack:
    """One output's rows, in a buffer of `capacity` rows (doubled when full)."""

    def __init__(self, index: int, capacity: int):
        self.index, self.capacity = index, max(capacity, 1)
        self.buffer: np.ndarray | None = None
        self.row_shape: tuple | None = None
        self.filled = 0

    def append(self, row: np.ndarray) -> None:
        if not isinstance(row, np.ndarray):
            row = np.asarray(row)
        if row.shape != self.row_shape or self.filled == len(self.buffer):
            self.reserve(row.shape, row.dtype)
        self.buffer[self.filled] = row
        self.filled += 1

    def reserve(self, shape: tuple, dtype) -> np.ndarray:
        """The buffer, with room for a row of `shape` more (also what a native driver
        writes its rows into): the first row's buffer, a doubled one when full; a row of
        a new shape is an error (NumPy would broadcast it into the buffer)."""
        if self.buffer is None:
            self.buffer = np.empty((self.capacity, *shape), dtype)
            self.row_shape = tuple(shape)
        elif tuple(shape) != self.row_shape:
            raise ShapeError(f"row output {self.index} has shape {list(shape)} in "
                             f"iteration {self.filled}, {list(self.row_shape)} "
                             "before; stacked rows must keep one shape")
        elif self.filled == len(self.buffer):
            grown = np.empty((2 * len(self.buffer), *shape), dtype)
            grown[:self.filled] = self.buffer
            self.buffer = grown
        return self.buffer

    def stacked(self, spec) -> np.ndarray:
        """The rows written, [iterations, *row]; for none, zeros of the row `spec`
        (shape, dtype) the body's inference gives."""
        if self.buffer is not None:
            return self.buffer if self.filled == len(self.buffer) else self.buffer[:self.filled]
        shape, dtype = spec
        if any(d is None for d in shape):
            raise ShapeError(f"row output {self.index} has shape {list(shape)}, not known "
                             "before an iteration ran, and the loop ran none")
        return np.zeros((0, *shape), dtype.np)


def _may_change(invariants) -> bool:
    """Whether some loop variable's shape may change (an invariant with a None dim):
    else the body's plan keeps them, and they need no check per iteration."""
    return any(d is None for shape in invariants for d in shape)


def run_stacking(run_cond, run_body, values: list, extra: list, n_rows: int, count: int,
                 row_specs, invariants, native=None) -> tuple:
    """The loop with `run_cond`/`run_body` (a Function's evaluate or a compiled plan's
    run_arrays): the final loop variables, then one stacked output per row (both
    engines). The body gives the new loop variables, the rows and the cond of the new
    variables, so an iteration runs one plan; `run_cond` runs only before the first.
    `row_specs(values)` gives the rows' specs, for a loop that ran none. `native(values,
    stacks)`, asked before each iteration: None, or (values, go) once it ran the loop
    on (graphjit.lower.stack_loop)."""
    stacks = [RowStack(j, count if count >= 0 else FIRST_CAPACITY) for j in range(n_rows)]
    n = len(values)
    track = _may_change(invariants)
    shapes = [v.shape for v in values]
    go = run_cond(values + extra)[0]
    while go:
        if native is not None and (handed := native(values, stacks)) is not None:
            values, go = handed
            continue
        outs = run_body(values + extra)
        values, go = list(outs[:n]), outs[-1]
        if track and [v.shape for v in values] != shapes:
            check_invariants(values, invariants)
            shapes = [v.shape for v in values]
        for stack, row in zip(stacks, outs[n:n + n_rows]):
            stack.append(row)
    iterations = stacks[0].filled if stacks else count
    if count >= 0 and iterations != count:
        raise ShapeError(f"the loop ran {iterations} iterations; its stacked rows were "
                         f"declared {count} long")
    specs = row_specs(values) if any(s.buffer is None for s in stacks) else [None] * n_rows
    return (*values, *[s.stacked(spec) for s, spec in zip(stacks, specs)])


def _while_stack(*arrays, cond, loop, specs, invariants, rows, count):
    n = len(invariants)
    values, extra = contiguous_arrays(arrays[:n]), contiguous_arrays(arrays[n:])

    def row_specs(final):
        return specs([(v.shape, dtypes.as_dtype(v.dtype)) for v in final + extra])[n:-1]

    handover = loop.handover(extra)
    try:
        return run_stacking(cond.run_arrays, handover.run_body, values, extra, rows, count,
                            row_specs, invariants, handover.while_step)
    finally:
        handover.close()


register_host_kernel("while_stack", named_errors(_while_stack))


def while_stack_call(op: Operation) -> HostCall:
    """The host step of a WhileStack op: its cond's and body's compiled plans in a loop,
    the rows stacked on the host, natively where the body allows
    (graphjit.lower.stack_loop; `specs`: the body's inference, for a loop that ran no
    iteration)."""
    body = op.attrs["body"]
    n = len(body.outputs) - op.attrs["rows"] - 1
    invariants = tuple(tuple(t.shape) for t in body.inputs[:n])
    return HostCall("while_stack", {
        "cond": op.attrs["cond"].compiled(),
        "loop": stack_loop(body, n, op.attrs["rows"], 0, has_cond=True),
        "specs": body.output_specs, "invariants": invariants, "rows": op.attrs["rows"],
        "count": op.attrs.get("count", -1), "describe": op.describe(),
        "source": str(op.source)})


def run_scan(run_body, states: list, sequences: list, extra: list, n_rows: int,
             row_specs, invariants, native=None) -> tuple:
    """`states, rows = run_body(states + row i of each sequence + extra)` for each row i
    of the sequences (both engines): the final states, then one stacked output per row.
    `row_specs()` gives the rows' specs, for sequences of length 0. `native(states,
    stacks, i)`, asked before row i: None, or (states, the next row) once it ran rows
    on (graphjit.lower.stack_loop)."""
    lengths = [len(s) for s in sequences]
    if any(n != lengths[0] for n in lengths):
        raise ShapeError(f"the sequences have lengths {lengths}; they must have one")
    stacks = [RowStack(j, lengths[0]) for j in range(n_rows)]
    n = len(states)
    track = _may_change(invariants)
    shapes = [v.shape for v in states]
    i = 0
    while i < lengths[0]:
        if native is not None and (handed := native(states, stacks, i)) is not None:
            states, i = handed
            continue
        outs = run_body(states + [s[i, ...] for s in sequences] + extra)  # (arrays, 0-d too)
        states = list(outs[:n])
        if track and [v.shape for v in states] != shapes:
            check_invariants(states, invariants)
            shapes = [v.shape for v in states]
        for stack, row in zip(stacks, outs[n:]):
            stack.append(row)
        i += 1
    specs = row_specs() if not lengths[0] else [None] * n_rows
    return (*states, *[s.stacked(spec) for s, spec in zip(stacks, specs)])


def _scan_stack(*arrays, loop, specs, invariants, sequences, rows):
    n = len(invariants)
    states, extra = contiguous_arrays(arrays[:n]), contiguous_arrays(arrays[n + sequences:])
    seqs = contiguous_arrays(arrays[n:n + sequences])

    def row_specs():
        given = [(v.shape, v.dtype) for v in states] + [(s.shape[1:], s.dtype) for s in seqs] \
            + [(v.shape, v.dtype) for v in extra]
        return specs([(shape, dtypes.as_dtype(d)) for shape, d in given])[n:]

    handover = loop.handover(extra, seqs)
    try:
        return run_scan(handover.run_body, states, seqs, extra, rows, row_specs, invariants,
                        handover.scan_step)
    finally:
        handover.close()


register_host_kernel("scan_stack", named_errors(_scan_stack))


def scan_stack_call(op: Operation) -> HostCall:
    """The host step of a ScanStack op: its body's compiled plan once per row, natively
    where it allows (graphjit.lower.stack_loop)."""
    body = op.attrs["body"]
    n = len(body.outputs) - op.attrs["rows"]
    invariants = tuple(tuple(t.shape) for t in body.inputs[:n])
    return HostCall("scan_stack", {
        "loop": stack_loop(body, n, op.attrs["rows"], op.attrs["sequences"], has_cond=False),
        "specs": body.output_specs, "invariants": invariants,
        "sequences": op.attrs["sequences"], "rows": op.attrs["rows"],
        "describe": op.describe(), "source": str(op.source)})
