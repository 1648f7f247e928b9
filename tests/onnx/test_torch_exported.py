"""Small models exported by torch.onnx.export (fixtures in tests/onnx/torch_models/, made
by its export_models.py): each imports, compiles and gives torch's stored outputs,
ONNX Runtime's, and the NumPy reference interpreter's, at the stored batch and at
another one (the exports keep the batch dimension free).

A model using an op graphjit has no converter for is skipped, and the reason names
the ops, computed from the model against graphjit's converters (subgraphs included),
so the skip turns into a run once the converter exists. torch is not needed here.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphjit.onnx as gjx  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_models")
NAMES = sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".onnx"))
RTOL, ATOL = 1e-4, 1e-5
OTHER_BATCH = 3


def _nodes(graph):
    """Every node of `graph` and of the subgraphs in its nodes' attributes (If, Loop)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                yield from _nodes(sub)


def missing_ops(model) -> list[str]:
    """The op types of `model` that graphjit cannot convert (no converter, or a domain
    other than ONNX's default), sorted."""
    return sorted({n.op_type if (n.domain or "") in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                   for n in _nodes(model.graph)
                   if n.op_type not in gjx.CONVERTERS or (n.domain or "") not in ("", "ai.onnx")})


def _load(name: str):
    model = onnx.load(os.path.join(HERE, name + ".onnx"))
    with np.load(os.path.join(HERE, name + ".npz"), allow_pickle=False) as data:
        inputs = {k[3:]: data[k] for k in data.files if k.startswith("in_")}
        outputs = {k[4:]: data[k] for k in data.files if k.startswith("out_")}
    return model, inputs, outputs


@pytest.fixture(scope="module", params=NAMES)
def exported(request):
    """(name, model, graph, compiled, stored inputs, torch's outputs) of one fixture."""
    name = request.param
    model, inputs, outputs = _load(name)
    missing = missing_ops(model)
    if missing:
        pytest.skip(f"{name}: graphjit has no converter for {', '.join(missing)}")
    graph = gjx.import_model(model)
    return name, model, graph, graph.compile(), inputs, outputs


def _run(compiled, inputs: dict) -> list[np.ndarray]:
    got = compiled(**inputs)
    return list(got) if isinstance(got, (list, tuple)) else [got]


def _ort(model, inputs: dict) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def test_fixtures_are_small_and_complete():
    assert {"residual_block", "mlp", "lstm", "transformer_encoder", "control_flow",
            "upsample_conv"} <= set(NAMES)
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    assert total < 256 * 1024
    for name in NAMES:
        model, inputs, outputs = _load(name)
        assert [i.name for i in model.graph.input] == list(inputs)
        assert [o.name for o in model.graph.output] == list(outputs)


def test_opsets_are_the_requested_ones():
    want = {"residual_block": 11, "mlp": 13, "lstm": 14, "transformer_encoder": 17,
            "control_flow": 13, "upsample_conv": 11}
    for name, opset in want.items():
        model = onnx.load(os.path.join(HERE, name + ".onnx"))
        assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [opset]


def test_missing_ops_looks_inside_subgraphs():
    from onnx import TensorProto, helper
    inner = helper.make_graph([helper.make_node("NoSuchOp", ["a"], ["b"])], "branch", [],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner)
    relu = helper.make_node("Relu", ["y"], ["z"])
    custom = helper.make_node("Thing", ["z"], ["w"], domain="com.example")
    graph = helper.make_graph([node, relu, custom], "g",
                              [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("w", TensorProto.FLOAT, [1])])
    missing = missing_ops(helper.make_model(graph))
    assert "NoSuchOp" in missing and "com.example.Thing" in missing and "Relu" not in missing
    assert ("If" in missing) == ("If" not in gjx.CONVERTERS)


def test_matches_torch_and_the_reference(exported):
    name, _, graph, compiled, inputs, want = exported
    got = _run(compiled, inputs)
    assert len(got) == len(want)
    feeds = {t: inputs[n] for t, n in zip(graph.inputs, graph.input_names)}
    reference = evaluate(list(graph.outputs), feeds)
    for g, w, r in zip(got, want.values(), reference):
        assert g.shape == w.shape and g.dtype == w.dtype, name
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"{name} vs torch")
        np.testing.assert_allclose(g, r, rtol=RTOL, atol=ATOL, err_msg=f"{name} vs reference")


def test_matches_onnxruntime_at_two_batches(exported):
    name, model, _, compiled, inputs, _ = exported
    rng = np.random.default_rng(7)
    other = {k: rng.standard_normal((OTHER_BATCH, *v.shape[1:])).astype(v.dtype)
             for k, v in inputs.items()}
    for feeds in (inputs, other):
        got, want = _run(compiled, feeds), _ort(model, feeds)
        for g, w in zip(got, want):
            assert g.shape == w.shape, name
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"{name} vs ORT")


def test_shape_subgraphs_fold_at_import():
    """Attention's Shape -> Gather -> Mul -> Concat -> Reshape chains resolve at import,
    though the batch is free: no Shape op is left to run."""
    from graphjit.graph_queries import ops_needed
    graph = gjx.import_model(os.path.join(HERE, "transformer_encoder.onnx"))
    assert graph.inputs[0].shape.as_list() == [None, 5, 16]
    kinds = {op.type for op in ops_needed([t.op for t in graph.outputs], set())}
    assert "Shape" not in kinds and "Reshape" in kinds


def test_initializers_listed_as_inputs():
    """torch's keep_initializers_as_inputs=True (older exporters' default) lists every
    weight as a graph input too: they stay constants, and x is the only feed."""
    from onnx import helper
    model, inputs, want = _load("upsample_conv")
    model.graph.input.extend(
        helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
        for t in model.graph.initializer)
    graph = gjx.import_model(model)
    assert graph.input_names == ["x"]
    (got,) = _run(graph.compile(), inputs)
    np.testing.assert_allclose(got, want["y"], rtol=RTOL, atol=ATOL)
