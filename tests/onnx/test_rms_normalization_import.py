"""ONNX RMSNormalization (graphjit.onnx.ops_rms_normalization) against onnxruntime, beyond
ONNX's node cases: free dims at import, float16 computed in float32, float64 with
stash_type=11, a scale broadcast over the normalized axes."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

from tests.onnx.nn_util import check, make_model, random  # noqa: E402


@pytest.mark.parametrize("dtype,stash,tol", [(np.float32, 1, 1e-5), (np.float16, 1, 2e-3),
                                             (np.float64, 11, 1e-12)])
def test_rms_normalization_free_dims(dtype, stash, tol):
    rng = np.random.default_rng(0)
    variants = [({}, (4,)), ({"axis": 1, "epsilon": 0.1}, (3, 4)), ({"axis": -2}, (1, 4))]
    nodes, inits = [], {}
    for i, (attrs, scale_shape) in enumerate(variants):
        inits[f"s{i}"] = rng.uniform(0.5, 2.0, scale_shape).astype(dtype)
        nodes.append(helper.make_node("RMSNormalization", ["x", f"s{i}"], [f"y{i}"],
                                      stash_type=stash, **attrs))
    model = make_model(nodes, {"x": (dtype, [None, 3, 4])},
                       [(f"y{i}", dtype) for i in range(len(variants))], inits, opset=23)
    check(model, *({"x": random(rng, (n, 3, 4), dtype)} for n in (1, 3)), rtol=tol, atol=tol)
