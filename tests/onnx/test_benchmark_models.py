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
