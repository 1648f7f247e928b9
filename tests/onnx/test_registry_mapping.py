"""Each op's ONNX mapping in the registry agrees with graphjit.onnx, and the one-to-one
ops go through ONNX and back to themselves."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")

import graphjit as tf  # noqa: E402
from graphjit.onnx import CONVERTERS, import_model  # noqa: E402
from graphjit.onnx.export_ops import TRANSLATIONS  # noqa: E402
from graphjit.onnx.exporter import export  # noqa: E402
from graphjit.registry import Fusion, NoOnnx, Onnx, all_op_defs  # noqa: E402

OPS = sorted(all_op_defs().items())
SAME = [(t, d.onnx.op_type) for t, d in OPS if isinstance(d.onnx, Onnx) and d.onnx.same]
_BOOL = {"LogicalNot", "LogicalAnd", "LogicalOr"}


@pytest.mark.parametrize("op_type, op_def", OPS, ids=[t for t, _ in OPS])
def test_the_mapping_agrees_with_the_onnx_package(op_type, op_def):
    mapping = op_def.onnx
    if isinstance(mapping, NoOnnx):
        assert mapping.reason.strip() and op_type not in TRANSLATIONS
        return
    assert isinstance(mapping, Onnx)
    if op_def.fusion is not Fusion.SOURCE:  # (inputs and initializers: the exporter's own)
        assert op_type in TRANSLATIONS, f"{op_type} has no ONNX translation"
    if mapping.op_type is not None and mapping.imported:
        assert mapping.op_type in CONVERTERS, f"ONNX {mapping.op_type} has no converter"


_BINARY = {"Add", "Sub", "Mul", "Equal", "Less", "LessEqual", "Greater", "GreaterEqual",
           "LogicalAnd", "LogicalOr"}


def _one_op_graph(op_type: str):
    arity = 3 if op_type == "Select" else 2 if op_type in _BINARY else 1
    dtype = tf.bool if op_type in _BOOL else tf.float32
    graph = tf.Graph()
    with graph.as_default():
        xs = [tf.placeholder(tf.bool if op_type == "Select" and i == 0 else dtype, [3],
                             name=f"x{i}") for i in range(arity)]
        y = graph.create_op(op_type, xs, {}, name="y").outputs[0]
    return graph, xs, y


@pytest.mark.parametrize("op_type, onnx_type", SAME, ids=[t for t, _ in SAME])
def test_a_one_to_one_op_goes_through_onnx_and_back(op_type, onnx_type):
    graph, xs, y = _one_op_graph(op_type)
    model = export(graph, fetches=[y], feeds=xs)
    assert [n.op_type for n in model.graph.node] == [onnx_type]
    imported = import_model(model)
    assert [op.type for op in imported.get_operations()
            if op.type not in ("Placeholder", "Identity")] == [op_type]  # (Identity: names)
    rng = np.random.default_rng(0)
    values = [rng.random(3) > 0.5 if x.dtype == tf.bool else
              rng.uniform(0.5, 2, 3).astype(np.float32) for x in xs]
    with tf.Session(graph=graph, engine="reference") as sess:
        expected = sess.run(y, dict(zip(xs, values)))
    with tf.Session(graph=imported, engine="reference") as sess:
        got = sess.run(imported.outputs[0], dict(zip(imported.inputs, values)))
    np.testing.assert_array_equal(got, expected)
