"""graphjit.onnx.import_model and the backend's run-time specialization: what the graph
looks like, how opsets and errors are handled, and results against onnxruntime."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.onnx import StaticValueRequired, backend, import_model  # noqa: E402
from tests.onnx.nn_util import run_ort  # noqa: E402

F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(nodes, inputs, outputs, initializers=(), opset=18, old_style_inputs=()):
    """inputs/outputs: [(name, elem_type, shape)]; initializers: {name: array}."""
    ins = [helper.make_tensor_value_info(*i) for i in inputs]
    ins += [helper.make_tensor_value_info(n, F32, None) for n in old_style_inputs]
    outs = [helper.make_tensor_value_info(*o) for o in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), n) for n, v in dict(initializers).items()]
    graph = helper.make_graph(nodes, "g", ins, outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def compare(m, feeds, rtol=1e-6):
    """graphjit's results equal onnxruntime's: dtype, shape and values."""
    got = import_model(m).compile()(**feeds)
    for g, w in zip(got, run_ort(m, feeds)):
        g = np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-6)


# -- the graph -------------------------------------------------------------------

def test_inputs_are_placeholders_initializers_constants_outputs_named():
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    m = model([node("Mul", ["x", "w"], ["y"]), node("Neg", ["y"], ["z"])],
              [("x", F32, ["N", 3, 1])], [("y", F32, None), ("z", F32, None)], {"w": w})
    g = import_model(m)
    assert isinstance(g, gj.Graph) and g.opset == 18
    (x,) = g.inputs
    assert x.op.type == "Placeholder" and x.shape == (None, 3, 1) and x.dtype == gj.float32
    assert g.get_tensor_by_name("x:0") is x and g.input_names == ["x"]
    const = g.get_tensor_by_name("w:0")
    assert const.op.type == "Const"
    np.testing.assert_array_equal(const.op.attrs["value"], w)
    assert g.output_names == ["y", "z"]
    assert [g.get_tensor_by_name(n + ":0") for n in ("y", "z")] == g.outputs
    assert g.outputs[1].shape == (None, 3, 2)
    xs = np.ones((4, 3, 1), np.float32)
    y, z = gj.compile(g, ["y:0", "z:0"])({"x": xs})  # fetch and feed by ONNX names
    np.testing.assert_array_equal(z, -(xs * w))


def test_old_style_initializer_inputs_are_constants_unless_given():
    m = model([node("Add", ["x", "b"], ["y"])], [("x", F32, [2])], [("y", F32, [2])],
              {"b": np.array([1, 2], np.float32)}, old_style_inputs=["b"])
    g = import_model(m)
    assert g.input_names == ["x"] and g.get_tensor_by_name("b:0").op.type == "Const"
    assert backend.prepare(m).run([np.zeros(2, np.float32)])[0].tolist() == [1, 2]
    g = import_model(m, static_inputs={"b": np.array([5, 6])})  # replaces the value
    np.testing.assert_array_equal(g.compile()(np.zeros(2, np.float32))[0], [5, 6])


def test_output_that_is_an_input_or_an_initializer():
    m = model([], [("x", F32, [2])], [("x", F32, [2]), ("c", F32, [1])],
              {"c": np.array([3], np.float32)})
    x, c = backend.prepare(m).run([np.array([1, 2], np.float32)])
    assert x.tolist() == [1, 2] and c.tolist() == [3]


def test_shape_chain_is_static_and_one_free_dim_becomes_minus_one():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape: the batch dim is free, the rest
    of the target shape is computed at import."""
    nodes = [node("Shape", ["x"], ["s"]),
             node("Gather", ["s", "i"], ["d"], axis=0),
             node("Unsqueeze", ["d", "zero"], ["du"]),
             node("Concat", ["minus1", "du"], ["target"], axis=0),
             node("Reshape", ["x", "target"], ["y"]),
             node("Reshape", ["x", "copy0"], ["y2"]),  # [0, -1]: 0 copies the free dim
             # x.view(x.size(0), -1): the free dim cancels out of the -1
             node("Gather", ["s", "i0"], ["n"], axis=0),
             node("Unsqueeze", ["n", "zero"], ["nu"]),
             node("Concat", ["nu", "minus1"], ["flat"], axis=0),
             node("Reshape", ["x", "flat"], ["y3"])]
    m = model(nodes, [("x", F32, ["N", 3, 4])],
              [("y", F32, None), ("y2", F32, None), ("y3", F32, None)],
              {"i": np.array(-1), "i0": np.array(0), "zero": np.array([0]),
               "minus1": np.array([-1]), "copy0": np.array([0, -1])})
    g = import_model(m)
    assert [t.shape for t in g.outputs] == [(None, 4), (None, 12), (None, 12)]
    assert next(op for op in g.get_operations() if op.type == "Reshape").attrs["shape"] == (-1, 4)
    compare(m, {"x": np.arange(24, dtype=np.float32).reshape(2, 3, 4)})


