"""ONNX MaxPool's Indices output (graphjit.onnx.pool_indices) against onnxruntime: pads,
strides, ceil_mode, SAME padding, storage_order=1, 1-D, 3-D and dilated windows."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import check, make_model  # noqa: E402

I64 = TensorProto.INT64

_2D = [dict(kernel_shape=[2, 2]), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
       dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
       dict(kernel_shape=[3, 2], auto_pad="SAME_UPPER", strides=[2, 1]),
       dict(kernel_shape=[2, 3], storage_order=1, pads=[0, 1, 1, 0]),
       dict(kernel_shape=[2, 2], dilations=[2, 1])]


def _nodes(variants, x="x"):
    return [helper.make_node("MaxPool", [x], [f"y{i}", f"i{i}"], **attrs)
            for i, attrs in enumerate(variants)]


def _outputs(count):
    return [o for i in range(count) for o in ((f"y{i}", np.float32), (f"i{i}", np.int64))]


def test_max_pool_indices_2d():
    model = make_model(_nodes(_2D), {"x": (np.float32, [2, 3, 5, 6])}, _outputs(len(_2D)),
                       opset=12)
    x = np.random.default_rng(0).permutation(180).astype(np.float32).reshape(2, 3, 5, 6)
    check(model, {"x": x}, rtol=0, atol=0)


def test_max_pool_indices_1d_and_3d():
    nodes = [helper.make_node("MaxPool", ["a"], ["y0", "i0"], kernel_shape=[3], strides=[2],
                              pads=[1, 1]),
             helper.make_node("MaxPool", ["b"], ["y1", "i1"], kernel_shape=[2, 2, 2],
                              strides=[1, 2, 1])]
    model = make_model(nodes, {"a": (np.float32, [2, 2, 7]), "b": (np.float32, [1, 2, 3, 4, 3])},
                       _outputs(2), opset=12)
    rng = np.random.default_rng(1)
    feeds = {"a": rng.permutation(28).astype(np.float32).reshape(2, 2, 7),
             "b": rng.permutation(72).astype(np.float32).reshape(1, 2, 3, 4, 3)}
    check(model, feeds, rtol=0, atol=0)


def test_3d_column_major_is_refused_naming_the_node():
    node = helper.make_node("MaxPool", ["b"], ["y", "i"], kernel_shape=[2, 2, 2],
                            storage_order=1)
    vi = helper.make_tensor_value_info
    graph = helper.make_graph([node], "pool", [vi("b", TensorProto.FLOAT, [1, 1, 3, 3, 3])],
                              [vi("y", TensorProto.FLOAT, None), vi("i", I64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    with pytest.raises(UnsupportedError, match=r"MaxPool 'y'.*storage_order=1"):
        import_model(model)
