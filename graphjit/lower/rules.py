"""Element rules: one element of an op's output as loop IR, for the ops whose element is
not a scalar function of its inputs at the same index (index ops: transpose, slices,
pads, concat, tile, gather...; and pow, cast, fill, constants).

Each rule(em, op, idx, out_shape, dtype) returns the loop-IR expression of element `idx`,
asking `em.value(input, input_idx)` for the input elements it needs. The op modules
register them (`ElementRule(rule)` in graphjit.registry); graphjit.lower.emit calls
them through the registry.
"""

from __future__ import annotations

from codegen.loopir import Call, Fn
from graphjit.lower.exprs import (
    broadcast_index,
    const,
    int_add,
    int_mul,
    int_op,
    unit_reshape_index,
)


def _clamp(i, n: int):
    return int_op(Fn.MINIMUM, int_op(Fn.MAXIMUM, i, 0), n - 1)


def _const_scalar(em, t):
    """The value of a size-1 constant input, or None."""
    value = em.const_values.get(t)
    if value is not None and value.size == 1:
        return value.reshape(()).item()
    return None


def fill(em, op, idx, out_shape, dtype):
    return const(op.attrs["value"], dtype)


def literal(em, op, idx, out_shape, dtype):
    """A size-1 constant read inside a kernel."""
    return const(em.const_values[op.outputs[0]].reshape(()).item(), dtype)


def assigned_value(em, op, idx, out_shape, dtype):
    """An Assign's output: the value stored (written to the variable after the run)."""
    return em.value(op.inputs[1], idx)


def first_input(em, op, idx, out_shape, dtype):
    """The op's first input unchanged (CheckNumerics: its check is a step of its own)."""
    return em.value(op.inputs[0], idx)


def pow_(em, op, idx, out_shape, dtype):
    """x ** y, with small constant exponents as multiplies, sqrt or a reciprocal."""
    x, y = op.inputs
    xv = em.value(x, broadcast_index(em.shapes[x], out_shape, idx))
    exponent = _const_scalar(em, y)
    if exponent == 2:
        return Call(Fn.MUL, (xv, xv), dtype)
    if exponent == 3:
        return Call(Fn.MUL, (Call(Fn.MUL, (xv, xv), dtype), xv), dtype)
    if exponent == 1:
        return xv
    if exponent == 0.5 and dtype.startswith("float"):
        return Call(Fn.SQRT, (xv,), dtype)
    if exponent == -1 and dtype.startswith("float"):
        return Call(Fn.RECIPROCAL, (xv,), dtype)
    yv = em.value(y, broadcast_index(em.shapes[y], out_shape, idx))
    return Call(Fn.POW, (xv, yv), dtype)


def cast(em, op, idx, out_shape, dtype):
    return Call(Fn.CAST, (em.value(op.inputs[0], idx),), dtype)


def transpose(em, op, idx, out_shape, dtype):
    perm = op.attrs["perm"]
    in_idx = [None] * len(perm)
    for j, p in enumerate(perm):
        in_idx[p] = idx[j]
    return em.value(op.inputs[0], tuple(in_idx))


def broadcast_to(em, op, idx, out_shape, dtype):
    x = op.inputs[0]
    return em.value(x, broadcast_index(em.shapes[x], out_shape, idx))


def unit_reshape(em, op, idx, out_shape, dtype):
    """Reshapes fused into a kernel only insert or remove size-1 dims (partition)."""
    x = op.inputs[0]
    return em.value(x, unit_reshape_index(em.shapes[x], out_shape, idx))


def strided_slice(em, op, idx, out_shape, dtype):
    x = op.inputs[0]
    in_idx = []
    for i, s, n in zip(idx, op.attrs["slices"], em.shapes[x]):
        start, _, step = slice(*s).indices(n)
        in_idx.append(int_add(int_mul(i, step), start))
    return em.value(x, tuple(in_idx))


def tile(em, op, idx, out_shape, dtype):
    x = op.inputs[0]
    return em.value(x, tuple(i if n == m else int_op(Fn.FLOORMOD, i, n)
                             for i, n, m in zip(idx, em.shapes[x], out_shape)))


def range_(em, op, idx, out_shape, dtype):
    start, delta = op.attrs["start"], op.attrs["delta"]
    i = Call(Fn.CAST, (idx[0],), dtype)
    return Call(Fn.ADD, (const(start, dtype), Call(Fn.MUL, (i, const(delta, dtype)), dtype)),
                dtype)


