"""The reference interpreter: runs a graph op by op with each op's NumPy reference.

It is the execute phase until the compiler takes over, and the oracle every
compiled result is checked against afterwards. Slow and simple on purpose.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import FeedError, InternalError, ShapeError
from graphjit.graph import Operation, Tensor
from graphjit.ops.registry import get_op_def


def ref_inputs(op: Operation) -> tuple[int, ...]:
    """Positions of inputs `op` writes rather than reads (an Assign's variable)."""
    return get_op_def(op.type).extra.get("ref_inputs", ())


def read_inputs(op: Operation) -> list[Tensor]:
    """The inputs whose values `op` reads: all of them but its ref inputs."""
    refs = ref_inputs(op)
    return [t for i, t in enumerate(op.inputs) if i not in refs] if refs else list(op.inputs)


def missing_feed(placeholder: Operation) -> FeedError:
    """The error for a placeholder a run needs but nobody fed (both engines raise it)."""
    t = placeholder.outputs[0]
    return FeedError(f"placeholder '{placeholder.name}' ({t.dtype}, shape {t.shape}) must be "
                     f"fed: pass feed_dict={{{placeholder.name}: value}} "
                     f"(created at {placeholder.source})")


def ops_needed(fetch_ops: list[Operation], fed: set[Tensor]) -> list[Operation]:
    """The ops that must run to compute `fetch_ops`, in graph (topological) order.

    Fed tensors cut the graph: what only feeds them is not run; neither is the
    variable behind a ref input (assigning it does not read it).
    """
    needed: set[Operation] = set()
    stack = list(fetch_ops)
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed.add(op)
        stack.extend(t.op for t in read_inputs(op) if t not in fed)
        stack.extend(op.control_inputs)
    graph_order = fetch_ops[0].graph._ops if fetch_ops else []
    return [op for op in graph_order if op in needed]


def run_op(op: Operation, values: list[np.ndarray], state: dict | None = None) -> list[np.ndarray]:
    """Run one op's NumPy reference and check the results against its inferred specs."""
    op_def = get_op_def(op.type)
    kwargs = dict(op.attrs)
    if op_def.stateful:
        kwargs["_state"] = state if state is not None else {}
        kwargs["_op"] = op
    try:
        with np.errstate(all="ignore"):  # NaN/inf follow IEEE, as in TF: no warnings
            result = op_def.reference(*values, **kwargs)
    except ShapeError as exc:  # a run-time value error (an index out of range): name the op
        raise ShapeError(f"{op.describe()} at {op.source}: {exc}") from None
    results = result if isinstance(result, (tuple, list)) else (result,)
    out = []
    for tensor, value in zip(op.outputs, results):
        value = np.asarray(value)
        if value.dtype != tensor.dtype.np:
            value = value.astype(tensor.dtype.np)
        if not tensor.shape.is_compatible_with(value.shape):
            raise InternalError(f"{op.describe()}: reference returned shape {value.shape}, "
                                  f"inferred {tensor.shape}")
        out.append(value)
    return out


def evaluate(fetches: list[Tensor | Operation], feeds: dict[Tensor, np.ndarray],
             state: dict | None = None) -> list[np.ndarray | None]:
    """Compute `fetches` given `feeds` (tensor -> array). Operations fetch as None."""
    fetch_ops = [f.op if isinstance(f, Tensor) else f for f in fetches
                 if not (isinstance(f, Tensor) and f in feeds)]
    values: dict[Tensor, np.ndarray] = dict(feeds)
    for op in ops_needed(fetch_ops, set(feeds)):
        if op.type == "Placeholder":
            raise missing_feed(op)
        refs = ref_inputs(op)
        inputs = [None if i in refs else values[t] for i, t in enumerate(op.inputs)]
        for tensor, value in zip(op.outputs, run_op(op, inputs, state)):
            values[tensor] = value
    return [values[f] if isinstance(f, Tensor) else None for f in fetches]
