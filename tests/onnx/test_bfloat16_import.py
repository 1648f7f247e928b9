"""bfloat16 nodes imported from ONNX (graphjit.onnx.bfloat16): computed in float32 and
rounded back to bfloat16 after each node, as ONNX's reference evaluator does."""

import numpy as np
import pytest

pytest.importorskip("onnx")
ml_dtypes = pytest.importorskip("ml_dtypes")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.onnx import import_model  # noqa: E402

BF16 = TensorProto.BFLOAT16


def _model():
    """x + y, then times y (rounded between the nodes), its Exp, x == y, and a Reshape."""
    nodes = [helper.make_node("Add", ["x", "y"], ["s"]),
             helper.make_node("Mul", ["s", "y"], ["p"]),
             helper.make_node("Exp", ["p"], ["e"]),
             helper.make_node("Equal", ["x", "y"], ["eq"]),
             helper.make_node("Reshape", ["x", "shape"], ["r"])]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, "bf16", [vi("x", BF16, [2, 3]), vi("y", BF16, [2, 3])],
        [vi("p", BF16, None), vi("e", BF16, None), vi("eq", TensorProto.BOOL, None),
         vi("r", BF16, None)],
        initializer=[helper.make_tensor("shape", TensorProto.INT64, [1], [6])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


@pytest.fixture(scope="module")
def compiled():
    model = _model()
    return model, import_model(model)


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(ml_dtypes.bfloat16)
    y = rng.standard_normal((2, 3)).astype(ml_dtypes.bfloat16)
    y[0, 0] = x[0, 0]  # one equal pair
    return x, y


def test_matches_the_reference_node_by_node(compiled):
    model, graph = compiled
    x, y = _inputs()
    got = graph.compile()(x, y)
    want = ReferenceEvaluator(model).run(None, {"x": x, "y": y})
    for name, g, w in zip(("p", "e", "eq", "r"), got, want):
        g = np.asarray(g)
        assert g.dtype == w.dtype, f"{name}: {g.dtype}, reference {w.dtype}"
        assert g.shape == w.shape
    # Add and Mul are exact in float32 before their rounding: bit for bit
    np.testing.assert_array_equal(np.asarray(got[0]).view(np.uint16), want[0].view(np.uint16))
    # Exp's float32 result may differ in its last bit: at most one bfloat16 step
    np.testing.assert_allclose(np.asarray(got[1], np.float32), want[1].astype(np.float32),
                               rtol=2.0 ** -7)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(np.asarray(got[3]).view(np.uint16), want[3].view(np.uint16))


def test_rounds_after_each_node_not_at_the_end(compiled):
    """(x + y) * y rounded once would differ from the rounded sum times y somewhere."""
    _, graph = compiled
    x, y = _inputs()
    p = np.asarray(graph.compile()(x, y)[0])
    per_node = ((x.astype(np.float32) + y.astype(np.float32)).astype(ml_dtypes.bfloat16)
                .astype(np.float32) * y.astype(np.float32)).astype(ml_dtypes.bfloat16)
    once = ((x.astype(np.float32) + y.astype(np.float32)) * y.astype(np.float32)
            ).astype(ml_dtypes.bfloat16)
    assert (once.view(np.uint16) != per_node.view(np.uint16)).any()  # the inputs tell them apart
    np.testing.assert_array_equal(p.view(np.uint16), per_node.view(np.uint16))


def test_widens_computing_nodes_only(compiled):
    """Add, Mul and Exp compute in float32 between casts; Reshape moves bfloat16 as is;
    Equal's bool output is not cast."""
    _, graph = compiled
    casts = [op for op in graph.get_operations() if op.type == "Cast"]
    to_f32 = [op for op in casts if op.outputs[0].dtype.name == "float32"]
    to_bf16 = [op for op in casts if op.outputs[0].dtype.name == "bfloat16"]
    assert len(to_bf16) == 3  # Add, Mul, Exp
    assert len(to_f32) == 2 + 2 + 1 + 2  # Add (x, y), Mul (s, y), Exp (p), Equal (x, y)
    reshape = next(op for op in graph.get_operations() if op.type == "Reshape")
    assert reshape.inputs[0].dtype.name == "bfloat16"
