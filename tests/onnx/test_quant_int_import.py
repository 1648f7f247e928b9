"""ONNX MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv and DynamicQuantizeLinear
(graphjit.onnx.ops_quant_int) beyond ONNX's node cases: extreme 8-bit values, per-column
and per-channel zero points and scales, a group convolution with padding and strides;
compiled against graphjit's reference interpreter and ONNX's reference, bit for bit
(the integer arithmetic is exact); and the refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

U8, I8, I32, F32 = np.uint8, np.int8, np.int32, np.float32


def _model(nodes, inputs, outputs, inits):
    ins = [helper.make_tensor_value_info(n, tensor_type(d), s) for n, (d, s) in inputs.items()]
    outs = [helper.make_tensor_value_info(n, tensor_type(d), None) for n, d in outputs]
    graph = helper.make_graph(nodes, "test", ins, outs, initializer=[
        numpy_helper.from_array(np.asarray(v), n) for n, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def _inits():
    rng = np.random.default_rng(3)
    return {
        "b": rng.integers(-128, 128, (7, 5), I8), "b_zero": np.array([0, -128, 127, 3, -1], I8),
        "a_zero": np.array(17, U8), "a_scale": np.array(0.02, F32),
        "b_scale": np.array(0.3, F32), "y_scale": np.array(0.5, F32),
        "y_zero": np.array(-3, I8), "b8": rng.integers(-128, 128, (7, 5), I8),
        "b8_zero": np.array(5, I8),
        "w": rng.integers(0, 256, (4, 2, 3, 3), U8), "w_zero": np.array([0, 255, 128, 7], U8),
        "x_zero": np.array(200, U8), "x_scale": np.array(0.05, F32),
        "w_scale": np.array([0.01, 0.2, 0.03, 0.004], F32), "yc_scale": np.array(0.7, F32),
        "yc_zero": np.array(128, U8), "bias": np.array([-1000, 0, 77, 123456], I32),
    }


def _nodes():
    conv = {"group": 2, "pads": [1, 0, 2, 1], "strides": [2, 1], "kernel_shape": [3, 3]}
    return [
        helper.make_node("MatMulInteger", ["a", "b", "a_zero", "b_zero"], ["mmi"]),
        helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zero", "b8", "b_scale",
                                           "b8_zero", "y_scale", "y_zero"], ["qmm"]),
        helper.make_node("ConvInteger", ["x", "w", "x_zero", "w_zero"], ["ci"], **conv),
        helper.make_node("QLinearConv", ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero",
                                         "yc_scale", "yc_zero", "bias"], ["qc"], **conv),
        helper.make_node("DynamicQuantizeLinear", ["f"], ["dq", "dq_scale", "dq_zero"]),
    ]


@pytest.fixture(scope="module")
def compiled():
    model = _model(_nodes(), {"a": (U8, [None, 6, 7]), "x": (U8, [2, 4, 7, 6]),
                              "f": (F32, [None, 9])},
                   [("mmi", I32), ("qmm", I8), ("ci", I32), ("qc", U8), ("dq", U8),
                    ("dq_scale", F32), ("dq_zero", U8)], _inits())
    graph = import_model(model)
    return model, graph, graph.compile()


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_matches_references_exactly(compiled, seed):
    model, graph, fn = compiled
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (2 + seed, 6, 7), U8)
    a[0, 0] = 255  # the extremes saturate QLinearMatMul's output
    x = rng.integers(0, 256, (2, 4, 7, 6), U8)
    f = (rng.standard_normal((3, 9)) * 4).astype(F32)
    if seed:
        f = np.abs(f)  # all positive: the zero point is 0
    feeds = {"a": a, "x": x, "f": f}
    got = [np.asarray(g) for g in fn(**feeds)]
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs,
                                                               graph.input_names)})
    want = ReferenceEvaluator(model).run(None, feeds)
    for name, g, r, w in zip([o.name for o in model.graph.output], got, ref, want):
        np.testing.assert_array_equal(g, np.asarray(r), err_msg=name)
        assert g.dtype == w.dtype and g.shape == w.shape, name
        np.testing.assert_array_equal(g, w, err_msg=name)
    qmm = got[1]
    assert qmm.min() == -128 or qmm.max() == 127  # the saturation was exercised


@pytest.mark.parametrize("node,inits,words", [
    (helper.make_node("MatMulInteger", ["a", "b", "az"], ["y"], name="the_node"),
     {"b": np.ones((3, 2), U8), "az": np.array([1, 2], U8)}, "zero point of A"),
    (helper.make_node("QLinearMatMul", ["a", "s2", "z", "b", "s", "z", "s", "z"], ["y"],
                      name="the_node"),
     {"b": np.ones((3, 2), U8), "s": np.array(0.1, F32), "s2": np.array([0.1, 0.2], F32),
      "z": np.array(0, U8)}, "a_scale"),
])
def test_per_row_values_are_refused_naming_the_node(node, inits, words):
    model = _model([node], {"a": (U8, [2, 3])}, [("y", I32)], inits)
    with pytest.raises(UnsupportedError, match=f"the_node.*{words}"):
        import_model(model)


def test_conv_integer_bad_auto_pad_names_the_node():
    model = _model([helper.make_node("ConvInteger", ["x", "w"], ["y"], name="the_node",
                                     auto_pad="MIDDLE")],
                   {"x": (U8, [1, 1, 3, 3])}, [("y", I32)], {"w": np.ones((1, 1, 2, 2), U8)})
    with pytest.raises(UnsupportedError, match="the_node.*MIDDLE"):
        import_model(model)
