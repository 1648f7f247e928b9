"""ONNX NonMaxSuppression (graphjit.onnx.ops_nms, a host step between plans) beyond
ONNX's node cases: many random boxes of several batches and classes, both box formats,
with and without a score threshold, an op after it that reads the picks (so a plan runs
on the size NMS found); compiled against graphjit's reference interpreter and ONNX's
reference; and the refusal that names the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402

F32, I64 = np.float32, np.int64


def _model(with_threshold: bool, **attrs):
    names = ["boxes", "scores", "count", "iou"] + (["least"] if with_threshold else [])
    nodes = [helper.make_node("NonMaxSuppression", names, ["picks"], name="the_node", **attrs),
             helper.make_node("Constant", [], ["two"], value_ints=[2]),
             helper.make_node("Gather", ["picks", "two"], ["box"], axis=1),
             helper.make_node("ReduceSum", ["box"], ["total"], keepdims=0)]
    ins = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [2, 40, 4]),
           helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, 3, 40]),
           helper.make_tensor_value_info("count", TensorProto.INT64, [1]),
           helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1])]
    if with_threshold:
        ins.append(helper.make_tensor_value_info("least", TensorProto.FLOAT, [1]))
    outs = [helper.make_tensor_value_info("picks", TensorProto.INT64, [None, 3]),
            helper.make_tensor_value_info("total", TensorProto.INT64, [])]
    graph = helper.make_graph(nodes, "g", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def _feeds(rng, count, least):
    corner = rng.uniform(0, 10, (2, 40, 2))
    size = rng.uniform(0.5, 4, (2, 40, 2))
    boxes = np.concatenate([corner, corner + size], axis=-1).astype(F32)
    feeds = {"boxes": boxes, "scores": rng.random((2, 3, 40)).astype(F32),
             "count": np.array([count], I64), "iou": np.array([0.3], F32)}
    if least is not None:
        feeds["least"] = np.array([least], F32)
    return feeds


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("least", [None, 0.4])
def test_matches_references(center, least):
    model = _model(least is not None, center_point_box=center)
    graph = import_model(model)
    run = graph.compile()
    rng = np.random.default_rng(5 + center)
    for count in (3, 50):  # the picks' count differs from run to run
        feeds = _feeds(rng, count, least)
        got = [np.asarray(v) for v in run(**feeds)]
        ref = evaluate(graph.outputs, {t: feeds[k] for t, k in zip(graph.inputs,
                                                                   graph.input_names)})
        want = ReferenceEvaluator(model).run(None, feeds)
        for g, r, w in zip(got, ref, want):
            np.testing.assert_array_equal(g, np.asarray(r))
            np.testing.assert_array_equal(g, w)
        assert 0 < got[0].shape[0] <= 2 * 3 * count


def test_an_undefined_box_format_is_refused_naming_the_node():
    with pytest.raises(UnsupportedError, match="the_node.*center_point_box"):
        import_model(_model(False, center_point_box=2))
