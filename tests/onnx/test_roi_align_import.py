"""ONNX RoiAlign (graphjit.onnx.ops_roi_align) beyond ONNX's node cases: boxes reaching
past the map's edges and malformed (reversed) ones, several images, a spatial scale,
a 3 x 3 sampling grid and non-square bins, in both modes and both coordinate
transformations; compiled against graphjit's reference interpreter and ONNX's
reference; and the refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

F32, I64 = np.float32, np.int64


def _model(**attrs):
    node = helper.make_node("RoiAlign", ["x", "rois", "batch"], ["y"], name="the_node",
                            **attrs)
    ins = [helper.make_tensor_value_info("x", tensor_type(F32), [3, 2, 6, 7]),
           helper.make_tensor_value_info("rois", tensor_type(F32), [None, 4]),
           helper.make_tensor_value_info("batch", tensor_type(I64), [None])]
    graph = helper.make_graph([node], "g", ins, [helper.make_tensor_value_info(
        "y", tensor_type(F32), None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


ROIS = np.array([[0, 0, 13, 11], [-3, -4, 5, 2], [10, 8, 16, 14], [6, 6, 2, 1],
                 [1.5, 2.25, 9.75, 7.5]], F32)  # (x1, y1, x2, y2), in input pixels * 2


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("transform", ["half_pixel", "output_half_pixel"])
def test_matches_references(mode, transform):
    model = _model(mode=mode, coordinate_transformation_mode=transform, output_height=2,
                   output_width=3, sampling_ratio=3, spatial_scale=0.5)
    rng = np.random.default_rng(11)
    feeds = {"x": rng.standard_normal((3, 2, 6, 7)).astype(F32), "rois": ROIS,
             "batch": np.array([0, 2, 1, 0, 2], I64)}
    graph = import_model(model)
    got = np.asarray(graph.compile()(**feeds)[0])
    ref = evaluate(graph.outputs, {t: feeds[k] for t, k in zip(graph.inputs,
                                                               graph.input_names)})[0]
    np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-5, atol=1e-6)
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    assert got.shape == want.shape == (5, 2, 2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_an_adaptive_sampling_grid_is_refused_naming_the_node():
    with pytest.raises(UnsupportedError, match="the_node.*sampling_ratio=0"):
        import_model(_model(sampling_ratio=0))
