"""ONNX Gemm and MatMul by initializer weights (a packed loop kernel for few rows,
graphjit.lower.packed_matmul) equal the reference interpreter: transA/transB, alpha,
beta and a bias, N not a multiple of the tile, K=1, float32 and float64, several outputs
of one model, odd row counts on both sides of the rule."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphjit.onnx as gjx
from graphjit.interpreter import evaluate
from graphjit.lower import packed_matmul
from graphjit.lower.packed_matmul import MAX_ROWS, blas_rows

K = 5
TYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


@pytest.fixture(scope="module", autouse=True)
def packed_from_the_first_call():
    """These tests check the packed kernels themselves: no BLAS-first tier (graphjit.api;
    tests/graphjit/test_packed_tier.py checks the tier)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 0)
        yield


def _model(dtype: str):
    rng = np.random.default_rng(3)

    def init(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype), name)
    elem = TYPES[dtype]
    nodes = [
        helper.make_node("Gemm", ["x", "w", "c"], ["y0"], alpha=0.5, beta=2.0),
        helper.make_node("Gemm", ["x", "wt", "c6"], ["y1"], transB=1),
        helper.make_node("Gemm", ["xt", "w"], ["y2"], transA=1, transB=0),
        helper.make_node("Gemm", ["xt", "wt"], ["y3"], transA=1, transB=1),
        helper.make_node("MatMul", ["x1", "w1"], ["y4"]),
        helper.make_node("Relu", ["y0"], ["y5"]),
    ]
    inits = [init("w", (K, 7)), init("c", (7,)), init("wt", (6, K)), init("c6", (1, 6)),
             init("w1", (1, 9))]
    inputs = [helper.make_tensor_value_info("x", elem, ["m", K]),
              helper.make_tensor_value_info("xt", elem, [K, "m"]),
              helper.make_tensor_value_info("x1", elem, ["m", 1])]
    outputs = [helper.make_tensor_value_info(f"y{i}", elem, None) for i in range(6)]
    graph = helper.make_graph(nodes, "gemms", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module", params=["float32", "float64"])
def imported(request):
    graph = gjx.import_model(_model(request.param))
    return request.param, graph, graph.compile()


@pytest.mark.parametrize("rows", [1, 3, MAX_ROWS - 1, MAX_ROWS + 1, blas_rows()])
def test_gemms_by_initializers_equal_the_reference(imported, rows):
    dtype, graph, fn = imported
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, K)).astype(dtype)
    feeds = [x, np.ascontiguousarray(x.T), rng.standard_normal((rows, 1)).astype(dtype)]
    got = fn(*feeds)
    want = evaluate(graph.outputs, dict(zip(graph.inputs, feeds)))
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    loops = fn.ir("loops")
    if rows < blas_rows():  # the transA products stay BLAS calls
        assert loops.count("extern matmul") == 2 and " of tile " in loops
    else:
        assert " of tile " not in loops
