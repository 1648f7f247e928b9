"""ImageDecoder: encoded image bytes (PNG, JPEG, BMP, TIFF, WebP, ... as Pillow reads
them) to an [H, W, C] uint8 image, as ONNX's ImageDecoder: RGB, BGR or Grayscale (C 1).

The image's size depends on the bytes, so the op is `dynamic_shape` and runs on the host
between the plans before and after it. Pillow is optional (the `image` extra): without
it, building the op is refused, saying what to install.
"""

from __future__ import annotations

import io

import numpy as np

from graphjit import dtypes
from graphjit.errors import InvalidArgumentError, ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops._util import check_dtype, convert_to_tensor, make
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register

PIXEL_FORMATS = ("RGB", "BGR", "Grayscale")


def pillow_image():
    """PIL.Image, or an UnsupportedError naming the extra that installs it."""
    try:
        from PIL import Image
    except ImportError:
        raise UnsupportedError("ImageDecoder decodes with Pillow, which is not installed: "
                               "pip install 'graphjit[image]' (or pip install pillow)") \
            from None
    return Image


def _decoder_infer(specs, attrs):
    ((shape, dtype),) = specs
    check_dtype(dtype, frozenset({dtypes.uint8}), "encoded_stream")
    if len(shape) != 1:
        raise ShapeError(f"encoded_stream must be 1-D bytes, got shape {list(shape)}")
    if attrs["pixel_format"] not in PIXEL_FORMATS:
        raise UnsupportedError(f"pixel_format {attrs['pixel_format']!r} is not one of "
                               f"{', '.join(PIXEL_FORMATS)}")
    return (None, None, 1 if attrs["pixel_format"] == "Grayscale" else 3), dtypes.uint8


def _decoder_reference(encoded, *, pixel_format):
    image_module = pillow_image()
    try:
        image = image_module.open(io.BytesIO(np.asarray(encoded, np.uint8).tobytes()))
        image.load()
    except (OSError, ValueError, SyntaxError) as e:
        raise InvalidArgumentError(f"ImageDecoder: {len(encoded)} bytes are not an image "
                                   f"Pillow can decode ({e})") from None
    if pixel_format == "Grayscale":
        return np.ascontiguousarray(np.asarray(image.convert("L"), np.uint8)[:, :, None])
    rgb = np.asarray(image.convert("RGB"), np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1] if pixel_format == "BGR" else rgb)


register(OpDef("ImageDecoder", _decoder_infer, _decoder_reference, Fusion.HOST,
               Host("the image's size depends on the bytes: Pillow decodes it between the "
                    "plans before and after it"),
               attrs={"pixel_format": Attr(AttrKind.STR)},
               dynamic_shape=True, differentiable=False, onnx=Onnx("ImageDecoder")))


def decode_image(encoded, pixel_format: str = "RGB", name: str | None = None) -> Tensor:
    """[H, W, 3] (RGB or BGR) or [H, W, 1] (Grayscale) uint8 from 1-D uint8 encoded bytes."""
    pillow_image()
    x = convert_to_tensor(encoded, dtype=dtypes.uint8)
    return make("ImageDecoder", [x], {"pixel_format": pixel_format}, name=name,
                default_name="ImageDecoder")


__all__: list[str] = []
