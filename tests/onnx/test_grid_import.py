"""ONNX GridSample and AffineGrid (graphjit.onnx.ops_grid) against onnxruntime, compiled,
and compiled against graphjit's NumPy interpreter: every mode with every padding mode
on points well outside the image (where border and reflection differ), 2-D and 3-D,
float64, an AffineGrid feeding a GridSample; and the values graphjit refuses."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import InvalidModelError, import_model  # noqa: E402
from tests.onnx.nn_util import make_model, run_ort, tensor_type  # noqa: E402

F32, F64 = np.float32, np.float64


def run_reference(model, feeds):
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(model).run(None, feeds)


def sample_model(x_shape, g_shape, dtype=F32, opset=22, **attrs):
    node = helper.make_node("GridSample", ["x", "g"], ["y"], name="gs", **attrs)
    return make_model([node], {"x": (dtype, list(x_shape)), "g": (dtype, list(g_shape))},
                      [("y", dtype)], opset=opset)


def both(model, feeds, tol, oracle=run_ort):
    """graphjit compiled vs `oracle` (onnxruntime) and vs graphjit's interpreter."""
    graph = import_model(model)
    got = np.asarray(graph.compile()(**feeds)[0])
    want = oracle(model, feeds)[0]
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs, graph.input_names)})
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got, np.asarray(ref[0]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_2d_matches_onnxruntime(mode, padding, align):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 5)).astype(F32)
    g = rng.uniform(-2.7, 2.7, size=(2, 3, 6, 2)).astype(F32)  # far outside: reflects twice
    model = sample_model(x.shape, g.shape, mode=mode, padding_mode=padding,
                         align_corners=align)
    # Cubic with border padding: onnxruntime (like PyTorch) clamps each tap only; ONNX's
    # reference, whose results the node cases hold, also clamps the coordinate first.
    oracle = run_reference if (mode, padding) == ("cubic", "border") else run_ort
    both(model, {"x": x, "g": g}, 1e-4, oracle)


@pytest.mark.parametrize("mode,padding", [("linear", "reflection"), ("nearest", "border"),
                                          ("linear", "zeros")])
def test_grid_sample_3d_float64_matches_onnxruntime(mode, padding):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 2, 3, 4, 5))
    g = rng.uniform(-1.5, 1.5, size=(1, 2, 3, 2, 3))
    both(sample_model(x.shape, g.shape, F64, mode=mode, padding_mode=padding),
         {"x": x, "g": g}, 1e-9)


def test_grid_sample_16_spells_bilinear_and_bicubic():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 1, 3, 3)).astype(F32)
    g = rng.uniform(-1, 1, size=(1, 2, 2, 2)).astype(F32)
    for mode in ("bilinear", "bicubic"):
        both(sample_model(x.shape, g.shape, opset=16, mode=mode), {"x": x, "g": g}, 1e-5)


@pytest.mark.parametrize("align", [0, 1])
def test_affine_grid_into_grid_sample_matches_onnxruntime(align):
    nodes = [helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=align),
             helper.make_node("GridSample", ["x", "grid"], ["y"], align_corners=align)]
    model = make_model(nodes, {"theta": (F32, [2, 2, 3]), "x": (F32, [2, 3, 4, 5])},
                       [("grid", F32), ("y", F32)],
                       {"size": np.array([2, 3, 6, 7], np.int64)}, opset=22)
    rng = np.random.default_rng(6)
    feeds = {"theta": rng.normal(size=(2, 2, 3)).astype(F32),
             "x": rng.normal(size=(2, 3, 4, 5)).astype(F32)}
    graph = import_model(model)
    got = graph.compile()(**feeds)
    for g, w in zip(got, run_ort(model, feeds)):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-5)


def test_an_unknown_padding_mode_is_refused_naming_the_node():
    with pytest.raises(UnsupportedError, match=r"GridSample 'gs'.*padding_mode='wrap'"):
        import_model(sample_model((1, 1, 2, 2), (1, 2, 2, 2), padding_mode="wrap"))


def test_a_grid_that_does_not_fit_is_refused_naming_the_node():
    node = helper.make_node("GridSample", ["x", "g"], ["y"], name="gs")
    ins = [helper.make_tensor_value_info(n, tensor_type(F32), s)
           for n, s in (("x", [1, 1, 2, 2]), ("g", [1, 2, 2, 3]))]
    model = helper.make_model(helper.make_graph(
        [node], "t", ins, [helper.make_tensor_value_info("y", tensor_type(F32), None)]),
        opset_imports=[helper.make_opsetid("", 22)])
    with pytest.raises(InvalidModelError, match=r"GridSample 'gs'.*grid \[1, 2, 2, 3\]"):
        import_model(model)


def test_nearest_samples_an_integer_image_exactly():
    x = (np.arange(2 * 3 * 4, dtype=np.int64) * 10**12).reshape(1, 2, 3, 4)  # no float32 path
    g = np.random.default_rng(7).uniform(-1.2, 1.2, size=(1, 2, 5, 2)).astype(F32)
    node = helper.make_node("GridSample", ["x", "g"], ["y"], mode="nearest",
                            padding_mode="border")
    model = make_model([node], {"x": (np.int64, [1, 2, 3, 4]), "g": (F32, [1, 2, 5, 2])},
                       [("y", np.int64)], opset=22)
    got = np.asarray(import_model(model).compile()(x=x, g=g)[0])
    np.testing.assert_array_equal(got, run_reference(model, {"x": x, "g": g})[0])


def test_linear_sampling_of_an_integer_image_is_refused_naming_the_node():
    node = helper.make_node("GridSample", ["x", "g"], ["y"], name="gs")
    model = make_model([node], {"x": (np.int32, [1, 1, 2, 2]), "g": (F32, [1, 2, 2, 2])},
                       [("y", np.int32)], opset=22)
    with pytest.raises(UnsupportedError, match=r"GridSample 'gs'.*linear sampling of a int32"):
        import_model(model)
