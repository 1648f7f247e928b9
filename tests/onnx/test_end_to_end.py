"""Whole models through graphjit.onnx.import_model and graphjit's compiler, against
onnxruntime: a small ResNet/MobileNet-style CNN and a transformer encoder block, each with
a free batch dim and run at two batch sizes by one compiled function."""

import math

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

from tests.onnx.nn_util import check, make_model, random  # noqa: E402

F32 = np.float32


class _Builder:
    """Nodes and seeded random initializers for a model, with fresh value names."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], {}

    def weight(self, name: str, shape, scale: float = 1.0) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        self.inits[name] = random(self.rng, shape) * F32(scale / math.sqrt(fan_in))
        return name

    def const(self, name: str, value) -> str:
        self.inits[name] = np.asarray(value)
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


# -- CNN -----------------------------------------------------------------------------------

def _conv_bn(b: _Builder, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1,
             group: int = 1, relu: bool = True) -> str:
    w = b.weight(f"{name}.w", (cout, cin // group, k, k), scale=2.0)
    y = b.node("Conv", [x, w], f"{name}.conv", pads=[k // 2] * 4, strides=[stride] * 2,
               group=group)
    stats = [b.const(f"{name}.bn.{s}", v) for s, v in (
        ("scale", 1 + 0.1 * random(b.rng, cout)), ("bias", 0.1 * random(b.rng, cout)),
        ("mean", 0.1 * random(b.rng, cout)), ("var", 1 + np.abs(random(b.rng, cout))))]
    y = b.node("BatchNormalization", [y] + stats, f"{name}.bn", epsilon=1e-5)
    return b.node("Relu", [y], f"{name}.relu") if relu else y


def _cnn(classes: int = 10):
    b = _Builder(seed=20)
    y = _conv_bn(b, "image", "stem", 3, 8, 3)
    y = _conv_bn(b, y, "dw", 8, 8, 3, stride=2, group=8)  # MobileNet: depthwise ...
    y = _conv_bn(b, y, "pw", 8, 16, 1)  # ... then pointwise
    r = _conv_bn(b, y, "res1", 16, 16, 3)  # ResNet basic block
    r = _conv_bn(b, r, "res2", 16, 16, 3, relu=False)
    y = b.node("Relu", [b.node("Add", [y, r], "res.add")], "res.relu")
    y = b.node("MaxPool", [y], "pool", kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("GlobalAveragePool", [y], "gap")
    y = b.node("Flatten", [y], "flatten", axis=1)
    y = b.node("Gemm", [y, b.weight("fc.w", (classes, 16)), b.weight("fc.b", (classes,))],
               "logits", transB=1)
    b.node("Softmax", [y], "probs", axis=-1)
    return make_model(b.nodes, {"image": (F32, [None, 3, 16, 16])}, ["probs", "logits"],
                      b.inits, opset=17)


def test_cnn_matches_onnxruntime_at_two_batch_sizes():
    model = _cnn()
    rng = np.random.default_rng(21)
    check(model, {"image": random(rng, (1, 3, 16, 16))}, {"image": random(rng, (4, 3, 16, 16))},
          rtol=1e-4, atol=1e-5)


# -- transformer encoder block ---------------------------------------------------------------

def _linear(b: _Builder, x: str, name: str, din: int, dout: int) -> str:
    y = b.node("MatMul", [x, b.weight(f"{name}.w", (din, dout))], f"{name}.matmul")
    return b.node("Add", [y, b.weight(f"{name}.b", (dout,), scale=0.1)], name)


def _layer_norm(b: _Builder, x: str, name: str, d: int) -> str:
    scale = b.const(f"{name}.scale", 1 + 0.1 * random(b.rng, d))
    bias = b.const(f"{name}.bias", 0.1 * random(b.rng, d))
    return b.node("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=1e-5)


def _encoder(d: int = 16, heads: int = 4, seq: int = 6, hidden: int = 32):
    """Pre-norm block: x + MHA(LN(x)), then + MLP(LN(.)) with a Gelu."""
    b = _Builder(seed=30)
    dh = d // heads
    # Reshape targets from Shape ops (the static part of x's shape) and constants; 0 copies
    # the free batch dim.
    seq_len = b.node("Shape", ["x"], "seq_len", start=1, end=2)
    split_shape = b.node("Concat", [b.const("zero", np.array([0], np.int64)), seq_len,
                                    b.const("heads", np.array([heads, dh], np.int64))],
                         "split_shape", axis=0)
    merge_shape = b.node("Concat", ["zero", b.node("Shape", ["x"], "tail", start=1)],
                         "merge_shape", axis=0)

    h = _layer_norm(b, "x", "ln1", d)

    def heads_of(name: str, perm: list[int]) -> str:
        y = _linear(b, h, name, d, d)
        y = b.node("Reshape", [y, split_shape], f"{name}.split")
        return b.node("Transpose", [y], f"{name}.heads", perm=perm)

    q = heads_of("q", [0, 2, 1, 3])  # [N, H, T, dh]
    k = heads_of("k", [0, 2, 3, 1])  # [N, H, dh, T]
    v = heads_of("v", [0, 2, 1, 3])
    scores = b.node("MatMul", [q, k], "scores")
    scores = b.node("Div", [scores, b.const("sqrt_dh", np.array(math.sqrt(dh), F32))],
                    "scaled")
    probs = b.node("Softmax", [scores], "attn", axis=-1)
    ctx = b.node("MatMul", [probs, v], "context")
    ctx = b.node("Transpose", [ctx], "context.t", perm=[0, 2, 1, 3])
    ctx = b.node("Reshape", [ctx, merge_shape], "context.merged")
    x1 = b.node("Add", ["x", _linear(b, ctx, "out", d, d)], "residual1")

    m = _layer_norm(b, x1, "ln2", d)
    m = b.node("Gelu", [_linear(b, m, "fc1", d, hidden)], "gelu")
    b.node("Add", [x1, _linear(b, m, "fc2", hidden, d)], "y")
    return make_model(b.nodes, {"x": (F32, [None, seq, d])}, ["y"], b.inits, opset=20)


def test_transformer_encoder_matches_onnxruntime_at_two_batch_sizes():
    model = _encoder()
    rng = np.random.default_rng(31)
    check(model, {"x": random(rng, (1, 6, 16))}, {"x": random(rng, (3, 6, 16))},
          rtol=1e-4, atol=1e-5)