def concat(em, op, idx, out_shape, dtype):
    axis = op.attrs["axis"]
    pieces = []
    offset = 0
    for x in op.inputs:
        n = em.shapes[x][axis]
        if n:
            pieces.append((offset, n, x))
        offset += n
    if not pieces:  # every input is empty: so is the loop that would read this
        return const(0, dtype)
    i = idx[axis]
    # Last piece first, then select backwards: each load uses a clamped, in-bounds index.
    result = None
    for start, n, x in reversed(pieces):
        local = list(idx)
        local[axis] = em.temp(_clamp(int_add(i, -start), n))
        v = em.value(x, tuple(local))
        result = v if result is None else Call(
            Fn.SELECT, (int_op(Fn.LESS, i, start + n), v, result), dtype)
    return result


def pad(em, op, idx, out_shape, dtype):
    x = op.inputs[0]
    shape = em.shapes[x]
    mode = op.attrs["mode"].upper()
    inside = None
    in_idx = []
    for i, (before, _), n in zip(idx, op.attrs["paddings"], shape):
        src = em.temp(int_add(i, -before))
        if mode == "CONSTANT":
            ok = Call(Fn.LOGICALAND, (int_op(Fn.GREATEREQUAL, src, 0), int_op(Fn.LESS, src, n)),
                      "bool")
            inside = ok if inside is None else Call(Fn.LOGICALAND, (inside, ok), "bool")
            in_idx.append(em.temp(_clamp(src, n)))
        else:
            low = int_op(Fn.NEG, src) if mode == "REFLECT" else \
                int_op(Fn.SUB, int_op(Fn.NEG, src), 1)
            high_base = 2 * (n - 1) if mode == "REFLECT" else 2 * n - 1
            src = em.temp(int_op(Fn.SELECT, int_op(Fn.LESS, src, 0), low, src))
            high = int_op(Fn.SUB, high_base, src)
            src = em.temp(Call(Fn.SELECT, (int_op(Fn.GREATEREQUAL, src, n), high, src), "int64"))
            in_idx.append(em.temp(_clamp(src, n)))
    v = em.value(x, tuple(in_idx))
    if inside is None:
        return v
    return Call(Fn.SELECT, (inside, v, const(op.attrs["constant_value"], dtype)), dtype)


def strided_slice_grad(em, op, idx, out_shape, dtype):
    """Zeros, with dy where the output index lies on the slice (start + k * step)."""
    dy, like = op.inputs
    dshape = em.shapes[dy]
    if 0 in dshape:
        return const(0, dtype)
    inside, dy_idx = None, []
    for i, s, n, m in zip(idx, op.attrs["slices"], em.shapes[like], dshape):
        start, _, step = slice(*s).indices(n)
        rel = int_add(i, -start)
        if step == 1:
            position = rel
            ok = None if (start == 0 and m == n) else Call(Fn.LOGICALAND, (
                int_op(Fn.GREATEREQUAL, rel, 0), int_op(Fn.LESS, rel, m)), "bool")
        else:
            position = int_op(Fn.FLOORDIV, rel, step)
            ok = Call(Fn.LOGICALAND, (
                int_op(Fn.EQUAL, int_op(Fn.FLOORMOD, rel, step), 0),
                Call(Fn.LOGICALAND, (int_op(Fn.GREATEREQUAL, position, 0),
                                    int_op(Fn.LESS, position, m)), "bool")), "bool")
        if ok is not None:
            inside = ok if inside is None else Call(Fn.LOGICALAND, (inside, ok), "bool")
        dy_idx.append(position if ok is None else _clamp(position, m))
    v = em.value(dy, tuple(dy_idx))
    if inside is None:
        return v
    return Call(Fn.SELECT, (inside, v, const(0, dtype)), dtype)


def gather(em, op, idx, out_shape, dtype):
    params, indices = op.inputs
    axis = op.attrs["axis"]
    rank_i = len(em.shapes[indices])
    n = em.shapes[params][axis]
    where = em.value(indices, tuple(idx[axis:axis + rank_i]))
    # Out-of-range indices are clamped (never an out-of-bounds read); lowering
    # adds a check after the kernel that turns them into an error.
    position = em.temp(_clamp(Call(Fn.CAST, (where,), "int64"), n))
    return em.value(params, tuple(idx[:axis]) + (position,) + tuple(idx[axis + rank_i:]))
