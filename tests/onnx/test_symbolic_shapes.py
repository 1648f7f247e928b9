"""Shape arithmetic on free dims at import (graphjit.onnx.symbolic): products and exact
quotients of a free batch size reach Reshape and Resize as exporters write them, and
what cannot be known at import is left to the backend's run-time specialization."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from graphjit.graph_queries import ops_needed  # noqa: E402
from graphjit.onnx import StaticValueRequired, backend, import_model  # noqa: E402
from tests.onnx.nn_util import run_ort  # noqa: E402
from tests.onnx.test_import import F32, compare, model, node  # noqa: E402


def _kinds(graph) -> set[str]:
    return {op.type for op in ops_needed([t.op for t in graph.outputs], set())}


def test_batch_times_heads_reshapes_and_divides_back():
    """x.view(n * 2, 3, 4) then .view(n * 2 // 2, 24), n free: as attention's heads."""
    nodes = [node("Shape", ["x"], ["s"]),
             node("Gather", ["s", "i0"], ["n"], axis=0),
             node("Mul", ["n", "two"], ["n2"]),
             node("Unsqueeze", ["n2", "zero"], ["n2u"]),
             node("Concat", ["n2u", "three_four"], ["t1"], axis=0),
             node("Reshape", ["x", "t1"], ["y"]),
             node("Div", ["n2", "two"], ["half"]),
             node("Unsqueeze", ["half", "zero"], ["hu"]),
             node("Concat", ["hu", "c24"], ["t2"], axis=0),
             node("Reshape", ["y", "t2"], ["z"])]
    m = model(nodes, [("x", F32, ["N", 6, 4])], [("y", F32, None), ("z", F32, None)],
              {"i0": np.array(0), "two": np.array(2), "zero": np.array([0]),
               "three_four": np.array([3, 4]), "c24": np.array([24])})
    g = import_model(m)
    assert [t.shape.as_list() for t in g.outputs] == [[None, 3, 4], [None, 24]]
    assert "Shape" not in _kinds(g)
    for batch in (1, 3):
        compare(m, {"x": np.arange(batch * 24, dtype=np.float32).reshape(batch, 6, 4)})


def test_inexact_division_of_a_free_dim_specializes_at_run_time():
    """n // 4 is not a multiple of n the import can name: the backend specializes."""
    nodes = [node("Shape", ["x"], ["s"]),
             node("Gather", ["s", "i0"], ["n"], axis=0),
             node("Div", ["n", "four"], ["q"]),
             node("Unsqueeze", ["q", "zero"], ["qu"]),
             node("Concat", ["qu", "minus1"], ["t"], axis=0),
             node("Reshape", ["x", "t"], ["y"])]
    m = model(nodes, [("x", F32, ["N", 3])], [("y", F32, None)],
              {"i0": np.array(0), "four": np.array(4), "zero": np.array([0]),
               "minus1": np.array([-1])})
    with pytest.raises(StaticValueRequired, match="Reshape"):
        import_model(m)
    x = np.arange(24, dtype=np.float32).reshape(8, 3)
    (got,) = backend.prepare(m).run([x])
    np.testing.assert_array_equal(got, run_ort(m, {"x": x})[0])


def _resize_model(shape_of: str):
    """Resize x [N, 2, 3, 4] to sizes Concat(Shape(shape_of)[:2], [6, 5]), linear, as
    torch writes it at opset 11 (upgraded to 13 on import)."""
    nodes = [node("Shape", [shape_of], ["full"]),
             node("Slice", ["full", "start", "end"], ["s"]),
             node("Concat", ["s", "hw"], ["sizes"], axis=0),
             node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")]
    inputs = [("x", F32, ["N", 2, 3, 4])]
    if shape_of != "x":
        inputs.append((shape_of, F32, ["M", 2]))
    return model(nodes, inputs, [("y", F32, None)],
                 {"hw": np.array([6, 5]), "start": np.array([0]), "end": np.array([2])},
                 opset=13)


def test_resize_sizes_keep_the_inputs_own_free_batch():
    """F.interpolate(x, size=(h, w)) exports sizes as Concat(Shape(x)[:2], [h, w])."""
    m = _resize_model("x")
    g = import_model(m)
    assert g.outputs[0].shape.as_list() == [None, 2, 6, 5]
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        compare(m, {"x": rng.standard_normal((batch, 2, 3, 4)).astype(np.float32)},
                rtol=1e-5)


def test_resize_sizes_from_another_tensor_need_fixed_shapes():
    """Another tensor's free dim may differ from x's: not resolved at import, which
    asks for static shapes (given, the model runs)."""
    m = _resize_model("other")
    with pytest.raises(StaticValueRequired, match="sizes"):
        import_model(m)
    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((2, 2, 3, 4)).astype(np.float32),
             "other": np.zeros((2, 2), np.float32)}
    g = import_model(m, input_shapes={"x": [2, 2, 3, 4], "other": [2, 2]})
    (got,) = g.compile()(**feeds)
    np.testing.assert_allclose(got, run_ort(m, feeds)[0],
                               rtol=1e-5, atol=1e-6)


def test_constant_of_shape_with_the_free_batch():
    """torch writes an LSTM's zero initial state as ConstantOfShape([2, x.size(0), 3])."""
    from onnx import numpy_helper
    nodes = [node("Shape", ["x"], ["s"]),
             node("Gather", ["s", "i0"], ["n"], axis=0),
             node("Unsqueeze", ["n", "zero"], ["nu"]),
             node("Concat", ["two", "nu", "three"], ["shape"], axis=0),
             node("ConstantOfShape", ["shape"], ["y"],
                  value=numpy_helper.from_array(np.array([1.5], np.float32))),
             node("Concat", ["nu", "nu"], ["square"], axis=0),
             node("ConstantOfShape", ["square"], ["sq"])]
    m = model(nodes, [("x", F32, [4, "N"])], [("y", F32, None), ("sq", F32, None)],
              {"i0": np.array(1), "zero": np.array([0]), "two": np.array([2]),
               "three": np.array([3])}, opset=13)
    with pytest.raises(StaticValueRequired, match="ConstantOfShape"):
        import_model(m)  # two free dims: n x n is not made at import
    single = model(nodes[:5], [("x", F32, [4, "N"])], [("y", F32, None)],
                   {"i0": np.array(1), "zero": np.array([0]), "two": np.array([2]),
                    "three": np.array([3])}, opset=13)
    assert import_model(single).outputs[0].shape.as_list() == [2, None, 3]
    for n in (1, 5):
        compare(single, {"x": np.zeros((4, n), np.float32)})
    x = np.zeros((4, 3), np.float32)
    got = backend.prepare(m).run([x])
    for g, w in zip(got, run_ort(m, {"x": x})):
        np.testing.assert_array_equal(g, w)
