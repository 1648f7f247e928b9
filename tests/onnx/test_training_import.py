"""ONNX's 'ai.onnx.preview.training' optimizers (graphjit.onnx.ops_training) against ONNX's
reference evaluator (onnxruntime's default build lacks them), compiled and in graphjit's
NumPy interpreter, in models that import that domain only; and the domain rules: a
domain graphjit does not convert, or an op it lacks in one it does, is refused by name."""

import numpy as np
import pytest

pytest.importorskip("onnx")

import onnx  # noqa: E402
from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

TRAINING = "ai.onnx.preview.training"


def training_model(op: str, groups: int, n: int, shape, **attrs) -> onnx.ModelProto:
    """One `op` node updating `n` float32 tensors of `shape`: inputs R, T, then `groups`
    groups of n (X, G, ...); outputs the groups after the first, less G, in order."""
    names = [[f"{g}{i}" for i in range(n)] for g in "XGVH"[:groups]]
    outs = [[f"{g}{i}_new" for i in range(n)] for g in "XVH"[:groups - 1]]
    ins = [helper.make_tensor_value_info("R", tensor_type(np.float32), []),
           helper.make_tensor_value_info("T", tensor_type(np.int64), [])]
    ins += [helper.make_tensor_value_info(x, tensor_type(np.float32), shape)
            for group in names for x in group]
    node = helper.make_node(op, ["R", "T"] + sum(names, []), sum(outs, []), name="opt",
                            domain=TRAINING, **attrs)
    graph = helper.make_graph([node], "t", ins, [
        helper.make_tensor_value_info(o, tensor_type(np.float32), shape) for o in sum(outs, [])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(TRAINING, 1)])


CASES = {
    "adagrad": ("Adagrad", 3, {"decay_factor": 0.1, "epsilon": 1e-5, "norm_coefficient": 0.01}),
    "momentum": ("Momentum", 3, {"alpha": 0.9, "beta": 0.5, "mode": "standard",
                                 "norm_coefficient": 0.01}),
    "nesterov": ("Momentum", 3, {"alpha": 0.9, "beta": 0.5, "mode": "nesterov",
                                 "norm_coefficient": 0.0}),
    "adam": ("Adam", 4, {"alpha": 0.8, "beta": 0.9, "epsilon": 1e-4, "norm_coefficient": 0.01,
                         "norm_coefficient_post": 0.02}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimizer_step_matches_onnx_reference(case):
    op, groups, attrs = CASES[case]
    model = training_model(op, groups, 2, [3], **attrs)
    rng = np.random.default_rng(1)
    graph = import_model(model)
    fn = graph.compile()
    for step in (0, 3):  # T = 0 takes the first-step branch (no bias correction, beta 1)
        feeds = {"R": np.float32(0.1), "T": np.int64(step)}
        for name in graph.input_names[2:]:
            base = rng.uniform(0.1, 1.0, 3) if name[0] in "VH" else rng.normal(size=3)
            feeds[name] = base.astype(np.float32)
        want = ReferenceEvaluator(model).run(None, feeds)
        got = fn(**feeds)
        ref = evaluate(graph.outputs, {t: feeds[n] for t, n in
                                       zip(graph.inputs, graph.input_names)})
        for w, g, r in zip(want, got, ref):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-6, atol=1e-7)


def test_an_unknown_domain_is_refused_naming_the_node():
    model = training_model("Adagrad", 3, 1, [2])
    model.graph.node[0].domain = "com.example"
    model.opset_import[0].domain = "com.example"
    with pytest.raises(UnsupportedError, match=r"'opt'.*domain 'com.example'.*"
                                               r"ai.onnx.preview.training"):
        import_model(model)


def test_an_op_graphjit_lacks_in_a_converted_domain_is_refused():
    model = training_model("Adagrad", 3, 1, [2])
    model.graph.node[0].op_type = "Gradient"
    with pytest.raises(UnsupportedError, match=r"Gradient of node 'opt' in domain "
                                               r"'ai.onnx.preview.training'.*Adagrad"):
        import_model(model)


def test_an_unsupported_momentum_mode_is_refused_naming_the_node():
    model = training_model("Momentum", 3, 1, [2], alpha=0.9, beta=0.5, mode="heavy",
                           norm_coefficient=0.0)
    with pytest.raises(UnsupportedError, match=r"Momentum 'opt' .*mode='heavy'"):
        import_model(model)
