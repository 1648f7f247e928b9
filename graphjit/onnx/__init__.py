"""ONNX interchange (the optional `onnx` extra): import, export and a backend.

`import_model(model_or_path)` turns an ONNX model into a graphjit Graph (with
`trainable=True`, its float initializers as Variables to fine-tune: trainable.py),
`export(graph, path, ...)` writes one, and `graphjit.onnx.backend` runs ONNX
models through the compiler the way `onnxruntime.backend` does.
"""

try:
    import onnx as _onnx  # noqa: F401
except ImportError as _exc:  # graphjit itself never needs onnx: only this package does
    raise ImportError("graphjit.onnx needs the onnx package: pip install 'graphjit[onnx]'"
                      ) from _exc

from graphjit.onnx import backend
from graphjit.onnx.convert import (
    CONVERTERS,
    InvalidModelError,
    NodeContext,
    OnnxLoadError,
    StaticValueRequired,
    converter,
)
from graphjit.onnx.exporter import export
from graphjit.onnx.importer import OnnxGraph, import_model

__all__ = ["import_model", "export", "backend", "OnnxGraph", "StaticValueRequired",
           "InvalidModelError", "OnnxLoadError", "CONVERTERS", "NodeContext", "converter"]
