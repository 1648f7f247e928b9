"""ONNX DeformConv (graphjit.onnx.ops_deform_conv) beyond ONNX's node cases: groups and
offset groups together with strides, dilations, asymmetric pads, a mask and a bias,
offsets that move samples off the image; compiled against graphjit's reference
interpreter and ONNX's reference; and the refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import Error  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

F32 = np.float32


def _model(attrs, shapes, inits):
    node = helper.make_node("DeformConv", ["x", "w", "offset", "b", "mask"], ["y"],
                            name="the_node", **attrs)
    ins = [helper.make_tensor_value_info(n, tensor_type(F32), s) for n, s in shapes.items()]
    graph = helper.make_graph([node], "g", ins, [helper.make_tensor_value_info(
        "y", tensor_type(F32), None)], initializer=[numpy_helper.from_array(v, n)
                                                    for n, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


ATTRS = dict(group=2, offset_group=2, strides=[2, 1], dilations=[1, 2], pads=[1, 1, 0, 2])


def test_groups_offsets_mask_and_bias_match_references():
    rng = np.random.default_rng(7)
    shapes = {"x": [2, 4, 5, 6], "offset": [2, 24, 3, 5], "mask": [2, 12, 3, 5]}
    inits = {"w": rng.standard_normal((6, 2, 2, 3)).astype(F32),
             "b": rng.standard_normal(6).astype(F32)}
    model = _model(ATTRS, shapes, inits)
    feeds = {"x": rng.standard_normal(shapes["x"]).astype(F32),
             "offset": (rng.standard_normal(shapes["offset"]) * 1.5).astype(F32),
             "mask": rng.uniform(0, 1, shapes["mask"]).astype(F32)}
    graph = import_model(model)
    got = np.asarray(graph.compile()(**feeds)[0])
    ref = evaluate(graph.outputs, {t: feeds[k] for t, k in zip(graph.inputs,
                                                               graph.input_names)})[0]
    np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-5, atol=1e-5)
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    assert got.shape == want.shape == (2, 6, 3, 5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_an_offset_that_does_not_fit_the_groups_names_the_node():
    shapes = {"x": [1, 4, 5, 6], "offset": [1, 12, 3, 5], "mask": [1, 12, 3, 5]}
    inits = {"w": np.ones((6, 2, 2, 3), F32), "b": np.zeros(6, F32)}
    with pytest.raises(Error, match="the_node.*offset_group"):
        import_model(_model(ATTRS, shapes, inits))