# -- opsets and errors -------------------------------------------------------------

@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_axes_attribute_or_input_by_opset(opset):
    """ReduceSum takes axes as an input from opset 13, ReduceMean only from 18."""
    axes = {"axes": [1]} if opset < 18 else {}
    nodes = [node("ReduceSum", ["x", "ax"], ["s"], keepdims=0),
             node("ReduceMean", ["x"] + (["ax"] if opset >= 18 else []), ["m"], **axes)]
    m = model(nodes, [("x", F32, [2, 3])], [("s", F32, None), ("m", F32, None)],
              {"ax": np.array([1])}, opset=opset)
    compare(m, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)})


def test_reduce_all_axes_and_noop_with_empty_axes():
    nodes = [node("ReduceMax", ["x"], ["a"], keepdims=0),
             node("ReduceSum", ["x", "empty"], ["b"], noop_with_empty_axes=1)]
    m = model(nodes, [("x", F32, [2, 3])], [("a", F32, None), ("b", F32, None)],
              {"empty": np.zeros(0, np.int64)})
    compare(m, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)})


@pytest.mark.parametrize("opset, message", [
    (0, "opset 0; graphjit imports opsets 13 to"),
    (onnx.defs.onnx_opset_version() + 1, "newer than the installed onnx knows")])
def test_opsets_outside_the_range_are_refused(opset, message):
    m = model([node("Relu", ["x"], ["y"])], [("x", F32, [1])], [("y", F32, [1])], opset=opset)
    with pytest.raises(gj.UnsupportedError, match=message):
        import_model(m)


def test_unknown_op_names_type_version_and_node():
    m = model([helper.make_node("ImageDecoder", ["x"], ["y"], name="my_decoder")],
              [("x", TensorProto.UINT8, [16])], [("y", TensorProto.UINT8, [2, 2, 3])], opset=20)
    with pytest.raises(NotImplementedError) as info:
        backend.prepare(m)
    assert isinstance(info.value, gj.UnsupportedError)
    for part in ("ImageDecoder", "opset 20", "ImageDecoder-20", "'my_decoder'"):
        assert part in str(info.value)


def test_non_default_domain_is_named():
    n = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example", name="f")
    m = model([n], [("x", F32, [1])], [("y", F32, [1])])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(gj.UnsupportedError, match="domain 'com.example'"):
        import_model(m)


def test_dtype_graphjit_lacks_is_named():
    m = model([node("Neg", ["x"], ["y"])], [("x", TensorProto.COMPLEX64, [1])],
              [("y", TensorProto.COMPLEX64, [1])])
    with pytest.raises(gj.UnsupportedError, match="ONNX input 'x' has ONNX type COMPLEX64"):
        import_model(m)
    m = model([node("Cast", ["x"], ["y"], to=TensorProto.COMPLEX128)], [("x", F32, [1])],
              [("y", TensorProto.COMPLEX128, [1])])
    with pytest.raises(gj.UnsupportedError, match="Cast 'y' target has ONNX type COMPLEX128"):
        import_model(m)


def test_storage_only_dtype_refused_by_arithmetic():
    # float8 (like int4) is converted by Cast only: an op computing it says so (bfloat16
    # nodes are computed in float32: test_bfloat16_import.py)
    m = model([node("Neg", ["x"], ["y"])], [("x", TensorProto.FLOAT8E4M3FN, [2])],
              [("y", TensorProto.FLOAT8E4M3FN, [2])])
    with pytest.raises(gj.UnsupportedError, match="float8_e4m3fn values are storage only.*Neg"):
        import_model(m)


def test_dynamic_shape_argument_names_its_input():
    m = model([node("Reshape", ["x", "s"], ["y"])], [("x", F32, [6]), ("s", I64, [2])],
              [("y", F32, None)])
    with pytest.raises(StaticValueRequired, match="from the value of 's'") as info:
        import_model(m)
    assert info.value.needs == {("s", "value")}
    g = import_model(m, static_inputs={"s": np.array([3, 2])})
    assert g.input_names == ["x"] and g.outputs[0].shape == (3, 2)


