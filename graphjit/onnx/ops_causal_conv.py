"""The ONNX converter for CausalConvWithState (opset 27): a causal depthwise 1-D
convolution over [batch, channels, length] that carries the last k - 1 positions as
state for incremental decoding. Composed from concat, k shifted slices times the
per-channel taps (an elementwise sum the compiler fuses) and an optional SiLU.
"""

from __future__ import annotations

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter


@converter("CausalConvWithState", attrs=("activation",))
def convert_causal_conv_with_state(ctx: NodeContext) -> list[Tensor]:
    """As ONNX's reference: padded = [past_state (zeros if absent), input] along length;
    output[t] = bias + sum_j weight[:, 0, j] * padded[t + j] (float16 accumulated in
    float32), then x * sigmoid(x) for 'silu'/'swish' (in float32); present_state is the
    last k - 1 positions of padded."""
    x, w = ctx.inputs[0], ctx.inputs[1]
    bias, past = ctx.input(2), ctx.input(3)
    activation = ctx.attr("activation", "none")
    if x.ndim != 3 or w.ndim != 3:
        raise ctx.invalid(f"input and weight must be rank 3, got {x.shape} and {w.shape}")
    k = w.shape[2]
    if k is None:
        raise ctx.unsupported(f"needs the kernel size (weight dim 2) at build time, got "
                              f"{w.shape}")
    if w.shape[1] not in (None, 1):
        raise ctx.invalid(f"weight must be (channels, 1, k) for a depthwise convolution, "
                          f"got {w.shape}")
    if past is None and k > 1:
        past = gj.tile(gj.zeros_like(x[:, :, :1]), [1, 1, k - 1])
    padded = x if k == 1 else gj.concat([past, x], axis=2)
    wide = gj.float32 if x.dtype == gj.float16 else x.dtype
    taps = gj.cast(w, wide)
    total = None
    for j in range(k):
        stop = j - (k - 1)
        window = gj.cast(padded[:, :, j:stop if stop else None], wide)
        term = window * gj.reshape(taps[:, 0, j], [-1, 1])
        total = term if total is None else total + term
    if bias is not None:
        total = total + gj.reshape(gj.cast(bias, wide), [-1, 1])
    out = gj.cast(total, x.dtype)
    if activation in ("silu", "swish"):
        y = gj.cast(out, gj.float32) if x.dtype != gj.float64 else out
        out = gj.cast(y * gj.sigmoid(y), x.dtype)
    present = padded[:, :, -(k - 1):] if k > 1 else past_or_empty(x, past)
    return [gj.identity(out, name=ctx.name), present]


def past_or_empty(x: Tensor, past: Tensor | None) -> Tensor:
    """The k = 1 state: no positions (past_state, when given, is empty too)."""
    return past if past is not None else x[:, :, :0]
