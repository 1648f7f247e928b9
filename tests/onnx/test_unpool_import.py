"""ONNX Col2Im and MaxUnpool (graphjit.onnx.ops_unpool) beyond ONNX's node cases: strides,
dilations and pads together in 2-D and 3-D, MaxUnpool of overlapping windows (a cell
two windows share) and of a batch; compiled against graphjit's reference interpreter
and ONNX's reference; and the refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import Error  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

F32, I64 = np.float32, np.int64


def _model(node, inputs, inits, opset=22):
    ins = [helper.make_tensor_value_info(n, tensor_type(d), s) for n, (d, s) in inputs.items()]
    out = helper.make_tensor_value_info(node.output[0], tensor_type(F32), None)
    graph = helper.make_graph([node], "g", ins, [out], initializer=[
        numpy_helper.from_array(np.asarray(v), n) for n, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, feeds):
    graph = import_model(model)
    got = np.asarray(graph.compile()(**feeds)[0])
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs,
                                                               graph.input_names)})[0]
    np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-6, atol=1e-6)
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return got


@pytest.mark.parametrize("image,block,attrs", [
    ([7, 6], [2, 3], dict(strides=[2, 1], dilations=[2, 1], pads=[1, 0, 2, 2])),
    ([4, 3, 5], [2, 2, 3], dict(strides=[1, 2, 1], pads=[0, 1, 0, 1, 0, 1])),
])
def test_col2im_matches_references(image, block, attrs):
    n = len(image)
    pads = attrs.get("pads", [0] * 2 * n)
    strides, dil = attrs.get("strides", [1] * n), attrs.get("dilations", [1] * n)
    blocks = [(image[i] + pads[i] + pads[i + n] - (block[i] - 1) * dil[i] - 1) // strides[i]
              + 1 for i in range(n)]
    shape = [2, 3 * int(np.prod(block)), int(np.prod(blocks))]
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], **attrs)
    model = _model(node, {"x": (F32, shape)}, {"image": np.array(image, I64),
                                               "block": np.array(block, I64)})
    x = np.random.default_rng(n).standard_normal(shape).astype(F32)
    _check(model, {"x": x})


def test_max_unpool_of_overlapping_windows_matches_references():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 6)).astype(F32)
    x[0, 0, 2, 2] = 9.0  # the maximum of several overlapping windows
    pool = helper.make_node("MaxPool", ["x"], ["v", "i"], kernel_shape=[3, 2], strides=[1, 2])
    values, indices = ReferenceEvaluator(helper.make_model(helper.make_graph(
        [pool], "p", [helper.make_tensor_value_info("x", tensor_type(F32), x.shape)],
        [helper.make_tensor_value_info("v", tensor_type(F32), None),
         helper.make_tensor_value_info("i", tensor_type(I64), None)]),
        opset_imports=[helper.make_opsetid("", 22)])).run(None, {"x": x})
    assert len(np.unique(indices)) < indices.size  # some cell is the max of two windows
    node = helper.make_node("MaxUnpool", ["v", "i", "shape"], ["y"], kernel_shape=[3, 2],
                            strides=[1, 2])
    model = _model(node, {"v": (F32, list(values.shape)), "i": (I64, list(indices.shape))},
                   {"shape": np.array([2, 3, 7, 6], I64)})
    got = _check(model, {"v": values, "i": indices})
    assert got[0, 0, 2, 2] == 9.0 and got[0, 0, 6].sum() == 0  # once, not summed; padding 0


def test_col2im_with_a_block_that_does_not_fit_names_the_node():
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], name="the_node")
    model = _model(node, {"x": (F32, [1, 4, 5])}, {"image": np.array([3, 3], I64),
                                                   "block": np.array([2, 2], I64)})
    with pytest.raises(Error, match="the_node"):
        import_model(model)
