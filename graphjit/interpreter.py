"""The reference interpreter: runs a graph op by op with each op's NumPy reference.

It is the execute phase until the compiler takes over, and the oracle every
compiled result is checked against afterwards. Slow and simple on purpose.
"""

from __future__ import annotations

import functools
import os
from time import perf_counter_ns

import numpy as np

from graphjit.errors import (
    Error,
    FeedError,
    InternalError,
    InvalidArgumentError,
    ResourceExhaustedError,
    ShapeError,
)
from graphjit.graph import Operation, Tensor, format_spec
from graphjit.graph_queries import ops_needed, ref_inputs
from graphjit.registry import Spec, get_op_def, infer_specs
from graphjit.specialize import has_unknown_rank, specialize
from runtime import trace


def missing_feed(placeholder: Operation) -> FeedError:
    """The error for a placeholder a run needs but nobody fed (both engines raise it)."""
    t = placeholder.outputs[0]
    return FeedError(f"placeholder '{placeholder.name}' ({t.dtype}, shape {t.shape}) must be "
                     f"fed: pass feed_dict={{{placeholder.name}: value}} "
                     f"(created at {placeholder.source})")


@functools.cache
def memory_limit() -> int:
    """The most bytes a run may ask for: the machine's physical memory. Larger tensors and
    plans are refused before allocating (Linux would promise the memory, then kill the
    process when it is touched)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 40


def format_bytes(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n:,} bytes"


def run_time_specs(op: Operation, specs: list[Spec]) -> list[Spec]:
    """`op`'s inference on the concrete input specs of a run, for both engines (the
    reference interpreter per op and run, a plan once per shape signature), so a shape
    known only at run time fails alike in both: naming the op, its static and run-time
    input shapes and the user's line."""
    try:
        return infer_specs(get_op_def(op.type), specs, op.attrs, run_time=True)
    except Error as exc:
        fed = ", ".join(format_spec(shape, dtype) for shape, dtype in specs)
        raise type(exc)(f"{op.describe()} at {op.source}: run with inputs ({fed}): "
                        f"{exc}") from None


def check_size(op: Operation, shape: tuple, dtype) -> None:
    """Refuse to allocate a value of `op` larger than memory (both engines: the reference
    for every value, a plan for those it keeps in buffers; fused ones take no memory). A
    dim known only once an op ran (boolean_mask's size, a while loop's variable whose
    shape changes) is not checked here: its value is in memory already when known."""
    if any(d is None for d in shape):
        return
    nbytes = int(np.prod(shape, dtype=object)) * dtype.size
    if nbytes > memory_limit():
        raise ResourceExhaustedError(
            f"{op.describe()} at {op.source}: its result {format_spec(shape, dtype)} would "
            f"take {format_bytes(nbytes)}, more than this machine's memory "
            f"({format_bytes(memory_limit())})")


def run_op(op: Operation, values: list[np.ndarray], state: dict | None = None) -> list[np.ndarray]:
    """Run one op's NumPy reference and check the results against its inferred specs."""
    kwargs = dict(op.attrs)
    if get_op_def(op.type).stateful:
        kwargs["_state"] = state if state is not None else {}
        kwargs["_op"] = op
    return run_reference(values, op.type, kwargs, [(t.dtype.np, t.shape) for t in op.outputs],
                         lambda: (op.describe(), op.source))


def run_reference(values: list[np.ndarray], op_type: str, attrs: dict, outputs: list,
                  where) -> list[np.ndarray]:
    """An op's NumPy reference from plain data: its type, attributes, the dtype and static
    shape of each output, and `where()`, the op's description and source line for errors
    (`run_op`, and the host kernel a plan runs for an op)."""
    try:
        with np.errstate(all="ignore"):  # NaN/inf follow IEEE, as in TF: no warnings
            result = get_op_def(op_type).reference(*values, **attrs)
    except (ShapeError, InvalidArgumentError) as exc:  # a run-time value error (an index
        # out of range, NaN in a histogram or check_numerics): name the op
        describe, source = where()
        raise type(exc)(f"{describe} at {source}: {exc}") from None
    results = result if isinstance(result, (tuple, list)) else (result,)
    out = []
    for (dtype, shape), value in zip(outputs, results):
        value = np.asarray(value)
        if value.dtype != dtype:
            value = value.astype(dtype)
        if not shape.is_compatible_with(value.shape):
            raise InternalError(f"{where()[0]}: reference returned shape {value.shape}, "
                                f"inferred {shape}")
        out.append(value)
    return out


def _op_args(op: Operation, values: dict) -> dict:
    """A reference op's span args, in the shape of a compiled step's (runtime.trace)."""
    def spec(t: Tensor) -> str:
        value = values.get(t)
        return format_spec(value.shape if hasattr(value, "shape") else t.shape, t.dtype)
    outputs = [np.asarray(values[t]) for t in op.outputs]
    return {"kernel": op.type, "kind": "reference", "ops": {op.name: str(op.source or "")},
            "inputs": [spec(t) for t in op.inputs], "outputs": [spec(t) for t in op.outputs],
            "bytes": sum(a.nbytes for a in outputs)}


def evaluate(fetches: list[Tensor | Operation], feeds: dict[Tensor, np.ndarray],
             state: dict | None = None) -> list[np.ndarray | None]:
    """Compute `fetches` given `feeds` (tensor -> array). Operations fetch as None."""
    if has_unknown_rank(fetches, feeds):  # a placeholder made without a shape
        spec = specialize(fetches, {t: np.ndim(v) for t, v in feeds.items()})
        return evaluate([spec.fetch(f) for f in fetches],
                        {spec.tensors[t]: v for t, v in feeds.items() if t in spec.tensors},
                        state)
    fetch_ops = [f.op if isinstance(f, Tensor) else f for f in fetches
                 if not (isinstance(f, Tensor) and f in feeds)]
    values: dict[Tensor, np.ndarray] = dict(feeds)
    traced = bool(trace.active)  # a trace records a span per op
    for op in ops_needed(fetch_ops, set(feeds)):
        if op.type == "Placeholder":
            raise missing_feed(op)
        refs = ref_inputs(op)
        inputs = [None if i in refs else values[t] for i, t in enumerate(op.inputs)]
        specs = run_time_specs(op, [(tuple(t.shape) if i in refs else values[t].shape,
                                     t.dtype) for i, t in enumerate(op.inputs)])
        for shape, dtype in specs:
            check_size(op, shape, dtype)
        start = perf_counter_ns() if traced else 0
        for tensor, value in zip(op.outputs, run_op(op, inputs, state)):
            values[tensor] = value
        if traced:
            trace.record(op.name, "reference", start, perf_counter_ns(), _op_args(op, values))
    return [values[f] if isinstance(f, Tensor) else None for f in fetches]