def test_import_errors_name_unknown_inputs():
    m = model([node("Neg", ["x"], ["y"])], [("x", F32, [1])], [("y", F32, [1])])
    with pytest.raises(gj.GraphError, match="no input named 'q'"):
        import_model(m, static_inputs={"q": 1})
    with pytest.raises(gj.GraphError, match="declares"):
        import_model(m, input_shapes={"x": [2]})


def test_import_does_not_need_onnx_for_graphjit():
    code = "import sys, graphjit; assert 'onnx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- backend specialization ------------------------------------------------------------

def test_backend_specializes_on_a_run_time_reshape_shape():
    m = model([node("Reshape", ["x", "shape"], ["r"]), node("Mul", ["r", "r"], ["y"])],
              [("x", F32, ["N", 6]), ("shape", I64, [2])], [("y", F32, None)])
    rep = backend.prepare(m)
    assert rep.specialized_on == {"shape": "value"} and not rep.compiled
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    a = rep.run([x, np.array([3, 4])])
    b = rep.run({"x": x, "shape": np.array([-1, 2])})
    np.testing.assert_array_equal(a[0], (x * x).reshape(3, 4))
    assert b.y.shape == (6, 2) and len(rep.compiled) == 2
    c = rep.run([np.ones((4, 6), np.float32), np.array([-1, 2])])  # another batch size
    assert c[0].shape == (12, 2) and len(rep.compiled) == 2  # compiled code is shape-generic


def test_backend_cache_hits_on_repeated_values():
    m = model([node("Reshape", ["x", "shape"], ["y"])],
              [("x", F32, ["N"]), ("shape", I64, [2])], [("y", F32, None)])
    rep = backend.prepare(m)
    x = np.arange(12, dtype=np.float32)
    for shape in ([3, 4], [4, 3], [3, 4], [4, 3]):
        y = rep.run([x, np.array(shape)])[0]
        np.testing.assert_array_equal(y, x.reshape(shape))
    assert len(rep.compiled) == 2
    y = rep.run([np.arange(24, dtype=np.float32), np.array([4, -1])])[0]  # new value
    assert y.shape == (4, 6) and len(rep.compiled) == 3


def test_backend_specializes_on_shapes_through_shape_ops():
    """A -1 standing for a free dim the target does not name (x.view(x.size(0), -1) of
    x [A, B, 2, 3]): the rep specializes on x's shape only."""
    nodes = [node("Shape", ["x"], ["s"]),
             node("Slice", ["s", "zero", "one"], ["s2"]),
             node("Concat", ["s2", "minus1"], ["target"], axis=0),
             node("Reshape", ["x", "target"], ["y"])]
    m = model(nodes, [("x", F32, ["A", "B", 2, 3])], [("y", F32, None)],
              {"zero": np.array([0]), "one": np.array([1]), "minus1": np.array([-1])})
    with pytest.raises(StaticValueRequired, match="shape of 'x'"):
        import_model(m)
    rep = backend.prepare(m)
    assert rep.specialized_on == {"x": "shape"}
    for shape in ((1, 2, 2, 3), (3, 1, 2, 3)):
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        np.testing.assert_array_equal(rep.run([x])[0], x.reshape(shape[0], -1))
    assert len(rep.compiled) == 2


def test_run_node_and_run_model():
    n = node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    args = [x, np.array([-1, 1]), np.array([-100, 4]), np.array([0, 1]), np.array([-2, 2])]
    (y,) = backend.run_node(n, args)
    np.testing.assert_array_equal(y, x[::-2, 1:4:2])
    m = model([node("Abs", ["x"], ["y"])], [("x", F32, [2])], [("y", F32, [2])])
    assert backend.run_model(m, [np.array([-1, 2], np.float32)])[0].tolist() == [1, 2]
    assert backend.supports_device("CPU") and not backend.supports_device("CUDA")


# -- semantics, against onnxruntime ------------------------------------------------------

def test_integer_div_mod_pow_follow_onnx():
    nodes = [node("Div", ["a", "b"], ["q"]), node("Mod", ["a", "b"], ["r"]),
             node("Mod", ["a", "b"], ["f"], fmod=1), node("Pow", ["x", "e"], ["p"])]
    m = model(nodes, [("a", TensorProto.INT32, [6]), ("b", TensorProto.INT32, [6]),
                      ("x", F32, [6]), ("e", I64, [6])],
              [("q", TensorProto.INT32, None), ("r", TensorProto.INT32, None),
               ("f", TensorProto.INT32, None), ("p", F32, None)])
    compare(m, {"a": np.array([7, -7, 7, -7, 0, 9], np.int32),
                "b": np.array([2, 2, -2, -2, 3, -4], np.int32),
                "x": np.array([1.5, -2, 3, 0.5, -1, 2], np.float32),
                "e": np.array([2, 3, 0, -1, 5, 1], np.int64)})


