"""ONNX CausalConvWithState (graphjit.onnx.ops_causal_conv) against ONNX's reference
evaluator (onnxruntime lacks opset 27), compiled and in graphjit's NumPy interpreter,
beyond the node cases: a free batch and length, and an activation graphjit refuses."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import InvalidModelError, import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402


def conv_model(k: int, with_past: bool, **attrs):
    names = ["x", "w", "b"] + (["past"] if with_past else [])
    shapes = {"x": [None, 3, None], "w": [3, 1, k], "b": [3], "past": [None, 3, k - 1]}
    ins = [helper.make_tensor_value_info(n, tensor_type(np.float32), shapes[n]) for n in names]
    outs = [helper.make_tensor_value_info(n, tensor_type(np.float32), None)
            for n in ("y", "state")]
    node = helper.make_node("CausalConvWithState", names, ["y", "state"], name="cc", **attrs)
    return helper.make_model(helper.make_graph([node], "t", ins, outs),
                             opset_imports=[helper.make_opsetid("", 27)])


@pytest.mark.parametrize("k,with_past,activation", [(3, True, "silu"), (4, False, "none"),
                                                    (1, False, "swish")])
def test_causal_conv_free_dims_match_onnx_reference(k, with_past, activation):
    model = conv_model(k, with_past, activation=activation)
    graph = import_model(model)
    fn = graph.compile()
    rng = np.random.default_rng(k)
    for batch, length in ((1, 5), (2, 1)):  # one compiled function, two shapes
        feeds = {"x": rng.normal(size=(batch, 3, length)), "w": rng.normal(size=(3, 1, k)),
                 "b": rng.normal(size=3), "past": rng.normal(size=(batch, 3, k - 1))}
        feeds = {n: v.astype(np.float32) for n, v in feeds.items() if n in graph.input_names}
        want = ReferenceEvaluator(model).run(None, feeds)
        got = fn(**feeds)
        ref = evaluate(graph.outputs,
                       {t: feeds[n] for t, n in zip(graph.inputs, graph.input_names)})
        for w, g, r in zip(want, got, ref):
            assert np.asarray(g).shape == w.shape
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-6, atol=1e-7)


def test_an_unknown_activation_is_refused_naming_the_node():
    with pytest.raises((UnsupportedError, InvalidModelError), match=r"'cc'.*relu"):
        import_model(conv_model(3, True, activation="relu"))
