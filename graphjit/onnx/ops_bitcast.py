"""BitCast (opset 26) both ways: graphjit's Bitcast primitive, which ONNX restricts to
dtypes of one width (the shape unchanged)."""

from __future__ import annotations

import graphjit as gj
from graphjit.errors import DTypeError
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import _elem, translates
from graphjit.onnx.types import to_dtype

_SINCE = 26  # the opset that added BitCast


@converter("BitCast", attrs=("to",))
def convert_bitcast(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    to = to_dtype(ctx.attr("to"), f"BitCast '{ctx.name}''s 'to'")
    if to.np.itemsize != x.dtype.np.itemsize:
        raise ctx.invalid(f"'to' {to.name} is {to.np.itemsize * 8} bits wide, the input's "
                          f"{x.dtype.name} {x.dtype.np.itemsize * 8}: BitCast needs one width")
    try:
        return gj.bitcast(x, to, name=ctx.name)
    except DTypeError as exc:
        raise ctx.unsupported(str(exc)) from None


@translates("Bitcast")
def _export_bitcast(ctx) -> str:
    to = ctx.attrs["dtype"]
    if ctx.opset < _SINCE:
        raise ctx.unsupported(f"ONNX has BitCast from opset {_SINCE} on")
    if to.np.itemsize != ctx.dtype().np.itemsize:
        raise ctx.unsupported(f"ONNX's BitCast keeps the width; this one goes from "
                              f"{ctx.dtype().name} to {to.name}")
    return ctx.node("BitCast", ctx.inputs[0], to=_elem(to))
