"""ONNX converters for integer (quantized) linear algebra: MatMulInteger, ConvInteger,
QLinearMatMul, QLinearConv and DynamicQuantizeLinear.

graphjit's MatMul and Conv kernels compute in floats, so the integer products run in
float64 through the MatMul and Conv converters: 8-bit operands less their zero points
are whole numbers below 2^9, and a sum of their products is exact in float64 while it
stays below 2^53 (more than 2^34 terms), so the int32 results are ONNX's exactly.
Requantizing follows ONNX's reference: the multiplier a_scale * b_scale / y_scale in
the scales' type, the rest in float64, rounded half to even and saturated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_conv import _WINDOW_ATTRS, convert_conv
from graphjit.onnx.ops_nn import convert_matmul

_RANGES = {"uint8": (0, 255), "int8": (-128, 127)}


def _check_8bit(ctx: NodeContext, t: Tensor, what: str) -> None:
    if t.dtype.name not in _RANGES:
        raise ctx.unsupported(f"{what} must be int8 or uint8, got {t.dtype}")


def _is_scalar(t: Tensor) -> bool:
    return t.ndim == 0 or (t.shape.is_fully_defined() and int(np.prod(t.shape)) == 1)


def _scalar(ctx: NodeContext, t: Tensor, what: str) -> Tensor:
    if not _is_scalar(t):
        raise ctx.unsupported(f"{what} of shape {t.shape} is not supported (graphjit "
                              "implements per-tensor values: a scalar or one element)")
    return gj.reshape(t, [])


def _centered(ctx: NodeContext, i: int, zero_i: int, what: str, zero_shape=None) -> Tensor:
    """Input i as float64, less its zero point (input zero_i) when given; `zero_shape`
    is the shape a per-channel zero point (a vector) is reshaped to, None: scalar only."""
    x = ctx.inputs[i]
    _check_8bit(ctx, x, what)
    xf = gj.cast(x, gj.float64)
    zero = ctx.input(zero_i)
    if zero is None:
        return xf
    if zero.dtype != x.dtype:
        raise ctx.invalid(f"the zero point of {what} must have its type {x.dtype}, got "
                          f"{zero.dtype}")
    if _is_scalar(zero):
        zero = gj.reshape(zero, [])
    elif zero_shape is not None and zero.ndim == 1:
        zero = gj.reshape(zero, zero_shape)
    else:
        raise ctx.unsupported(f"a zero point of {what} of shape {zero.shape} is not supported")
    return xf - gj.cast(zero, gj.float64)


def _with_inputs(ctx: NodeContext, inputs: list) -> NodeContext:
    """The node as the float converter it reuses sees it: new inputs, none static."""
    return dataclasses.replace(ctx, inputs=inputs, static_values=[None] * len(inputs),
                               sources=[frozenset()] * len(inputs),
                               partial_values=[None] * len(inputs))


def _to_int32(y: Tensor, name: str) -> Tensor:
    return gj.cast(y, gj.int32, name=name)


def _requantize(ctx: NodeContext, acc: Tensor, multiplier: Tensor, zero: Tensor | None,
                out_dtype) -> Tensor:
    """round_half_even(acc * multiplier + zero) saturated to out_dtype, in float64."""
    y = acc * gj.cast(multiplier, gj.float64)
    if zero is not None:
        y = y + gj.cast(zero, gj.float64)
    lo, hi = _RANGES[out_dtype.name]
    return gj.cast(gj.clip_by_value(gj.round(y), float(lo), float(hi)), out_dtype,
                   name=ctx.name)


# -- matmul ------------------------------------------------------------------------

@converter("MatMulInteger")
def convert_matmul_integer(ctx: NodeContext) -> Tensor:
    """(A - a_zero_point) @ (B - b_zero_point) in int32; b's zero point may be per
    column (a vector of N)."""
    a = _centered(ctx, 0, 2, "A")
    b = _centered(ctx, 1, 3, "B", zero_shape=[-1])
    return _to_int32(convert_matmul(_with_inputs(ctx, [a, b])), ctx.name)


@converter("QLinearMatMul")
def convert_qlinear_matmul(ctx: NodeContext) -> Tensor:
    a = _centered(ctx, 0, 2, "a")
    b = _centered(ctx, 3, 5, "b")
    scales = [_scalar(ctx, ctx.inputs[i], what) for i, what in
              ((1, "a_scale"), (4, "b_scale"), (6, "y_scale"))]
    if len({s.dtype for s in scales}) != 1 or not scales[0].dtype.is_floating:
        raise ctx.invalid("the scales must share one float type, got "
                          f"{[str(s.dtype) for s in scales]}")
    multiplier = scales[0] * scales[1] / scales[2]
    zero = ctx.input(7)
    out = zero.dtype if zero is not None else ctx.inputs[0].dtype
    _check_8bit(ctx, zero if zero is not None else ctx.inputs[0], "y")
    acc = convert_matmul(_with_inputs(ctx, [a, b]))
    return _requantize(ctx, acc, multiplier,
                       None if zero is None else _scalar(ctx, zero, "y_zero_point"), out)


# -- convolution ---------------------------------------------------------------------

def _conv_int(ctx: NodeContext, x_i: int, x_zero_i: int, w_i: int, w_zero_i: int) -> Tensor:
    """The exact integer convolution (float64 values) of the node's X and W."""
    x, w = ctx.inputs[x_i], ctx.inputs[w_i]
    if x.ndim < 3 or w.ndim != x.ndim:
        raise ctx.unsupported(f"needs X of rank >= 3 and W of its rank, got {x.shape} and "
                              f"{w.shape}")
    xf = _centered(ctx, x_i, x_zero_i, "x")
    wf = _centered(ctx, w_i, w_zero_i, "w", zero_shape=[-1] + [1] * (w.ndim - 1))
    return convert_conv(_with_inputs(ctx, [xf, wf]))


