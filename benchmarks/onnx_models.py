"""Five small ONNX models, built here from a seed, as exporters write them.

`benchmarks/models.py` times them in graphjit and in ONNX Runtime; tests check that both
give the same numbers. Each builder returns an `onnx.ModelProto` with one input `x` whose
first dimension (the batch) is free, and one output `y`:

- `mlp4`:  Gemm, Relu, Gemm, Softmax on 64 features (a tiny model: per-call overhead);
- `mlp`:   784-256-256-10 MatMul/Add/Relu layers and a Softmax (W4's network);
- `cnn`:   two 3x3 Conv+Relu+MaxPool stages on 1x28x28 images, Flatten, Gemm, Softmax;
- `transformer`: one encoder block on 64 tokens of width 128 (4 heads, feed-forward 512):
  attention by MatMul/Reshape/Transpose/Softmax, residuals, LayerNormalization, Relu;
- `transformer_gelu`: the same block with GELU written as exporters write it (Erf).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
SEQ, WIDTH, HEADS, FFN = 64, 128, 4, 512


class _Builder:
    """Collects nodes and seeded float32 initializers for one model."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def weight(self, shape, scale=None) -> str:
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[0] if len(shape) else 1)
        value = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return self.const(value, "w")

    def const(self, value, stem="c") -> str:
        name = self._name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, name: str, x_shape, y_shape, out: str) -> onnx.ModelProto:
        """The model whose output `y` is `out`, the last node's result."""
        assert self.nodes[-1].output[0] == out
        self.nodes[-1].output[0] = "y"
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *x_shape])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *y_shape])],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        onnx.checker.check_model(model, full_check=True)
        return model


def mlp4(seed: int = 0) -> onnx.ModelProto:
    b = _Builder(seed)
    h = b.op("Gemm", "x", b.weight((64, 32)), b.const(np.zeros(32, np.float32)))
    h = b.op("Relu", h)
    h = b.op("Gemm", h, b.weight((32, 10)), b.const(np.zeros(10, np.float32)))
    return b.model("mlp4", [64], [10], b.op("Softmax", h, axis=-1))


def mlp(seed: int = 0) -> onnx.ModelProto:
    b = _Builder(seed)
    h = "x"
    sizes = (784, 256, 256, 10)
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        h = b.op("Add", b.op("MatMul", h, b.weight((n_in, n_out))),
                 b.const(b.rng.standard_normal(n_out).astype(np.float32) * 0.1))
        if i < len(sizes) - 2:
            h = b.op("Relu", h)
    return b.model("mlp", [784], [10], b.op("Softmax", h, axis=-1))


def cnn(seed: int = 0) -> onnx.ModelProto:
    b = _Builder(seed)
    h, channels = "x", 1
    for out_channels in (16, 32):
        w = b.weight((out_channels, channels, 3, 3), scale=1.0 / np.sqrt(9 * channels))
        h = b.op("Conv", h, w, b.const(np.zeros(out_channels, np.float32)),
                 kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        h = b.op("MaxPool", b.op("Relu", h), kernel_shape=[2, 2], strides=[2, 2])
        channels = out_channels
    h = b.op("Flatten", h, axis=1)
    h = b.op("Gemm", h, b.weight((32 * 7 * 7, 10)), b.const(np.zeros(10, np.float32)))
    return b.model("cnn", [1, 28, 28], [10], b.op("Softmax", h, axis=-1))


def _gelu(b: _Builder, h: str) -> str:
    erf = b.op("Erf", b.op("Div", h, b.const(np.float32(np.sqrt(2.0)))))
    return b.op("Mul", b.op("Mul", h, b.op("Add", erf, b.const(np.float32(1.0)))),
                b.const(np.float32(0.5)))


def _layer_norm(b: _Builder, h: str) -> str:
    return b.op("LayerNormalization", h, b.const(np.ones(WIDTH, np.float32)),
                b.const(np.zeros(WIDTH, np.float32)), axis=-1, epsilon=1e-5)


def _attention(b: _Builder, x: str) -> str:
    head = WIDTH // HEADS
    split = b.const(np.array([0, SEQ, HEADS, head], np.int64))

    def heads():  # [batch, SEQ, WIDTH] -> [batch, HEADS, SEQ, head]
        projected = b.op("MatMul", x, b.weight((WIDTH, WIDTH)))
        return b.op("Transpose", b.op("Reshape", projected, split), perm=[0, 2, 1, 3])

    q, k, v = heads(), heads(), heads()
    scores = b.op("Mul", b.op("MatMul", q, b.op("Transpose", k, perm=[0, 1, 3, 2])),
                  b.const(np.float32(1.0 / np.sqrt(head))))
    context = b.op("MatMul", b.op("Softmax", scores, axis=-1), v)
    merged = b.op("Reshape", b.op("Transpose", context, perm=[0, 2, 1, 3]),
                  b.const(np.array([0, SEQ, WIDTH], np.int64)))
    return b.op("MatMul", merged, b.weight((WIDTH, WIDTH)))


def _transformer(seed: int, gelu: bool) -> onnx.ModelProto:
    b = _Builder(seed)
    h = _layer_norm(b, b.op("Add", "x", _attention(b, "x")))
    inner = b.op("Add", b.op("MatMul", h, b.weight((WIDTH, FFN))),
                 b.const(np.zeros(FFN, np.float32)))
    inner = _gelu(b, inner) if gelu else b.op("Relu", inner)
    out = b.op("Add", b.op("MatMul", inner, b.weight((FFN, WIDTH))),
               b.const(np.zeros(WIDTH, np.float32)))
    name = "transformer_gelu" if gelu else "transformer"
    return b.model(name, [SEQ, WIDTH], [SEQ, WIDTH], _layer_norm(b, b.op("Add", h, out)))


def transformer(seed: int = 0) -> onnx.ModelProto:
    return _transformer(seed, gelu=False)


def transformer_gelu(seed: int = 0) -> onnx.ModelProto:
    return _transformer(seed, gelu=True)


MODELS = {"mlp4": mlp4, "mlp": mlp, "cnn": cnn, "transformer": transformer,
          "transformer_gelu": transformer_gelu}
INPUT_SHAPES = {"mlp4": (64,), "mlp": (784,), "cnn": (1, 28, 28),
                "transformer": (SEQ, WIDTH), "transformer_gelu": (SEQ, WIDTH)}


def example_input(name: str, batch: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, *INPUT_SHAPES[name])).astype(np.float32)
