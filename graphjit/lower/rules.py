"""Lowering rules: the scalar expression of one element of an op's output.

`lower_elementwise(em, t, idx)` returns the loop-IR expression for element `idx`
of tensor `t`, asking `em.value(input, input_idx)` for the input elements it
needs. Elementwise ops use the registry's `scalar` name; index ops (transpose,
slices, pads, concat, tile, gather, ...) are index arithmetic on their inputs.
"""

from __future__ import annotations

from codegen.loopir import Call, Fn
from graphjit.errors import CompileError
from graphjit.lower.emit import (
    broadcast_index,
    const,
    int_add,
    int_mul,
    int_op,
    unit_reshape_index,
)
from graphjit.ops.registry import get_op_def


def _clamp(i, n: int):
    return int_op(Fn.MINIMUM, int_op(Fn.MAXIMUM, i, 0), n - 1)


def _const_scalar(em, t):
    """The value of a size-1 constant input, or None."""
    value = em.const_values.get(t)
    if value is not None and value.size == 1:
        return value.reshape(()).item()
    return None


def _pow(em, op, out_shape, idx, dtype):
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


def lower_elementwise(em, t, idx: tuple):
    op = t.op
    dtype = t.dtype.name
    out_shape = em.shapes[t]
    kind = op.type

    if kind in ("Fill", "FillLike"):
        return const(op.attrs["value"], dtype)
    if kind == "Const":
        return const(em.const_values[t].reshape(()).item(), dtype)
    if kind == "Assign":  # the value stored (written to the variable after the run)
        return em.value(op.inputs[1], idx)
    if kind == "Pow":
        return _pow(em, op, out_shape, idx, dtype)
    if kind == "Cast":
        x = op.inputs[0]
        return Call(Fn.CAST, (em.value(x, idx),), dtype)
    if kind == "Transpose":
        perm = op.attrs["perm"]
        in_idx = [None] * len(perm)
        for j, p in enumerate(perm):
            in_idx[p] = idx[j]
        return em.value(op.inputs[0], tuple(in_idx))
    if kind == "BroadcastTo":
        x = op.inputs[0]
        return em.value(x, broadcast_index(em.shapes[x], out_shape, idx))
    if kind in ("Reshape", "ExpandDims", "Squeeze", "ReshapeLike"):
        x = op.inputs[0]
        return em.value(x, unit_reshape_index(em.shapes[x], out_shape, idx))
    if kind == "SumToShapeOf":  # fused only when the plan's shapes broadcast nothing
        return em.value(op.inputs[0], idx)
    if kind == "StridedSliceGrad":
        return _strided_slice_grad(em, op, idx, dtype)
    if kind == "StridedSlice":
        x = op.inputs[0]
        in_idx = []
        for i, s, n in zip(idx, op.attrs["slices"], em.shapes[x]):
            start, _, step = slice(*s).indices(n)
            in_idx.append(int_add(int_mul(i, step), start))
        return em.value(x, tuple(in_idx))
    if kind == "Tile":
        x = op.inputs[0]
        return em.value(x, tuple(i if n == m else int_op(Fn.FLOORMOD, i, n)
                                 for i, n, m in zip(idx, em.shapes[x], out_shape)))
    if kind == "Range":
        start, delta = op.attrs["start"], op.attrs["delta"]
        i = Call(Fn.CAST, (idx[0],), dtype)
        return Call(Fn.ADD, (const(start, dtype), Call(Fn.MUL, (i, const(delta, dtype)), dtype)),
                    dtype)
    if kind == "ConcatV2":
        return _concat(em, op, idx, dtype)
    if kind == "Pad":
        return _pad(em, op, idx, dtype)
    if kind == "GatherV2":
        return _gather(em, op, idx)

    op_def = get_op_def(kind)
    if op_def.scalar is None:
        raise CompileError(f"{op.describe()}: no lowering rule for op type {kind}")
    args = tuple(em.value(x, broadcast_index(em.shapes[x], out_shape, idx)) for x in op.inputs)
    return Call(op_def.scalar, args, dtype)


def _concat(em, op, idx, dtype):
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


def _pad(em, op, idx, dtype):
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


def _strided_slice_grad(em, op, idx, dtype):
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


def _gather(em, op, idx):
    params, indices = op.inputs
    axis = op.attrs["axis"]
    rank_i = len(em.shapes[indices])
    n = em.shapes[params][axis]
    where = em.value(indices, tuple(idx[axis:axis + rank_i]))
    # Out-of-range indices are clamped (never an out-of-bounds read); lowering
    # adds a check after the kernel that turns them into an error.
    position = em.temp(_clamp(Call(Fn.CAST, (where,), "int64"), n))
    return em.value(params, tuple(idx[:axis]) + (position,) + tuple(idx[axis + rank_i:]))
