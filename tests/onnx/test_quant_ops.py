"""QuantizeLinear / DequantizeLinear beyond ONNX's node cases: negative axes, ties
rounding half to even, saturation, a blocked scale with a short last block, and the
errors for a scale that does not fit x. Expected values from onnx's reference."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.onnx import backend  # noqa: E402
from graphjit.onnx.convert import InvalidModelError  # noqa: E402


def _model(op, inputs, out_type, **attrs):
    names = [name for name, _ in inputs]
    node = helper.make_node(op, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs],
        [helper.make_tensor_value_info("y", out_type, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def _check(op, inputs, out_type, **attrs):
    model = _model(op, inputs, out_type, **attrs)
    values = [v for _, v in inputs]
    want = ReferenceEvaluator(model).run(None, dict(inputs))[0]
    got = backend.prepare(model).run(values)[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))


X = np.array([[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], [300.0, -300.0, 1.0, 2.0, 3.0, 7.5]],
             np.float32)


def test_quantize_ties_half_to_even_and_saturates():
    _check("QuantizeLinear", [("x", X), ("s", np.float32(1.0)), ("z", np.int8(0))],
           TensorProto.INT8)
    _check("QuantizeLinear", [("x", X), ("s", np.float32(0.5)), ("z", np.uint8(10))],
           TensorProto.UINT8)


def test_quantize_and_dequantize_along_a_negative_axis():
    scale = np.array([0.5, 2.0], np.float32)
    zero = np.array([3, 250], np.uint8)
    _check("QuantizeLinear", [("x", X.T.copy()), ("s", scale), ("z", zero)],
           TensorProto.UINT8, axis=-1)
    q = np.arange(12, dtype=np.uint8).reshape(6, 2)
    _check("DequantizeLinear", [("x", q), ("s", scale), ("z", zero)], TensorProto.FLOAT,
           axis=-1)


def test_blocked_scale_with_a_short_last_block():
    scale = np.array([[0.5, 1.0, 4.0], [2.0, 0.25, 1.0]], np.float32)  # blocks 2, 2, 2
    _check("QuantizeLinear", [("x", X), ("s", scale)], TensorProto.INT8, axis=1,
           block_size=2, output_dtype=TensorProto.INT8)
    short = np.array([[0.5, 1.0], [2.0, 0.25]], np.float32)  # blocks 4 and a short 2
    _check("DequantizeLinear", [("x", np.arange(12, dtype=np.int8).reshape(2, 6)),
                                ("s", short)], TensorProto.FLOAT, axis=1, block_size=4)


def test_a_scale_too_short_for_its_blocks_is_refused():
    short = np.array([[0.5, 1.0], [2.0, 0.25]], np.float32)
    model = _model("DequantizeLinear", [("x", np.zeros((2, 6), np.int8)), ("s", short)],
                   TensorProto.FLOAT, axis=1, block_size=2)
    with pytest.raises(InvalidModelError, match="2 blocks of 2 along axis 1"):
        backend.prepare(model).run([np.zeros((2, 6), np.int8), short])


E8M0_VALUES = np.array([0.0, -0.0, 1e-45, 2.0 ** -127, 3 * 2.0 ** -128, 2.0 ** -126, 0.124,
                        0.125, 0.1875, 0.19, 1.5, 1.4999999, -3.0, 2.0 ** 127, 1.5 * 2.0 ** 127,
                        3.3e38, np.inf, -np.inf, np.nan, 1e-300, 1e300], np.float64)


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_cast_to_float8e8m0_rounds_as_onnx(round_mode, saturate, dtype):
    from onnx.numpy_helper import to_float8e8m0
    with np.errstate(over="ignore"):
        x = E8M0_VALUES.astype(dtype)
    model = _model("Cast", [("x", x)], TensorProto.FLOAT8E8M0, to=TensorProto.FLOAT8E8M0,
                   saturate=saturate, round_mode=round_mode)
    model.opset_import[0].version = 25
    got = backend.prepare(model).run([x])[0]
    with np.errstate(over="ignore"):
        want = to_float8e8m0(x, bool(saturate), round_mode)
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_cast_between_narrow_floats_saturates_as_onnx():
    import ml_dtypes
    x = np.array([1e4, -3e38, np.inf, 0.3, np.nan], np.float32).astype(ml_dtypes.bfloat16)
    for saturate in (0, 1):
        model = _model("Cast", [("x", x)], TensorProto.FLOAT8E4M3FN,
                       to=TensorProto.FLOAT8E4M3FN, saturate=saturate)
        want = ReferenceEvaluator(model).run(None, {"x": x})[0]
        got = backend.prepare(model).run([x])[0]
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
