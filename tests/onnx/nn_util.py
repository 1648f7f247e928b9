"""Helpers for the ONNX NN tests: small models built with onnx.helper, and a check that
graphjit's import + compile gives onnxruntime's outputs (dtype, shape and values).

Test modules call `pytest.importorskip("onnx")` before importing this one.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from graphjit.onnx import import_model

FLOAT = onnx.TensorProto.FLOAT


def tensor_type(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def make_model(nodes, inputs: dict, outputs, initializers: dict | None = None,
               opset: int = 18) -> onnx.ModelProto:
    """inputs: {name: (dtype, shape)} with None for a free dim; outputs: names (float32)
    or (name, dtype) pairs, their shapes inferred by ONNX; initializers: {name: array}."""
    ins = [helper.make_tensor_value_info(n, tensor_type(d), s) for n, (d, s) in inputs.items()]
    outs = [helper.make_tensor_value_info(o, FLOAT, None) if isinstance(o, str)
            else helper.make_tensor_value_info(o[0], tensor_type(o[1]), None) for o in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), n) for n, v in (initializers or {}).items()]
    graph = helper.make_graph(nodes, "test", ins, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # output ranks
    onnx.checker.check_model(model)
    return model


def run_ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def compile_model(model: onnx.ModelProto):
    return import_model(model).compile()


def check(model: onnx.ModelProto, *feed_sets: dict, rtol: float = 1e-5, atol: float = 1e-5,
          fn=None):
    """Compile once, then compare every output with onnxruntime's for each feed dict."""
    fn = fn or compile_model(model)
    names = [o.name for o in model.graph.output]
    for feeds in feed_sets:
        got = fn(**feeds)
        want = run_ort(model, feeds)
        for name, g, w in zip(names, got, want):
            g = np.asarray(g)
            assert g.dtype == w.dtype, f"{name}: dtype {g.dtype}, onnxruntime {w.dtype}"
            assert g.shape == w.shape, f"{name}: shape {g.shape}, onnxruntime {w.shape}"
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)
    return fn


def random(rng: np.random.Generator, shape, dtype=np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)
