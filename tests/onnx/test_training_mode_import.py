"""ONNX BatchNormalization and Dropout in training mode (graphjit.onnx.ops_training_mode)
against ONNX's reference evaluator, beyond ONNX's node cases: other momentum and dtypes,
a seeded mask that is the same each run, an unseeded dropout that draws anew."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402

F, D, B = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.BOOL


def _model(nodes, inputs, outputs, inits=(), opset=15):
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "training", [vi(n, t, s) for n, t, s in inputs],
                              [vi(n, t, None) for n, t in outputs], initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _const(name, value):
    from onnx import numpy_helper
    return numpy_helper.from_array(np.asarray(value), name)


def test_batch_norm_training_matches_the_reference():
    rng = np.random.default_rng(0)
    c = 3
    inits = [_const("s", rng.uniform(0.5, 2, c)), _const("b", rng.standard_normal(c)),
             _const("m", rng.standard_normal(c)), _const("v", rng.uniform(0.5, 2, c))]
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"],
                              ["y", "rm", "rv"], training_mode=1, momentum=0.7, epsilon=1e-3),
             helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y2"],
                              training_mode=1)]
    model = _model(nodes, [("x", D, [4, c, 2, 5])], [("y", D), ("rm", D), ("rv", D), ("y2", D)],
                   inits)
    x = rng.standard_normal((4, c, 2, 5)) * 3 + 1
    got = import_model(model).compile()(x)
    want = ReferenceEvaluator(model).run(None, {"x": x})
    for g, w in zip(got, want):
        assert np.asarray(g).shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


def test_seeded_dropout_is_the_reference_mask_every_run():
    nodes = [helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"], seed=3)]
    inits = [_const("r", np.float32(0.3)), _const("t", np.bool_(True))]
    model = _model(nodes, [("x", F, [4, 6])], [("y", F), ("mask", B)], inits, opset=13)
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    fn = import_model(model).compile()
    want = ReferenceEvaluator(model).run(None, {"x": x})
    for _ in range(2):
        y, mask = fn(x)
        np.testing.assert_array_equal(mask, want[1])
        np.testing.assert_allclose(y, want[0], rtol=1e-6)
    assert not want[1].all() and want[1].any()


def test_unseeded_dropout_draws_a_new_mask_each_run():
    nodes = [helper.make_node("Dropout", ["x", "r", "t"], ["y"])]
    inits = [_const("r", np.float32(0.5)), _const("t", np.bool_(True))]
    model = _model(nodes, [("x", F, [64, 64])], [("y", F)], inits, opset=13)
    fn = import_model(model).compile()
    x = np.ones((64, 64), np.float32)
    first, second = np.asarray(fn(x)[0]), np.asarray(fn(x)[0])
    for y in (first, second):
        assert set(np.unique(y)) <= {0.0, 2.0}  # dropped, or kept and scaled by 1/(1-0.5)
        assert 0.4 < (y != 0).mean() < 0.6
    assert (first != second).any()


def test_unseeded_dropout_mask_is_refused_naming_the_node():
    nodes = [helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"])]
    inits = [_const("r", np.float32(0.5)), _const("t", np.bool_(True))]
    model = _model(nodes, [("x", F, [2, 2])], [("y", F), ("mask", B)], inits, opset=13)
    with pytest.raises(UnsupportedError, match=r"Dropout 'y'.*mask output"):
        import_model(model)
