"""Constant folding: ops whose inputs are all known at compile time become constants.

Values are computed with the ops' NumPy references (the same code the reference
interpreter runs), so folding changes neither dtype nor results. A folded op
only becomes a Const where something still reads it (a consumer that is not
folded, or a fetch); the interior of a folded subgraph simply disappears.

Limits, so folding cannot blow up a graph or a compile:
- `max_folded_bytes` (default 1 MiB, `optimize(..., max_folded_bytes=...)`):
  no folded value, intermediate or final, may be larger. Above it the op is
  left to run time, so a small constant broadcast to a huge tensor stays a
  small constant and a BroadcastTo.
- Stateful ops, ops with side effects (Print), placeholders and producers of fed
  (kept) tensors never fold,
  and a fed constant is not a known value: feeding it must still change the
  results.
- Ops whose entry says `extra["foldable"]: False` (a while loop, which could run for
  ever at compile time) are left to run time.
- An op whose reference raises (an integer to a negative power, a bad
  squeeze) is left for run time, where the error belongs.

`Shape` of a tensor whose static shape is fully known folds too. A folded op's
control inputs are dropped: its value cannot depend on when it runs, and
stateful ops survive DCE on their own.
"""

from __future__ import annotations

import numpy as np

from graphjit.graph import Graph, Operation, Tensor
from graphjit.interpreter import run_op
from graphjit.passes.rebuild import PassContext, PassResult, Rewriter
from graphjit.registry import get_op_def

DEFAULT_MAX_FOLDED_BYTES = 1 << 20


def constant_folding(graph: Graph, ctx: PassContext) -> PassResult:
    """Fold every op computable at compile time within the size limit."""
    rw = Rewriter(graph, ctx, "constant_folding")
    kept = set(ctx.keep)
    values: dict[Tensor, np.ndarray] = {}  # old tensors whose value is known

    def known(t: Tensor) -> np.ndarray | None:
        if t in kept:
            return None
        if t in values:
            return values[t]
        return t.op.attrs["value"] if t.op.type == "Const" else None

    for op in graph.get_operations():
        value = _fold_value(rw, op, known, ctx.max_folded_bytes)
        if value is None:
            rw.copy(op)
        else:
            values[op.outputs[0]] = value
            rw.fold(op, value)
    return rw.finish()


def _fold_value(rw: Rewriter, op: Operation, known, limit: int) -> np.ndarray | None:
    if op.type in ("Const", "Placeholder") or len(op.outputs) != 1 or rw.frozen(op) \
            or not get_op_def(op.type).extra.get("foldable", True):
        return None
    out = op.outputs[0]
    if op.type == "Shape":
        shape = op.inputs[0].shape
        if not shape.is_fully_defined():
            return None
        return _frozen_array(np.array(tuple(shape), op.attrs["out_type"].np))
    inputs = [known(t) for t in op.inputs]
    if any(v is None for v in inputs):
        return None
    size = out.shape.num_elements()
    if size is None or size * out.dtype.size > limit:
        return None  # decided before computing (no allocation): the value may be huge
    try:
        (value,) = run_op(op, inputs)
    except Exception:  # noqa: BLE001 - whatever the reference raises, run time raises too
        return None
    if value.nbytes > limit or tuple(value.shape) != tuple(out.shape):
        return None
    return _frozen_array(value)


def _frozen_array(value: np.ndarray) -> np.ndarray:
    # A copy: a reference may return (a view of) its input, and constants are read-only.
    array = np.array(value, copy=True, order="C")
    array.flags.writeable = False
    return array
