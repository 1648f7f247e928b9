"""ONNX Softmax, LogSoftmax and the normalizations import as the composites tf.nn builds
(graphjit.ops.nn's softmax_over, standardize, batch_normalization), not as copies of
their math: the same op types under the same scope, and onnxruntime's / NumPy's numbers.
"""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from graphjit.onnx.convert import CONVERTERS, NodeContext  # noqa: E402
from graphjit.ops.nn import standardize  # noqa: E402
from tests.onnx.nn_util import check, make_model, random  # noqa: E402

F32 = np.float32


def _scope_types(graph: gj.Graph, scope: str) -> list[str]:
    """The op types of a composite: its final op `scope` and the ops inside the scope."""
    return sorted(op.type for op in graph.get_operations()
                  if op.name == scope or op.name.startswith(scope + "/"))


def _built(fn, *shapes) -> gj.Graph:
    """A graph holding fn(placeholders of `shapes`), built through graphjit's API."""
    graph = gj.Graph()
    with graph.as_default():
        fn(*(gj.placeholder(gj.float32, s, name=f"p{i}") for i, s in enumerate(shapes)))
    return graph


def _np_softmax(x: np.ndarray, axes, log: bool = False) -> np.ndarray:
    x = x.astype(np.float64)
    shifted = x - x.max(axis=axes, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=axes, keepdims=True))
    return shifted - log_sum if log else np.exp(shifted - log_sum)


@pytest.mark.parametrize("op, public", [("Softmax", gj.nn.softmax),
                                        ("LogSoftmax", gj.nn.log_softmax)])
def test_softmax_imports_as_tf_nn_softmax(op, public):
    model = make_model([helper.make_node(op, ["x"], ["y"], axis=1)], {"x": (F32, [2, 3, 4])},
                       ["y"])
    imported = import_model(model)
    types = _scope_types(imported, op)
    assert "StopGradient" in types  # the max is a constant for the gradient, as in tf.nn
    assert types == _scope_types(_built(lambda x: public(x, axis=1), [2, 3, 4]), op)
    x = random(np.random.default_rng(30), (2, 3, 4)) * 5
    check(model, {"x": x}, fn=imported.compile())
    np.testing.assert_allclose(imported.compile()(x=x)[0],
                               _np_softmax(x, 1, log=op == "LogSoftmax"), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis, axes", [(None, (1, 2)), (0, (0, 1, 2)), (2, (2,))])
def test_opset11_softmax_is_one_softmax_over_the_trailing_axes(op, axis, axes):
    """Before opset 13 Softmax covers every axis from `axis` on (import_model refuses opsets
    < 13, so the converter is called directly on an opset-11 node)."""
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = gj.Graph()
    with graph.as_default():
        x = gj.placeholder(gj.float32, [2, 3, 4], name="x")
        y = CONVERTERS[op](NodeContext(node, 11, attrs, [x], [None]))
    assert "StopGradient" in _scope_types(graph, op)
    value = random(np.random.default_rng(31), (2, 3, 4)) * 5
    got = gj.compile(y)(value)
    np.testing.assert_allclose(got, _np_softmax(value, axes, log=op == "LogSoftmax"),
                               rtol=1e-5, atol=1e-6)


def test_layer_normalization_imports_as_standardize():
    rng = np.random.default_rng(32)
    shape, tail = (2, 3, 4, 5), (4, 5)
    inits = {"s": random(rng, tail), "b": random(rng, tail)}
    model = make_model([helper.make_node("LayerNormalization", ["x", "s", "b"],
                                         ["y", "mean", "inv"], axis=-2, epsilon=1e-3)],
                       {"x": (F32, list(shape))}, ["y", "mean", "inv"], inits)
    imported = import_model(model)
    want = _built(lambda x, s, b: standardize(x, [2, 3], s, b, 1e-3, name="LayerNorm"),
                  shape, tail, tail)
    types = _scope_types(imported, "LayerNorm")
    assert types == _scope_types(want, "LayerNorm")
    # tf.nn.layer_normalization is the same composite
    public = _built(lambda x, s, b: gj.nn.layer_normalization(x, s, b, axis=[2, 3],
                                                              epsilon=1e-3), shape, tail, tail)
    assert types == _scope_types(public, "LayerNorm") and "Rsqrt" in types
    x = random(rng, shape) * 2 + 1
    fn = check(model, {"x": x})
    y, mean, inv = fn(x=x)
    x64 = x.astype(np.float64)
    want_mean = x64.mean(axis=(2, 3), keepdims=True)
    want_inv = 1 / np.sqrt(x64.var(axis=(2, 3), keepdims=True) + 1e-3)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inv, want_inv, rtol=1e-5)
    np.testing.assert_allclose(y, (x64 - want_mean) * want_inv * inits["s"] + inits["b"],
                               rtol=1e-4, atol=1e-5)


def test_layer_normalization_float16_standardizes_in_float32():
    rng = np.random.default_rng(33)
    inits = {"s": random(rng, 6, np.float16)}
    model = make_model([helper.make_node("LayerNormalization", ["x", "s"], ["y"])],
                       {"x": (np.float16, [3, 6])}, [("y", np.float16)], inits)
    imported = import_model(model)
    assert _scope_types(imported, "LayerNorm").count("Cast") == 2  # up to float32, and back
    check(model, {"x": random(rng, (3, 6), np.float16)}, rtol=1e-2, atol=1e-2,
          fn=imported.compile())


def test_instance_and_batch_normalization_use_the_nn_composites():
    rng = np.random.default_rng(34)
    c = 3
    stats = {"s": random(rng, c), "b": random(rng, c), "m": random(rng, c),
             "v": np.abs(random(rng, c)) + 0.1}
    model = make_model([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["i"]),
                        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"],
                                         ["n"])],
                       {"x": (F32, [2, c, 4, 5])}, ["i", "n"], stats, opset=15)
    imported = import_model(model)
    per_channel = [c, 1, 1]
    want = _built(lambda x, s, b: standardize(x, [2, 3], s, b, 1e-5, name="InstanceNorm"),
                  [2, c, 4, 5], per_channel, per_channel)
    assert _scope_types(imported, "InstanceNorm") == _scope_types(want, "InstanceNorm")
    want = _built(lambda x, m, v, b, s: gj.nn.batch_normalization(x, m, v, b, s, 1e-5),
                  [2, c, 4, 5], *[per_channel] * 4)
    assert _scope_types(imported, "batchnorm") == _scope_types(want, "batchnorm")
    check(model, {"x": random(rng, (2, c, 4, 5)) * 3 + 1})


def test_batch_normalization_statistics_of_another_float_type():
    """T1/T2 may differ from X's type: computed in the widest (float32), cast back."""
    rng = np.random.default_rng(35)
    c = 3
    model = make_model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"],
                                         ["y"])],
                       {"x": (np.float16, [2, c, 4]), "m": (F32, [c]), "v": (F32, [c])},
                       [("y", np.float16)], {"s": random(rng, c), "b": random(rng, c)},
                       opset=15)
    check(model, {"x": random(rng, (2, c, 4), np.float16), "m": random(rng, c),
                  "v": np.abs(random(rng, c)) + 0.1}, rtol=1e-2, atol=1e-2)
