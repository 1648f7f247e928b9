"""ONNX FlexAttention ('ai.onnx.preview', graphjit.onnx.ops_flex_attention) against ONNX's
reference evaluator (onnxruntime lacks the preview domain), compiled and in graphjit's
NumPy interpreter: grouped heads with a score_mod and a prob_mod subgraph converted in
place, and the subgraphs graphjit refuses, by the node's name."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

PREVIEW = "ai.onnx.preview"


def mod_graph(nodes, name: str, initializers: dict, dtype=np.float32):
    t = tensor_type(dtype)
    return helper.make_graph(nodes, name, [helper.make_tensor_value_info("s", t, None)],
                             [helper.make_tensor_value_info("out", t, None)],
                             [numpy_helper.from_array(np.asarray(v, dtype), n)
                              for n, v in initializers.items()])


def flex_model(dtype=np.float32, q_heads=4, kv_heads=2, outer=None, **attrs):
    t = tensor_type(dtype)
    ins = [helper.make_tensor_value_info("q", t, [2, q_heads, 3, 4]),
           helper.make_tensor_value_info("k", t, [2, kv_heads, 5, 4]),
           helper.make_tensor_value_info("v", t, [2, kv_heads, 5, 6])]
    nodes = [helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], name="flex",
                              domain=PREVIEW, **attrs)]
    graph = helper.make_graph(nodes, "t", ins, [helper.make_tensor_value_info("y", t, None)])
    if outer is not None:
        graph.initializer.append(numpy_helper.from_array(np.asarray(outer, dtype), "outer"))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26),
                                                   helper.make_opsetid(PREVIEW, 1)])


SOFT_CAP = mod_graph([helper.make_node("Div", ["s", "cap"], ["a"]),
                      helper.make_node("Tanh", ["a"], ["b"]),
                      helper.make_node("Mul", ["b", "cap"], ["out"])], "cap", {"cap": 2.0})
SHARPEN = mod_graph([helper.make_node("Mul", ["s", "s"], ["out"])], "sq", {})


@pytest.mark.parametrize("dtype,attrs,tol", [
    (np.float32, {"score_mod": SOFT_CAP, "prob_mod": SHARPEN, "scale": 0.3}, 1e-5),
    (np.float16, {"softmax_precision": 1}, 2e-3),
    (np.float64, {"score_mod": mod_graph([helper.make_node("Add", ["s", "b"], ["out"])],
                                         "bias", {"b": np.linspace(-1, 1, 5)}, np.float64)},
     1e-12),
])
def test_flex_attention_matches_onnx_reference(dtype, attrs, tol):
    model = flex_model(dtype, **attrs)
    graph = import_model(model)
    rng = np.random.default_rng(0)
    feeds = {"q": rng.normal(size=(2, 4, 3, 4)), "k": rng.normal(size=(2, 2, 5, 4)),
             "v": rng.normal(size=(2, 2, 5, 6))}
    feeds = {n: a.astype(dtype) for n, a in feeds.items()}
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    got = np.asarray(graph.compile()(**feeds)[0])
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs, graph.input_names)})
    assert got.dtype == want.dtype and got.shape == want.shape == (2, 4, 3, 6)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got, np.asarray(ref[0]), rtol=tol, atol=tol)


def test_a_subgraph_reading_the_outer_graph_is_refused_naming_the_node():
    mod = mod_graph([helper.make_node("Add", ["s", "outer"], ["out"])], "m", {})
    with pytest.raises(UnsupportedError, match=r"FlexAttention 'flex'.*score_mod.*'outer'"):
        import_model(flex_model(score_mod=mod, outer=1.0))


def test_an_unconverted_op_in_a_subgraph_is_refused_naming_the_node():
    mod = mod_graph([helper.make_node("Bernoulli", ["s"], ["out"])], "m", {})
    with pytest.raises(UnsupportedError, match=r"FlexAttention 'flex'.*prob_mod.*Bernoulli"):
        import_model(flex_model(prob_mod=mod))


def test_bfloat16_softmax_precision_is_refused_naming_the_node():
    with pytest.raises(UnsupportedError, match=r"FlexAttention 'flex'.*softmax_precision"):
        import_model(flex_model(softmax_precision=16))