@converter("ConvInteger", attrs=_WINDOW_ATTRS + ("group",))
def convert_conv_integer(ctx: NodeContext) -> Tensor:
    return _to_int32(_conv_int(ctx, 0, 2, 1, 3), ctx.name)


@converter("QLinearConv", attrs=_WINDOW_ATTRS + ("group",))
def convert_qlinear_conv(ctx: NodeContext) -> Tensor:
    """The integer convolution plus the int32 bias, times x_scale * w_scale / y_scale
    (w_scale may be per output channel), plus y's zero point, rounded and saturated."""
    acc = _conv_int(ctx, 0, 2, 3, 5)
    bias = ctx.input(8)
    if bias is not None:
        if bias.dtype != gj.int32 or bias.ndim != 1:
            raise ctx.invalid(f"B must be an int32 vector, got {bias.dtype}{bias.shape}")
        acc = acc + gj.reshape(gj.cast(bias, gj.float64), [-1] + [1] * (acc.ndim - 2))
    x_scale, y_scale = _scalar(ctx, ctx.inputs[1], "x_scale"), \
        _scalar(ctx, ctx.inputs[6], "y_scale")
    w_scale = ctx.inputs[4]
    if _is_scalar(w_scale):
        w_scale = gj.reshape(w_scale, [])
    elif w_scale.ndim == 1:
        w_scale = gj.reshape(w_scale, [-1] + [1] * (acc.ndim - 2))
    else:
        raise ctx.invalid(f"w_scale must be a scalar or a vector, got shape {w_scale.shape}")
    if not (x_scale.dtype == w_scale.dtype == y_scale.dtype == gj.float32):
        raise ctx.invalid("the scales must be float32")
    zero = ctx.input(7)
    out = zero.dtype if zero is not None else ctx.inputs[0].dtype
    _check_8bit(ctx, zero if zero is not None else ctx.inputs[0], "y")
    return _requantize(ctx, acc, x_scale * w_scale / y_scale,
                       None if zero is None else _scalar(ctx, zero, "y_zero_point"), out)


# -- DynamicQuantizeLinear -----------------------------------------------------------

@converter("DynamicQuantizeLinear")
def convert_dynamic_quantize_linear(ctx: NodeContext) -> list[Tensor]:
    """uint8 quantization of x over the range [min(x, 0), max(x, 0)], in float32 as the
    spec's formulas: scale = (max - min) / 255 (1 / 255 for an all-zero x), zero point
    = round(clip(-min / scale, 0, 255)), y = saturate(round(x / scale) + zero point)."""
    x = ctx.inputs[0]
    if x.dtype != gj.float32:
        raise ctx.invalid(f"x must be float32, got {x.dtype}")
    everything = list(range(x.ndim))
    top = gj.maximum(gj.reduce_max(x, everything), np.float32(0))
    bottom = gj.minimum(gj.reduce_min(x, everything), np.float32(0))
    span = gj.where(gj.equal(top, bottom), np.float32(1), top - bottom)
    scale = span / np.float32(255)
    zero = gj.round(gj.clip_by_value(np.float32(0) - bottom / scale, np.float32(0),
                                     np.float32(255)))
    y = gj.clip_by_value(gj.round(x / scale) + zero, np.float32(0), np.float32(255))
    return [gj.cast(y, gj.uint8, name=ctx.name), scale, gj.cast(zero, gj.uint8)]
