"""ONNX Hardmax, Swish, SwiGLU, LpNormalization, MeanVarianceNormalization,
GroupNormalization, LRN and LpPool (graphjit.onnx.ops_nn_extras) beyond ONNX's node
cases: attribute values the cases leave out, on a batch dim left free at import,
compiled against graphjit's reference interpreter and against ONNX's reference (or the
spec's formula where that reference strays); and the refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

F32 = np.float32
SHAPE = [None, 4, 5, 6]


def make_model(nodes, inputs, outputs, inits, opset):
    """A model whose outputs are declared rank 4 (ONNX's shape inference does not know
    every op here)."""
    from onnx import numpy_helper
    ins = [helper.make_tensor_value_info(n, tensor_type(d), s) for n, (d, s) in inputs.items()]
    outs = [helper.make_tensor_value_info(n, tensor_type(d), [None] * 4) for n, d in outputs]
    graph = helper.make_graph(nodes, "test", ins, outs, initializer=[
        numpy_helper.from_array(v, n) for n, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _node(op, inputs, out, **attrs):
    return helper.make_node(op, inputs, [out], name=f"node_{out}", **attrs)


def _model():
    nodes = [
        _node("Hardmax", ["x"], "hardmax", axis=1),
        _node("Swish", ["x"], "swish", alpha=0.5),
        _node("SwiGLU", ["x", "x2"], "swiglu", alpha=1.5),
        _node("LpNormalization", ["x"], "l2", axis=2, p=2),
        _node("LpNormalization", ["x"], "l1", axis=0, p=1),
        _node("MeanVarianceNormalization", ["x"], "mvn", axes=[1, 3]),
        _node("GroupNormalization", ["x", "scale", "bias"], "groupnorm", num_groups=2,
              epsilon=1e-3),
        _node("LRN", ["x"], "lrn", size=4, alpha=0.2, beta=0.6, bias=2.0),
        _node("LpPool", ["x"], "lppool", kernel_shape=[2, 3], strides=[2, 1],
              pads=[1, 0, 0, 2], p=3),
    ]
    outputs = [(n.output[0], F32) for n in nodes]
    rng = np.random.default_rng(1)
    inits = {"scale": rng.uniform(0.5, 2, 4).astype(F32),
             "bias": rng.standard_normal(4).astype(F32)}
    return make_model(nodes, {"x": (F32, SHAPE), "x2": (F32, SHAPE)}, outputs, inits,
                      opset=28)


def _lrn(x, size, alpha, beta, bias):
    """The spec's formula (ONNX's reference LRN loops over the wrong axis)."""
    before, after = (size - 1) // 2, -(-(size - 1) // 2)
    sq = np.pad(x * x, [(0, 0), (before, after), (0, 0), (0, 0)])
    total = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return x / (bias + alpha / size * total) ** beta


@pytest.fixture(scope="module")
def compiled():
    model = _model()
    graph = import_model(model)
    return model, graph, graph.compile()


@pytest.mark.parametrize("batch", [1, 3])
def test_compiled_matches_references(compiled, batch):
    model, graph, fn = compiled
    rng = np.random.default_rng(batch)
    feeds = {"x": rng.standard_normal((batch, 4, 5, 6)).astype(F32),
             "x2": rng.standard_normal((batch, 4, 5, 6)).astype(F32)}
    feeds["x"][0, :, 0, 0] = 0.0  # a zero vector for LpNormalization's 0 / 0
    got = [np.asarray(g) for g in fn(**feeds)]
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs,
                                                               graph.input_names)})
    names = [o.name for o in model.graph.output]
    for name, g, r in zip(names, got, ref):
        np.testing.assert_allclose(g, np.asarray(r), rtol=1e-5, atol=1e-6, err_msg=name)
    onnx_ref = dict(zip(names, ReferenceEvaluator(model).run(None, feeds)))
    x = feeds["x"]
    norm1 = np.abs(x).sum(axis=0, keepdims=True)
    onnx_ref["l1"] = np.where(norm1 == 0, 0, x / np.where(norm1 == 0, 1, norm1))
    onnx_ref["lrn"] = _lrn(x, 4, 0.2, 0.6, 2.0)
    for name, g in zip(names, got):
        want = onnx_ref[name]
        assert g.shape == want.shape and g.dtype == want.dtype, name
        np.testing.assert_allclose(g, want, rtol=2e-5, atol=2e-5, err_msg=name)
    assert np.all(got[names.index("l2")][0, :, :, 0][:, 0] == 0)  # the zero vector stays 0


@pytest.mark.parametrize("op,attrs,inputs,words", [
    ("LpNormalization", {"p": 3}, ["x"], "p"),
    ("GroupNormalization", {"num_groups": 2, "stash_type": 2}, ["x", "s", "s"],
     "stash_type"),
    ("GroupNormalization", {"num_groups": 3}, ["x", "s", "s"], "num_groups"),
    ("Hardmax", {"axis": 4}, ["x"], "axis 4"),
    ("LRN", {"size": 0}, ["x"], "size"),
    ("LpPool", {"kernel_shape": [2, 2], "p": 0}, ["x"], "p=0"),
])
def test_bad_attributes_name_the_node(op, attrs, inputs, words):
    inits = {"s": np.ones(4, F32)} if "s" in inputs else {}
    model = make_model([helper.make_node(op, inputs, ["y"], name="the_node", **attrs)],
                       {"x": (F32, [2, 4, 3, 3])}, [("y", F32)], inits, opset=28)
    with pytest.raises((UnsupportedError, ValueError)) as info:
        import_model(model)
    assert "the_node" in str(info.value) and words in str(info.value)


def test_group_normalization_18_scales_per_group():
    rng = np.random.default_rng(2)
    inits = {"scale": rng.uniform(0.5, 2, 2).astype(F32), "bias": rng.standard_normal(2)
             .astype(F32)}
    model = make_model([_node("GroupNormalization", ["x", "scale", "bias"], "y",
                              num_groups=2, epsilon=1e-2)],
                       {"x": (F32, [3, 4, 2, 5])}, [("y", F32)], inits, opset=18)
    x = rng.standard_normal((3, 4, 2, 5)).astype(F32)
    got = np.asarray(import_model(model).compile()(x=x)[0])
    np.testing.assert_allclose(got, ReferenceEvaluator(model).run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-5)
