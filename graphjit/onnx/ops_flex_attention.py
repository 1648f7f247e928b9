"""The ONNX converter for FlexAttention (domain 'ai.onnx.preview', version 1): scaled
dot-product attention over [batch, heads, length, size] with grouped KV heads and two
optional modifier subgraphs, score_mod (on the scores before the softmax) and prob_mod
(on the probabilities after it). Each subgraph is converted in place on the tensor it
modifies (ctx.subgraph, seeing none of the outer graph's names), so the whole node
compiles as one graph: matmul, the modifier's ops, softmax, matmul.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_attention import _repeat_heads
from graphjit.ops.nn import softmax_over

PREVIEW = "ai.onnx.preview"
# softmax_precision (a TensorProto element type) -> the type scores and softmax use
_PRECISIONS = {1: gj.float32, 10: gj.float16, 11: gj.float64}


@converter("FlexAttention", attrs=("prob_mod", "scale", "score_mod", "softmax_precision"),
           domain=PREVIEW)
def convert_flex_attention(ctx: NodeContext) -> Tensor:
    """As ONNX's reference: sqrt(scale) (rounded to Q's type) on Q and on K, K and V
    repeated over the query heads of their group, scores in the softmax precision
    (float32 for float16 inputs unless softmax_precision says), score_mod, softmax,
    prob_mod, times V in that precision, then cast to V's type."""
    q, k, v = ctx.inputs[:3]
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ctx.invalid(f"Q, K and V must be rank 4, got {q.shape}, {k.shape}, {v.shape}")
    q_heads, kv_heads, size = q.shape[1], k.shape[1], q.shape[3]
    if None in (q_heads, kv_heads, size) or v.shape[1] is None:
        raise ctx.unsupported("needs the head counts and Q's head size at build time, got "
                              f"Q {q.shape}, K {k.shape}")
    if v.shape[1] != kv_heads or (q_heads != kv_heads and q_heads % kv_heads):
        raise ctx.invalid(f"{q_heads} query heads do not group over K's {kv_heads} and V's "
                          f"{v.shape[1]} heads")
    if k.shape[3] not in (None, size):
        raise ctx.invalid(f"Q's head size {size} differs from K's {k.shape[3]}")
    precision = ctx.attr("softmax_precision")
    if precision is not None and precision not in _PRECISIONS:
        raise ctx.unsupported(f"softmax_precision {precision} is not supported (1: float32, "
                              "10: float16, 11: float64)")
    if precision is not None:
        wide = _PRECISIONS[precision]
    else:
        wide = gj.float32 if q.dtype.size < 4 else q.dtype
    scale = ctx.attr("scale")
    scale = 1.0 / np.sqrt(size) if scale is None else scale
    root = gj.constant(np.asarray(np.sqrt(np.float32(scale))).astype(q.dtype.np), dtype=q.dtype)
    reps = q_heads // kv_heads
    k, v = _repeat_heads(k * root, reps), _repeat_heads(v, reps)
    scores = gj.cast(gj.matmul(q * root, k, transpose_b=True), wide)
    if ctx.attr("score_mod") is not None:
        scores = gj.cast(_modified(ctx, "score_mod", scores), wide)
    probs = softmax_over(scores, [3])
    if ctx.attr("prob_mod") is not None:
        probs = gj.cast(_modified(ctx, "prob_mod", probs), wide)
    return gj.cast(gj.matmul(probs, gj.cast(v, wide)), v.dtype, name=ctx.name)


def _modified(ctx: NodeContext, what: str, x: Tensor) -> Tensor:
    """x through the modifier subgraph `what`, which may read no outer value."""
    outputs = ctx.subgraph(what, [x], outer_reads=False)
    if len(outputs) != 1:
        raise ctx.invalid(f"its {what} has {len(outputs)} outputs; it must have one")
    return outputs[0]
