"""ONNX ConvTranspose (graphjit.onnx.ops_conv_transpose) beyond ONNX's node cases: groups
with strides, dilations, asymmetric pads and output_padding together, a filter that is a
model input (flipped in the graph, not at import), 1-D and 3-D; compiled against
graphjit's reference interpreter and onnxruntime; and the refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper, numpy_helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from graphjit.onnx.convert import InvalidModelError  # noqa: E402
from tests.onnx.nn_util import run_ort, tensor_type  # noqa: E402

F32 = np.float32


def _model(nodes, inputs, outputs, inits):
    ins = [helper.make_tensor_value_info(n, tensor_type(F32), s) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(n, tensor_type(F32), None) for n in outputs]
    graph = helper.make_graph(nodes, "test", ins, outs, initializer=[
        numpy_helper.from_array(v, n) for n, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


CASES = [  # (x shape, w shape, attrs, filter given as a model input)
    ([2, 4, 5, 6], [4, 3, 3, 2], dict(group=2, strides=[2, 3], dilations=[2, 1],
                                      pads=[1, 0, 2, 1], output_padding=[1, 2]), True),
    ([1, 3, 4, 4], [3, 2, 2, 3], dict(strides=[2, 2], auto_pad="SAME_LOWER"), False),
    ([2, 2, 7], [2, 3, 4], dict(strides=[3], pads=[2, 1], dilations=[2]), False),
    ([1, 2, 3, 2, 3], [2, 2, 2, 3, 2], dict(strides=[1, 2, 2], output_shape=[3, 5, 5]), True),
]


@pytest.mark.parametrize("x_shape,w_shape,attrs,w_input", CASES)
def test_compiled_matches_interpreter_and_onnxruntime(x_shape, w_shape, attrs, w_input):
    rng = np.random.default_rng(len(x_shape))
    x = rng.standard_normal(x_shape).astype(F32)
    w = rng.standard_normal(w_shape).astype(F32)
    bias = rng.standard_normal(w_shape[1] * attrs.get("group", 1)).astype(F32)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="ct", **attrs)
    inputs = {"x": x_shape, **({"w": w_shape} if w_input else {})}
    inits = {"b": bias, **({} if w_input else {"w": w})}
    model = _model([node], inputs, ["y"], inits)
    feeds = {"x": x, **({"w": w} if w_input else {})}
    graph = import_model(model)
    got = np.asarray(graph.compile()(**feeds)[0])
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs,
                                                               graph.input_names)})[0]
    np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-5, atol=1e-5)
    want = run_ort(model, feeds)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attrs,error,words", [
    (dict(auto_pad="MIDDLE"), UnsupportedError, "MIDDLE"),
    (dict(group=3), InvalidModelError, "group=3"),
    (dict(pads=[2, 2, 2, 2]), InvalidModelError, "empty output"),
])
def test_bad_attributes_name_the_node(attrs, error, words):
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="the_node", **attrs)
    model = _model([node], {"x": [1, 2, 1, 1]}, ["y"],
                   {"w": np.ones((2, 1, 2, 2), F32)})
    with pytest.raises(error, match=f"the_node.*{words}"):
        import_model(model)
