"""ONNX BitwiseAnd/Or/Xor/Not (graphjit.onnx.ops_bitwise) against NumPy's bitwise ops on
every integer type, at its extremes and on random values, broadcast (the node cases try
a few types): the byte-table composition must equal the bit operations exactly,
compiled and in graphjit's reference interpreter."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper  # noqa: E402

from graphjit.errors import Error  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import tensor_type  # noqa: E402

TYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
OPS = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
       "BitwiseXor": np.bitwise_xor}


def _model():
    nodes, ins, outs = [], [], []
    for dt in TYPES:
        name = np.dtype(dt).name
        ins += [helper.make_tensor_value_info(f"a_{name}", tensor_type(dt), [None, 1]),
                helper.make_tensor_value_info(f"b_{name}", tensor_type(dt), [None])]
        for op in [*OPS, "BitwiseNot"]:
            args = [f"a_{name}"] + ([] if op == "BitwiseNot" else [f"b_{name}"])
            nodes.append(helper.make_node(op, args, [f"{op}_{name}"]))
            outs.append(helper.make_tensor_value_info(f"{op}_{name}", tensor_type(dt), None))
    graph = helper.make_graph(nodes, "bitwise", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _values(dt, rng):
    info = np.iinfo(dt)
    fixed = [info.min, info.max, 0, 1, info.max // 2, info.min // 2 - 1 if info.min else 3]
    return np.concatenate([np.array(fixed, dt), rng.integers(info.min, info.max, 6, dt,
                                                             endpoint=True)])


def test_bitwise_ops_equal_numpy_on_every_integer_type():
    rng = np.random.default_rng(0)
    model = _model()
    graph = import_model(model)
    feeds = {}
    for dt in TYPES:
        name, v = np.dtype(dt).name, _values(dt, rng)
        feeds[f"a_{name}"], feeds[f"b_{name}"] = v[:, None], v[::-1].copy()
    got = [np.asarray(g) for g in graph.compile()(**feeds)]
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs,
                                                               graph.input_names)})
    outputs = [o.name for o in model.graph.output]
    for name, g, r in zip(outputs, got, ref):
        op, type_name = name.split("_")
        a = feeds[f"a_{type_name}"]
        want = np.invert(a) if op == "BitwiseNot" else OPS[op](a, feeds[f"b_{type_name}"])
        assert g.dtype == want.dtype, name
        np.testing.assert_array_equal(g, want, err_msg=name)
        np.testing.assert_array_equal(np.asarray(r), want, err_msg=name)


def test_an_attribute_bitwise_ops_lack_names_the_node():
    node = helper.make_node("BitwiseAnd", ["a", "b"], ["y"], name="the_node", shift=1)
    ins = [helper.make_tensor_value_info(n, tensor_type(np.int32), [2]) for n in "ab"]
    graph = helper.make_graph([node], "g", ins, [helper.make_tensor_value_info(
        "y", tensor_type(np.int32), [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(Error, match="the_node.*shift"):
        import_model(model)
