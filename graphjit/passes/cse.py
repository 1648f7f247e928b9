"""Common-subexpression elimination: identical ops on identical inputs compute once.

Two ops merge when they have the same type, the same attrs (constant arrays
compared by dtype, shape and bytes, so 0.0 and -0.0 or two NaN payloads stay
apart) and the same inputs and control inputs; for commutative ops the order
of the two inputs does not matter. The first op in graph order stays and the
later one's consumers read it.

Never merged: stateful ops (two reads of a variable around an assignment
differ), ops with side effects (two prints print twice), placeholders (two inputs,
whatever their specs), producers of kept (fed) tensors (feeding one must not change
the other). A fetched duplicate keeps its name: it becomes an Identity of the first (a
fetched constant stays as it is).
"""

from __future__ import annotations

import hashlib

import numpy as np

from graphjit.dtypes import DType
from graphjit.graph import Graph, Operation, Tensor
from graphjit.passes.rebuild import PassContext, PassResult, Rewriter

COMMUTATIVE = frozenset({"Add", "Mul", "Maximum", "Minimum", "Equal", "NotEqual",
                         "LogicalAnd", "LogicalOr"})


def cse(graph: Graph, ctx: PassContext) -> PassResult:
    """Merge structurally identical ops (see the module docstring)."""
    rw = Rewriter(graph, ctx, "cse")
    seen: dict[tuple, Operation] = {}  # key -> first new op with it
    for op in graph.get_operations():
        inputs = rw.inputs(op)
        if op.type == "Placeholder" or rw.frozen(op):
            rw.copy(op, inputs)
            continue
        key = _key(op, inputs, rw.control_inputs(op))
        first = seen.get(key)
        if first is None or not _same_attrs(first.attrs, op.attrs):
            seen.setdefault(key, rw.copy(op, inputs))
        elif op not in rw.pinned:
            rw.alias(op, list(first.outputs), f"merge {op.type}")
        elif op.type != "Const" and len(op.outputs) == 1:
            # A fetched duplicate keeps its name as a copy of the first; a constant
            # stays a constant (constant folding would turn the copy back into one).
            rw.rewrite(op, "Identity", [first.outputs[0]], {}, f"merge {op.type}")
        else:
            rw.copy(op, inputs)
    return rw.finish()


def _key(op: Operation, inputs: list[Tensor], control: tuple) -> tuple:
    ids = [(id(t.op), t.value_index) for t in inputs]
    if op.type in COMMUTATIVE:
        ids.sort()
    return (op.type, tuple(ids), tuple(sorted(id(c) for c in control)),
            _freeze(op.attrs))


def _freeze(value):
    """A hashable stand-in for an attr value; arrays by a digest (then compared exactly)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray) and value.dtype.hasobject:  # strings: their bytes
        return ("ndarray", value.dtype.str, value.shape, tuple(value.reshape(-1).tolist()))
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value).reshape(-1)  # (at least 1-d: keep value.shape)
        return ("ndarray", value.dtype.str, value.shape,
                hashlib.blake2b(data.view(np.uint8), digest_size=16).digest())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, slice):
        return ("slice", _freeze(value.start), _freeze(value.stop), _freeze(value.step))
    if isinstance(value, (float, np.floating)):
        return ("float", float(value).hex())  # 0.0 != -0.0 and NaN == NaN, as bits
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, DType):
        return ("dtype", value.name)
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return (type(value).__name__, value)


def _same_attrs(a: dict, b: dict) -> bool:
    """Digests matched; confirm constant arrays byte for byte."""
    for k, v in a.items():
        w = b[k]
        if isinstance(v, np.ndarray) and (v.dtype != w.dtype or v.shape != w.shape
                                          or (v.tolist() != w.tolist() if v.dtype.hasobject
                                              else v.tobytes() != w.tobytes())):
            return False
    return True
