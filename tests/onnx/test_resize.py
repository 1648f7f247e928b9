"""Resize beyond ONNX's node cases, against onnx's reference: integer and float64
inputs, batches and channels, negative axes, roi given with scales, nearest with
tf_crop_and_resize's extrapolation, and the error for a resized axis of unknown size."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.onnx import backend  # noqa: E402

RNG = np.random.default_rng(3)


def _model(x, consts, opset=19, shape=None, **attrs):
    names = ["x"] + [name if value is not None else "" for name, value in consts]
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    graph = helper.make_graph(
        [helper.make_node("Resize", names, ["y"], **attrs)], "g",
        [helper.make_tensor_value_info("x", elem, shape or x.shape)],
        [helper.make_tensor_value_info("y", elem, None)],
        [numpy_helper.from_array(v, n) for n, v in consts if v is not None])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(x, consts, opset=19, **attrs):
    model = _model(x, consts, opset, **attrs)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = backend.prepare(model).run([x])[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 if x.dtype.kind == "f" else 1)


def _scales(*s):
    return [("roi", None), ("scales", np.array(s, np.float32))]


def _sizes(*s):
    return [("roi", None), ("scales", None), ("sizes", np.array(s, np.int64))]


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_batch_and_channels(mode):
    x = RNG.standard_normal((2, 3, 5, 4)).astype(np.float32)
    _check(x, _scales(1, 1, 1.6, 0.75), mode=mode)


def test_uint8_image_linear_rounds_and_saturates():
    x = RNG.integers(0, 256, (1, 3, 4, 5)).astype(np.uint8)
    _check(x, _scales(1, 1, 2.0, 1.5), mode="cubic")  # cubic overshoots past 0 and 255
    _check(x, _sizes(7, 3), mode="linear", axes=[2, 3])
    # (onnx's reference refuses negative axes: compare with the positive ones)
    run = [backend.prepare(_model(x, _sizes(7, 3), mode="linear", axes=axes)).run([x])[0]
           for axes in ([2, 3], [-2, -1])]
    np.testing.assert_array_equal(*run)


def test_float64_antialias_and_pytorch_half_pixel():
    x = RNG.standard_normal((1, 6, 9)).astype(np.float64)
    _check(x, _sizes(1, 3, 4), mode="linear", antialias=1)
    _check(x, _sizes(1, 1, 4), mode="cubic", coordinate_transformation_mode="pytorch_half_pixel")


def test_opset13_roi_with_nearest_crop_and_extrapolation():
    x = RNG.standard_normal((1, 1, 4, 4)).astype(np.float32)
    roi = np.array([0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3], np.float32)
    _check(x, [("roi", roi), ("scales", None), ("sizes", np.array([1, 1, 3, 5], np.int64))],
           opset=13, mode="nearest", coordinate_transformation_mode="tf_crop_and_resize",
           extrapolation_value=7.0)


def test_resized_axis_of_unknown_size_is_refused():
    x = np.zeros((1, 1, 4, 4), np.float32)
    model = _model(x, _scales(1, 1, 2, 2), shape=[1, 1, None, None])
    with pytest.raises(gj.UnsupportedError, match="must have known sizes"):
        backend.prepare(model).run([x])


def test_a_free_batch_kept_at_scale_one():
    x = RNG.standard_normal((3, 2, 4, 4)).astype(np.float32)
    model = _model(x, _scales(1, 1, 1.5, 2), shape=[None, 2, 4, 4], mode="linear")
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    rep = backend.prepare(model)
    np.testing.assert_allclose(rep.run([x])[0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rep.run([x[:1]])[0], want[:1], rtol=1e-5, atol=1e-6)
