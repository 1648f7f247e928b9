"""Cast and CastLike (with float8's saturate), QuantizeLinear and DequantizeLinear.

The narrow types (bfloat16, float8, float4, int4, int2: graphjit.dtypes.NARROW, from
ml_dtypes) are storage only: their casts run on the host (NumPy with ml_dtypes, as
float16's do), and the arithmetic around them stays in float32 or the input's type.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.errors import UnsupportedError
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_math import axis_of
from graphjit.onnx.types import to_dtype

_FLOAT8 = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")


@converter("Cast", attrs=("to", "saturate", "round_mode"))
def _cast(ctx: NodeContext) -> Tensor:
    dtype = to_dtype(ctx.attr("to"), f"ONNX Cast '{ctx.name}' target")
    return _cast_to(ctx, ctx.inputs[0], dtype, name=ctx.name)


@converter("CastLike", attrs=("saturate", "round_mode"))
def _cast_like(ctx: NodeContext) -> Tensor:
    return _cast_to(ctx, ctx.inputs[0], ctx.inputs[1].dtype, name=ctx.name)


def _cast_to(ctx: NodeContext, x: Tensor, dtype, name=None) -> Tensor:
    """x cast to `dtype` as ONNX's Cast does: saturate (default 1) clips values past a
    float8 type's range, infinities included, to its largest finite value (NaN stays
    NaN); saturate=0 gives inf or NaN there, as the plain conversion does."""
    if dtype.name == "float8_e8m0fnu" and x.dtype != dtype:
        if not x.dtype.is_floating or x.dtype.is_narrow:
            raise ctx.unsupported(f"a cast from {x.dtype} to float8e8m0 is not implemented")
        return _to_e8m0(x, bool(ctx.attr("saturate", 1)), _text(ctx.attr("round_mode", "up")),
                        dtype, name)
    if x.dtype == dtype:
        return gj.identity(x, name=name)
    if dtype.name in _FLOAT8 and ctx.attr("saturate", 1) and x.dtype.is_floating:
        if x.dtype.is_narrow:  # (bfloat16, another float8: exact in float32, clipped there)
            x = gj.cast(x, gj.float32)
        top = float(dtype.max)
        x = gj.clip_by_value(x, np.array(-top, x.dtype.np), np.array(top, x.dtype.np))
    return gj.cast(x, dtype, name=name)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _to_e8m0(x: Tensor, saturate: bool, mode: str, dtype, name) -> Tensor:
    """float8e8m0 (a power of two, 2^-127..2^127, or NaN) of |x| taken as float32, as
    ONNX's reference rounds float32's exponent field: "down" keeps it, "up" adds one
    when the mantissa is not zero, "nearest" when its top bit is set (ties to even
    below 2^-126); with saturate the largest exponent does not round up to NaN. Here
    the exponent k is found in float64 (log, then corrected by exact powers of two)."""
    a = gj.abs(gj.cast(gj.cast(x, gj.float32), gj.float64) if x.dtype == gj.float64
               else gj.cast(x, gj.float64))
    tiny = a < 2.0 ** -126  # float32 zero or subnormal: exponent field 0, k = -127
    safe = gj.where(tiny | ~gj.math.is_finite(a), 1.0, a)
    k = gj.floor(gj.log(safe) / np.log(2.0))
    k = gj.where(gj.pow(2.0, k + 1) <= safe, k + 1, k)
    k = gj.where(gj.pow(2.0, k) > safe, k - 1, k)
    p = gj.pow(2.0, k)
    if mode == "up":
        bump = gj.where(tiny, a > 0, a > p)
    elif mode == "nearest":
        bump = gj.where(tiny, a > 2.0 ** -127, a >= 1.5 * p)
    elif mode == "down":
        bump = None
    else:
        raise UnsupportedError(f"Cast round_mode '{mode}' is not one of up, down, nearest")
    k = gj.where(tiny, -127.0, k)
    if bump is not None:
        k = k + gj.cast(bump, gj.float64)
    if saturate:
        k = gj.minimum(k, 127.0)
    value = gj.where((k > 127) | ~gj.math.is_finite(a), np.nan, gj.pow(2.0, k))
    return gj.cast(value, dtype, name=name)


# -- QuantizeLinear and DequantizeLinear ------------------------------------------

_INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-32768, 32767),
               "uint16": (0, 65535),
               "uint4": (0, 15), "int4": (-8, 7), "uint2": (0, 3), "int2": (-2, 1)}


def _along_axis(ctx: NodeContext, value: Tensor, x: Tensor, axis: int, block: int) -> Tensor:
    """A scale or zero point made to broadcast against x (ONNX's per-tensor, per-axis
    and blocked layouts): a scalar or one-element tensor as is, a vector along `axis`,
    a blocked one repeated `block` times along it (the last block may be short)."""
    shape = value.shape.as_list()
    if value.ndim == 0 or (None not in shape and int(np.prod(shape)) == 1 and not block):
        return gj.reshape(value, []) if value.ndim else value
    rank = x.ndim
    axis = axis_of(ctx, axis, rank)  # (the default 1 is no error for a per-tensor scale)
    if not block:
        if value.ndim != 1:
            raise ctx.invalid(f"a per-axis scale or zero point is a vector, not of shape {shape}")
        dims = [1] * rank
        dims[axis] = -1
        return gj.reshape(value, dims)
    size = x.shape.as_list()[axis]
    if size is None or value.ndim != rank:
        raise ctx.unsupported(f"blocked quantization needs the size of axis {axis} known and a "
                              f"scale of x's rank (scale {shape}, x {x.shape.as_list()})")
    index = np.arange(size, dtype=np.int32) // block
    if shape[axis] is not None and index[-1] >= shape[axis]:
        raise ctx.invalid(f"a scale of {shape[axis]} blocks of {block} along axis {axis} does "
                          f"not cover x's {size}")
    return gj.gather(value, index, axis=axis)


def _layout(ctx: NodeContext):
    x = ctx.inputs[0]
    axis = ctx.attr("axis", 1)
    block = ctx.attr("block_size", 0)
    if block < 0:
        raise ctx.invalid(f"block_size {block} is negative")
    return x, axis, block


@converter("DequantizeLinear", attrs=("axis", "block_size", "output_dtype"))
def _dequantize(ctx: NodeContext) -> Tensor:
    """y = (x - zero_point) * scale, computed in float32 (float64 for a float64 scale)
    and given the scale's type (or output_dtype), as ONNX's reference computes it."""
    x, axis, block = _layout(ctx)
    scale = ctx.inputs[1]
    out = to_dtype(ctx.attr("output_dtype"), f"ONNX DequantizeLinear '{ctx.name}' output") \
        if ctx.attr("output_dtype") else scale.dtype
    work = gj.float64 if scale.dtype == gj.float64 else gj.float32
    dx = gj.cast(x, work)
    zero = ctx.input(2)
    if zero is not None and zero.dtype.name not in _FLOAT8 + ("float4_e2m1fn",):
        dx = dx - gj.cast(_along_axis(ctx, zero, x, axis, block), work)
    y = dx * gj.cast(_along_axis(ctx, scale, x, axis, block), work)
    return gj.cast(y, out, name=ctx.name) if out != work else gj.identity(y, name=ctx.name)


@converter("QuantizeLinear",
           attrs=("axis", "block_size", "output_dtype", "saturate", "precision"))
def _quantize(ctx: NodeContext) -> Tensor:
    """Integer outputs: round(x / scale) half to even, plus the zero point, clipped to the
    type's range. float8: x / scale cast with saturate. float4: x / scale + zero point."""
    x, axis, block = _layout(ctx)
    zero = ctx.input(2)
    out = zero.dtype if zero is not None else (
        to_dtype(ctx.attr("output_dtype"), f"ONNX QuantizeLinear '{ctx.name}' output")
        if ctx.attr("output_dtype") else gj.uint8)
    scale = _along_axis(ctx, ctx.inputs[1], x, axis, block)
    if ctx.attr("precision"):
        work = to_dtype(ctx.attr("precision"), f"ONNX QuantizeLinear '{ctx.name}' precision")
    else:
        work = gj.as_dtype(np.result_type(x.dtype.np, scale.dtype.np))
    q = gj.cast(x, work) / gj.cast(scale, work) if x.dtype != work or scale.dtype != work \
        else x / scale
    if out.name in _INT_RANGES:
        lo, hi = _INT_RANGES[out.name]
        q = gj.cast(gj.round(q), gj.int32)
        if zero is not None:
            q = q + gj.cast(_along_axis(ctx, zero, x, axis, block), gj.int32)
        return gj.cast(gj.clip_by_value(q, lo, hi), out, name=ctx.name)
    if out.name in _FLOAT8:
        return _cast_to(ctx, q, out, name=ctx.name)
    if out.name == "float4_e2m1fn":
        if zero is not None:
            q = q + gj.cast(_along_axis(ctx, zero, x, axis, block), q.dtype)
        return gj.cast(q, out, name=ctx.name)
    raise ctx.unsupported(f"quantizing to {out.name} is not implemented")
