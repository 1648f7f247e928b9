"""The models benchmarks/models.py times: each imports, compiles and gives ONNX Runtime's
numbers (at a small batch; the benchmark checks again at its own sizes)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphjit.onnx as gjx  # noqa: E402
from benchmarks import onnx_models  # noqa: E402


@pytest.mark.parametrize("name", sorted(onnx_models.MODELS))
def test_benchmark_model_matches_onnxruntime(name):
    model = onnx_models.MODELS[name]()
    x = onnx_models.example_input(name, batch=2)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})[0]
    got = gjx.import_model(model).compile()(x)
    got = got[0] if isinstance(got, (list, tuple)) else got
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["loop", "scan"])
def test_benchmark_loop_models_match_onnxruntime(case):
    """benchmarks/onnx_loops.py's Loop (its data decides 9 iterations) and Scan (11
    rows): graphjit's outputs are ONNX Runtime's, the Loop's rows as many as asked."""
    from benchmarks import onnx_loops
    if case == "loop":
        model, feeds = onnx_loops.decay_loop_model(3), onnx_loops.loop_inputs(9, 3)
    else:
        model, feeds = onnx_loops.running_sum_model(11, 3), onnx_loops.scan_inputs(11, 3)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)
    got = gjx.import_model(model).compile()(**feeds)
    assert got[1].shape == want[1].shape == ((9, 3) if case == "loop" else (11, 3))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
