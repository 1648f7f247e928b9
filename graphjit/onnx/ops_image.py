"""ONNX ImageDecoder onto graphjit's ImageDecoder primitive (graphjit.ops.image), a
host step decoding with Pillow, which the `image` extra installs."""

from __future__ import annotations

from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import translates
from graphjit.ops.image import PIXEL_FORMATS, decode_image, pillow_image

_SINCE = 20  # the opset that added ImageDecoder


@converter("ImageDecoder", attrs=("pixel_format",))
def convert_image_decoder(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    pixel_format = ctx.attr("pixel_format", "RGB")
    if pixel_format not in PIXEL_FORMATS:
        raise ctx.unsupported(f"pixel_format {pixel_format!r}; ONNX defines "
                              f"{', '.join(PIXEL_FORMATS)}")
    if x.dtype != dtypes.uint8 or x.ndim != 1:
        raise ctx.invalid(f"encoded_stream must be 1-D uint8, got {x.dtype}{x.shape}")
    try:
        pillow_image()
    except Exception as e:
        raise ctx.unsupported(str(e)) from None
    return decode_image(x, pixel_format, name=ctx.name)


@translates("ImageDecoder")
def _export_image_decoder(ctx) -> str:
    if ctx.opset < _SINCE:
        raise ctx.unsupported(f"ONNX has ImageDecoder from opset {_SINCE} on")
    return ctx.node("ImageDecoder", ctx.inputs[0], pixel_format=ctx.attrs["pixel_format"])
