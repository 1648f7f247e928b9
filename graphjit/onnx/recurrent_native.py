"""ONNX LSTM/GRU/RNN as graphjit's RecurrentSequence: one matmul for the input
projection of every step and direction, then the whole recurrence as one native kernel
(graphjit.lower.recurrent_kernel), for any sequence length, known at import or not.

That kernel computes H·Rᵀ with a loop nest of its own (fused multiply-adds along Rᵀ's
rows, whatever vector width the CPU has), where the per-step path makes a BLAS call per
step. BLAS blocks the product for cache and registers, which pays once a step's product
is large; measured single-threaded (seq 32, 64 features, LSTM, process time), the loop
nest was ahead or within 10% up to hidden 256 at batch 64 and 512 at batch 8 (hidden
64: 0.29 vs 0.52 ms at batch 8; 128: 6.3 vs 5.7 ms at batch 64; 256: 17.6 vs 18.7 ms at
batch 64), so ops_recurrent keeps the per-step path for hidden sizes above
NATIVE_MAX_HIDDEN. The rule counts the work per step, not this CPU's features: both
sides scale with the vector width alike.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext
from graphjit.ops.recurrent import GATES, recurrent_sequence

NATIVE_MAX_HIDDEN = 256  # hidden sizes up to this run as one RecurrentSequence kernel
_ALL_ALIVE = 2**31 - 1  # a sequence length no time index reaches


def native_sequence(ctx: NodeContext, kind: str, x: Tensor, w: Tensor, r: Tensor, b, lens,
                    h0, c0, peep, activations: list, hidden: int, direction: str,
                    input_forget: bool, linear_before_reset: bool) -> tuple:
    """(Y [T, D, B, H], Y_h [D, B, H], Y_c [D, B, H] or None) of the node, x time-major
    [T, B, I] and h0/c0 [D, B, H] (or None)."""
    n_dirs = w.shape[0]
    gh = GATES[kind] * hidden
    dt = x.dtype
    # [I, D*G*H]: the directions' Wᵀ side by side, so X·Wᵀ is one matmul
    w_cat = gj.reshape(gj.transpose(w, [2, 0, 1]), [-1, n_dirs * gh])
    xw = gj.matmul(x, w_cat)
    rt = gj.transpose(r, [0, 2, 1])  # [D, H, G*H]
    rbh = gj.constant(np.zeros([n_dirs, hidden], dt.np))
    if b is None:
        bias = gj.constant(np.zeros([n_dirs, gh], dt.np))
    else:
        wb, rb = b[:, :gh], b[:, gh:]
        if kind == "GRU" and linear_before_reset:  # the h gate's Rb goes inside r * (...)
            rbh = rb[:, 2 * hidden:]
            rb = gj.concat([rb[:, :2 * hidden], gj.zeros_like(rbh)], 1)
        bias = wb + rb
    # (absent initial states and lengths: constants of batch dim 1, which the op
    # broadcasts, so a free batch dim needs no kernel filling them per call)
    zero_state = gj.constant(np.zeros([n_dirs, 1, hidden], dt.np))
    h0 = zero_state if h0 is None else h0
    if lens is None or _all_full(ctx, x):
        lens = gj.constant(np.full([1], _ALL_ALIVE, np.int32))
    else:
        lens = gj.cast(lens, gj.int32)
    extra = []
    if kind == "LSTM":
        extra = [zero_state if c0 is None else c0,
                 gj.constant(np.zeros([n_dirs, 3, hidden], dt.np)) if peep is None
                 else gj.reshape(peep, [n_dirs, 3, hidden])]
    elif kind == "GRU":
        extra = [rbh]
    outs = recurrent_sequence(kind, xw, bias, rt, h0, lens, extra, direction, activations,
                              clip=ctx.attr("clip"), input_forget=input_forget,
                              linear_before_reset=linear_before_reset, name=ctx.name)
    return outs[0], outs[1], (outs[2] if kind == "LSTM" else None)


def _all_full(ctx: NodeContext, x: Tensor) -> bool:
    """Whether sequence_lens is known to be T for every sequence (no masking needed)."""
    value = ctx.static(4)
    return value is not None and x.shape[0] is not None and bool(np.all(value == x.shape[0]))
