"""Cast and CastLike (with float8's saturate), QuantizeLinear and DequantizeLinear.

The narrow types (bfloat16, float8, float4, int4, int2: graphjit.dtypes.NARROW, from
ml_dtypes) are storage only: their casts run on the host (NumPy with ml_dtypes, as
float16's do), and the arithmetic around them stays in float32 or the input's type.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
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
    if dtype.name == "float8_e8m0fnu" or x.dtype.name == "float8_e8m0fnu":
        raise ctx.unsupported("float8e8m0 (its round_mode) is not implemented")
    if x.dtype == dtype:
        return gj.identity(x, name=name)
    if dtype.name in _FLOAT8 and ctx.attr("saturate", 1) and x.dtype.is_floating:
        top = float(dtype.max)
        x = gj.clip_by_value(x, np.array(-top, x.dtype.np), np.array(top, x.dtype.np))
    return gj.cast(x, dtype, name=name)
