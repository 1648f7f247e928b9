"""The host steps of control flow: a cond runs the plan of the branch taken, a while loop
the plans of its cond and body until the cond is false.

Each branch, cond and body is a graphjit.function.Function whose CompiledFunction is made
once and shared by every plan of every graph holding the op; it plans once per
input-shape signature, so a loop whose variables keep their shapes runs one plan per
iteration with no graph walking, and loop-carried values stay arrays from one iteration
to the next. A while loop runs natively where its plans allow, else through their per-plan
runners (graphjit.lower.while_loop). The HostCall carries those objects and plain data.
"""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

import numpy as np

from graphjit.errors import ShapeError
from graphjit.function import Function
from graphjit.graph import Operation
from graphjit.lower.while_loop import CompiledLoop, check_invariants
from runtime.host import HostCall, register_host_kernel
from runtime.runner import MISS

__all__ = ["check_invariants", "cond_call", "history_call", "while_call"]


def contiguous_arrays(arrays) -> list[np.ndarray]:
    # A plan's inputs are C-contiguous (a host step's reference may return a view)
    return [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in arrays]


def named_errors(kernel):
    """A host kernel whose ShapeErrors name its op, as the interpreter names those of a
    reference (graphjit.interpreter.run_reference): both engines say the same."""
    def run(*arrays, describe, source, **attrs):
        try:
            return kernel(*arrays, **attrs)
        except ShapeError as exc:
            raise ShapeError(f"{describe} at {source}: {exc}") from None
    return run


def _cond(pred, *inputs, branches):
    branch, arrays = branches[0 if pred else 1], contiguous_arrays(inputs)
    executor = branch.single_plan(arrays)
    if executor is not None:  # its per-plan runner (runtime.runner), else the general path
        values = executor.arrays_runner()(tuple(arrays))
        if values is not MISS:
            return values
    return branch.run_arrays(arrays)


def _while(*arrays, loop, invariants):
    n = len(invariants)
    return loop.run(contiguous_arrays(arrays[:n]), contiguous_arrays(arrays[n:]))


register_host_kernel("cond", named_errors(_cond))
register_host_kernel("while", named_errors(_while))


def _label(op: Operation) -> dict:
    return {"describe": op.describe(), "source": str(op.source)}


def cond_call(op: Operation) -> HostCall:
    """The host step of an If op: the compiled plan of the branch its pred takes."""
    return HostCall("cond", {"branches": (op.attrs["then_branch"].compiled(),
                                          op.attrs["else_branch"].compiled()), **_label(op)})


_loops: WeakKeyDictionary = WeakKeyDictionary()  # body Function -> (cond, CompiledLoop)
_loops_lock = threading.Lock()


def compiled_loop(cond: Function, body: Function) -> CompiledLoop:
    """The CompiledLoop of a cond and body, one per pair (what it learned about its
    signatures is shared by every plan of every graph holding the op)."""
    with _loops_lock:
        found = _loops.get(body)
        if found is None or found[0] is not cond:
            invariants = tuple(tuple(t.shape) for t in body.inputs[:len(body.outputs)])
            found = _loops[body] = (cond, CompiledLoop(cond.compiled(), body.compiled(),
                                                       invariants))
        return found[1]


def while_call(op: Operation) -> HostCall:
    """The host step of a While op: its cond's and body's compiled plans in a loop,
    natively where they allow it (graphjit.lower.while_loop)."""
    loop = compiled_loop(op.attrs["cond"], op.attrs["body"])
    return HostCall("while", {"loop": loop, "invariants": loop.invariants, **_label(op)})


def _history(*arrays, loop, n):
    from graphjit.ops.control_flow_grad import stack_history
    return stack_history(loop.history(contiguous_arrays(arrays[:n]), contiguous_arrays(arrays[n:])),
                         arrays[:n])


register_host_kernel("while_history", named_errors(_history))


def history_call(op: Operation) -> HostCall:
    """The host step of a WhileHistory op: the loop, keeping each iteration's values."""
    loop = compiled_loop(op.attrs["cond"], op.attrs["body"])
    return HostCall("while_history", {"loop": loop, "n": loop.n, **_label(op)})
