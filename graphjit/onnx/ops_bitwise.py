"""ONNX converters for BitwiseAnd, BitwiseOr, BitwiseXor and BitwiseNot, composed
exactly from integer arithmetic: graphjit has no bitwise primitive.

BitwiseNot is -1 - x for a signed x (two's complement) and max - x for an unsigned
one. The binary ops work a byte at a time: byte j of x is floor(x / 256^j) mod 256 (the
floor division is the arithmetic shift of a signed x, so the top byte holds the sign
bits), the result byte is read from a 256 x 256 table of the op, and the bytes are
summed back times 256^j, the top one taken as signed for a signed type. No step leaves
the type's range, so the kernel is one fused loop of a few ops per byte.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter

_TABLES = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
           "BitwiseXor": np.bitwise_xor}


def _check_integer(ctx: NodeContext, *ts: Tensor) -> None:
    for t in ts:
        if not t.dtype.is_integer or t.dtype != ts[0].dtype:
            raise ctx.invalid(f"needs integer inputs of one type, got "
                              f"{[str(u.dtype) for u in ts]}")


def _const(value: int, dtype) -> Tensor:
    return gj.constant(np.asarray(value, dtype.np))


def _byte(x: Tensor, j: int) -> Tensor:
    """Byte j of x (0 the lowest) as int32 in [0, 256)."""
    if x.dtype.np.itemsize == 1:
        return gj.floormod(gj.cast(x, gj.int32), _const(256, gj.int32))
    if j:
        x = gj.floordiv(x, _const(256 ** j, x.dtype))
    return gj.cast(gj.floormod(x, _const(256, x.dtype)), gj.int32)


@converter("BitwiseAnd", "BitwiseOr", "BitwiseXor")
def convert_bitwise(ctx: NodeContext) -> Tensor:
    a, b = ctx.inputs[:2]
    _check_integer(ctx, a, b)
    dtype = a.dtype
    table = _TABLES[ctx.op_type].outer(np.arange(256), np.arange(256)).astype(np.int32)
    table = gj.constant(table.ravel())
    width = dtype.np.itemsize
    total = None
    for j in range(width):
        byte = gj.gather(table, _byte(a, j) * _const(256, gj.int32) + _byte(b, j))
        if j == width - 1 and not dtype.is_unsigned:  # the top byte carries the sign
            byte = gj.where(byte >= 128, byte - 256, byte)
        term = gj.cast(byte, dtype)
        if j:
            term = term * _const(256 ** j, dtype)
        total = term if total is None else total + term
    return gj.identity(total, name=ctx.name)


@converter("BitwiseNot")
def convert_bitwise_not(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    _check_integer(ctx, x)
    top = np.iinfo(x.dtype.np).max if x.dtype.is_unsigned else -1
    return gj.subtract(_const(top, x.dtype), x, name=ctx.name)
