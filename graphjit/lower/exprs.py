"""Loop-IR expression helpers shared by the lowering rules and the kernel builders:
literals, int64 index arithmetic folded where both sides are known, and the index
maps of broadcasting and of unit-dim reshapes."""

from __future__ import annotations

from codegen.loopir import COMPARISONS, Call, Const, Fn


def const(value, dtype: str) -> Const:
    if dtype == "bool":
        return Const(bool(value), dtype)
    return Const(float(value) if dtype.startswith("float") else int(value), dtype)


def int_op(fn: Fn, *args) -> Call:
    """Index arithmetic: int64 values, and bool for comparisons (a select's condition)."""
    return Call(fn, tuple(args), "bool" if fn in COMPARISONS else "int64")


def int_add(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if b == 0:
        return a
    return Call(Fn.ADD, (a, b), "int64")


def int_mul(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if b == 1:
        return a
    return Call(Fn.MUL, (a, b), "int64")


def broadcast_index(in_shape: tuple, out_shape: tuple, idx: tuple) -> tuple:
    """Index into an input that NumPy-broadcasts to out_shape (size-1 dims read index 0)."""
    offset = len(out_shape) - len(in_shape)
    return tuple(idx[offset + j] if d == out_shape[offset + j] else 0
                 for j, d in enumerate(in_shape))


def unit_reshape_index(in_shape: tuple, out_shape: tuple, idx: tuple) -> tuple:
    """Index remap for a reshape that only inserts or removes size-1 dims."""
    real = iter([i for i, d in zip(idx, out_shape) if d != 1])
    return tuple(0 if d == 1 else next(real) for d in in_shape)
