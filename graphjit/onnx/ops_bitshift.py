"""The ONNX converter for BitShift, composed exactly from integer arithmetic: graphjit has
no shift primitive, and a shift by k is a product or a floor division by 2**k.

x << k is x * 2**k, wrapping in x's width as graphjit's integer products do (for a
signed x, bits carried past the sign bit are lost, as ONNX says); x >> k is
floor(x / 2**k), which is the arithmetic shift of a signed x. 2**k comes from a table of
the width's powers of two (2**(bits-1) wraps to the signed minimum, right for a left
shift); a signed right shift by bits - 1, and any shift by a k outside [0, bits), give
the sign fill (-1 for a negative x shifted right, else 0), as BitShift-28 defines.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter


@converter("BitShift", attrs=("direction",))
def convert_bit_shift(ctx: NodeContext) -> Tensor:
    x, k = ctx.inputs[:2]
    direction = ctx.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise ctx.unsupported(f"unknown direction {direction!r} (ONNX has LEFT and RIGHT)")
    if not x.dtype.is_integer or k.dtype != x.dtype:
        raise ctx.invalid(f"shifts integers by amounts of their type, got {x.dtype} and "
                          f"{k.dtype}")
    dt = x.dtype.np
    bits = 8 * dt.itemsize
    powers = (np.ones(bits, np.uint64) << np.arange(bits, dtype=np.uint64)).astype(dt)
    zero = np.zeros((), dt)
    in_range = gj.less(k, np.asarray(bits, dt))
    if not x.dtype.is_unsigned:
        in_range = gj.logical_and(in_range, gj.greater_equal(k, zero))
    index = gj.cast(gj.where(in_range, k, zero), gj.int32)
    power = gj.gather(gj.constant(powers, dtype=x.dtype), index)
    if direction == "LEFT":
        return gj.where(in_range, x * power, zero, name=ctx.name)
    if x.dtype.is_unsigned:
        return gj.where(in_range, gj.floordiv(x, power), zero, name=ctx.name)
    fill = gj.where(gj.less(x, zero), np.asarray(-1, dt), zero)
    divisible = gj.logical_and(in_range, gj.less(k, np.asarray(bits - 1, dt)))
    return gj.where(divisible, gj.floordiv(x, power), fill, name=ctx.name)