def test_slicing_gathering_and_shapes_with_a_free_dim():
    nodes = [node("Slice", ["x", "st", "en", "ax", "sp"], ["s"]),
             node("Gather", ["x", "idx"], ["g"], axis=1),
             node("Split", ["x", "sizes"], ["p1", "p2"], axis=1),
             node("Transpose", ["p2"], ["t"], perm=[1, 0, 2]),
             node("ArgMax", ["x"], ["am"], axis=2, keepdims=0, select_last_index=1),
             node("Expand", ["row", "eshape"], ["e"]),
             node("Expand", ["col", "wide"], ["ew"]),
             node("Where", ["cond", "x", "e"], ["w"]),
             node("Flatten", ["x"], ["fl"], axis=2),
             node("Cast", ["am"], ["c"], to=TensorProto.FLOAT)]
    m = model(nodes, [("x", F32, ["N", 4, 3]), ("idx", I64, [2]),
                      ("cond", TensorProto.BOOL, [4, 1]), ("col", F32, ["M", 1])],
              [("s", F32, None), ("g", F32, None), ("t", F32, None), ("am", I64, None),
               ("w", F32, None), ("fl", F32, None), ("c", F32, None), ("ew", F32, None)],
              {"st": np.array([-1, 0]), "en": np.array([-2**63, 3]), "ax": np.array([1, 2]),
               "sp": np.array([-1, 2]), "sizes": np.array([1, 3]),
               "row": np.array([1, 2, 3], np.float32), "eshape": np.array([4, 1]),
               "wide": np.array([1, 3])})
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (5, 4, 3)).astype(np.float32)  # ties for select_last_index
    compare(m, {"x": x, "idx": np.array([-1, 0]), "cond": np.array([[1], [0], [1], [0]], bool),
                "col": np.array([[1], [2]], np.float32)})


def test_cumsum_is_one_scan_op_along_a_free_dim():
    """CumSum imports as graphjit's Cumsum (axis from a 0-D or a 1-element input), so
    the scanned axis may be unknown until run time."""
    nodes = [node("CumSum", ["x", "a0"], ["c"]),
             node("CumSum", ["x", "a1"], ["r"], exclusive=1, reverse=1),
             node("CumSum", ["n", "a1"], ["i"], reverse=1)]
    m = model(nodes, [("x", F32, ["N", 3]), ("n", TensorProto.INT32, [2, "M"])],
              [("c", F32, None), ("r", F32, None), ("i", TensorProto.INT32, None)],
              {"a0": np.array(0, np.int64), "a1": np.array([-1], np.int32)})
    graph = import_model(m)
    scans = [op for op in graph.get_operations() if op.type == "Cumsum"]
    assert [(op.attrs["axis"], op.attrs["exclusive"], op.attrs["reverse"]) for op in scans] \
        == [(0, False, False), (1, True, True), (1, False, True)]
    assert not {"MatMul", "Transpose"} & {op.type for op in graph.get_operations()}
    rng = np.random.default_rng(0)
    compare(m, {"x": rng.standard_normal((7, 3)).astype(np.float32),
                "n": rng.integers(-9, 9, (2, 5)).astype(np.int32)}, rtol=1e-5)


def test_constants_ranges_and_fills():
    nodes = [node("Constant", [], ["k"], value_floats=[1.0, 2.0]),
             node("Range", ["start", "limit", "delta"], ["r"]),
             node("ConstantOfShape", ["shape"], ["z"],
                  value=numpy_helper.from_array(np.array([7], np.int64))),
             node("Tile", ["k", "reps"], ["tk"]),
             node("Size", ["z"], ["n"]),
             node("Squeeze", ["z1"], ["sq"]),
             node("Max", ["x", "k", "x"], ["mx"]), node("Min", ["x", "k"], ["mn"])]
    m = model(nodes, [("x", F32, [3, 2]), ("z1", F32, [1, 2, 1])],
              [("k", F32, None), ("r", I64, None), ("z", I64, None), ("tk", F32, None),
               ("n", I64, None), ("sq", F32, None), ("mx", F32, None), ("mn", F32, None)],
              {"start": np.array(10), "limit": np.array(1), "delta": np.array(-3),
               "shape": np.array([2, 3]), "reps": np.array([3])})
    compare(m, {"x": np.array([[0, 3], [1, 1], [5, -1]], np.float32),
                "z1": np.array([[[1], [2]]], np.float32)})
