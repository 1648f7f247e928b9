"""The host kernels graphjit registers with the runtime (runtime.host): an op's NumPy
reference, for ops with no native lowering (float16 arithmetic, ...), the range check
of gather indices after the kernel that clamped them, and CheckNumerics' look for NaN
and inf. Lowering gives a host step a
HostCall of plain data taken from the op, so a plan holds no graph objects.
"""

from __future__ import annotations

from graphjit.errors import CompileError, InvalidArgumentError, ShapeError
from graphjit.graph import Operation
from graphjit.interpreter import run_reference
from graphjit.ops._util import check_gather_indices
from graphjit.registry import get_op_def
from runtime.host import HostCall, register_host_kernel


def _reference(*arrays, op_type, attrs, outputs, describe, source):
    return run_reference(list(arrays), op_type, attrs, outputs, lambda: (describe, source))


def _check_gather_indices(indices, *, n, axis, describe, source):
    try:
        check_gather_indices(None, indices, n, axis)
    except ShapeError as exc:  # named as the reference names it
        raise ShapeError(f"{describe} at {source}: {exc}") from None
    return ()


def _check_numerics(x, *, message, describe, source):
    from graphjit.ops.debug_ops import find_bad_numbers
    try:
        find_bad_numbers(x, message)
    except InvalidArgumentError as exc:  # named as the reference names it
        raise InvalidArgumentError(f"{describe} at {source}: {exc}") from None
    return ()


register_host_kernel("reference", _reference)
register_host_kernel("check_gather_indices", _check_gather_indices)
register_host_kernel("check_numerics", _check_numerics)


def _label(op: Operation) -> dict:
    return {"describe": op.describe(), "source": str(op.source)}


def reference_call(op: Operation) -> HostCall:
    """A host step running `op`'s NumPy reference (listed as 'host')."""
    if get_op_def(op.type).stateful:  # (state ops are plan feeds and views, never host)
        raise CompileError(f"{op.describe()} at {op.source}: a stateful op cannot run as a "
                           "host step")
    return HostCall("reference", {"op_type": op.type, "attrs": dict(op.attrs),
                                  "outputs": [(t.dtype.np, t.shape) for t in op.outputs],
                                  **_label(op)})


def gather_check_call(op: Operation, n: int, axis: int) -> HostCall:
    """A host step raising, as the reference does, for indices of `op` outside [0, n)."""
    return HostCall("check_gather_indices", {"n": n, "axis": axis, **_label(op)})


def numerics_check_call(op: Operation) -> HostCall:
    """A host step raising, as the reference does, for NaN or inf in `op`'s input."""
    return HostCall("check_numerics", {"message": op.attrs["message"], **_label(op)})
