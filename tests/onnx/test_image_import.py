"""ONNX ImageDecoder (graphjit.onnx.ops_image): images Pillow encodes decoded in each
pixel format, with a free stream length; bytes that are no image fail at run time
naming the op; without Pillow the import says which extra to install."""

import io
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402

from graphjit.errors import InvalidArgumentError, UnsupportedError  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.test_import import model  # noqa: E402

PIXELS = (np.arange(4 * 5 * 3, dtype=np.uint8) * 7).reshape(4, 5, 3)


def _decoder(pixel_format=None):
    attrs = {} if pixel_format is None else {"pixel_format": pixel_format}
    return model([helper.make_node("ImageDecoder", ["x"], ["y"], name="decode", **attrs)],
                 [("x", TensorProto.UINT8, ["N"])], [("y", TensorProto.UINT8, None)],
                 opset=20)


def _encoded(fmt: str) -> np.ndarray:
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(PIXELS, "RGB").save(out, format=fmt)
    return np.frombuffer(out.getvalue(), np.uint8)


@pytest.fixture(scope="module")
def pillow():
    return pytest.importorskip("PIL.Image")


@pytest.mark.parametrize("fmt", ["PNG", "BMP"])
def test_lossless_images_decode_in_each_pixel_format(pillow, fmt):
    gray = np.asarray(pillow.fromarray(PIXELS, "RGB").convert("L"))[:, :, None]
    expected = {None: PIXELS, "RGB": PIXELS, "BGR": PIXELS[:, :, ::-1], "Grayscale": gray}
    for pixel_format, want in expected.items():
        g = import_model(_decoder(pixel_format))
        assert g.outputs[0].shape.as_list() == [None, None, want.shape[2]]
        (got,) = g.compile()(x=_encoded(fmt))
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_bytes_that_are_no_image_fail_naming_the_op(pillow):
    fn = import_model(_decoder()).compile()
    with pytest.raises(InvalidArgumentError, match="ImageDecoder.*not an image"):
        fn(x=np.frombuffer(b"not an image at all", np.uint8))


def test_without_pillow_the_import_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)  # (import PIL then raises ImportError)
    with pytest.raises(UnsupportedError, match=r"'decode'.*graphjit\[image\]"):
        import_model(_decoder())
