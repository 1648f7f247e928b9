"""uint16, uint32 and uint64 graphs exported to ONNX and run by onnxruntime, then imported
back and compiled: each way the wrapped sums, differences and products and the comparisons agree."""

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphjit as tf  # noqa: E402
from graphjit.onnx import export, import_model  # noqa: E402


@pytest.mark.parametrize("dtype", [tf.uint16, tf.uint32, tf.uint64], ids=str)
def test_export_run_and_import_back(dtype):
    info = np.iinfo(dtype.np)
    x = np.array([0, 1, 9, info.max, info.max // 2 + 1], dtype.np)
    y = np.array([3, info.max, 2, 2, 3], dtype.np)
    graph = tf.Graph()
    with graph.as_default():
        a = tf.placeholder(dtype, [None], name="a")
        b = tf.placeholder(dtype, [None], name="b")
        fetches = [a + b, a * b, a - b, tf.cast(a < b, tf.int32)]
    want = tf.compile(fetches, feeds=[a, b])(x, y)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(want[0], x + y)
        np.testing.assert_array_equal(want[1], x * y)
    model = export(graph, fetches=fetches, feeds=[a, b])
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in model.graph.input]
    from_ort = session.run(None, dict(zip(names, (x, y))))
    back = import_model(model).compile()(x, y)
    for w, o, g in zip(want, from_ort, back):
        assert o.dtype == w.dtype == g.dtype
        np.testing.assert_array_equal(o, w)
        np.testing.assert_array_equal(g, w)
