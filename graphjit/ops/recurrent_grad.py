"""The gradient of RecurrentSequence: the rule rebuilds the op's recurrence from its
inputs as the per-step graph of ordinary ops (graphjit.ops.recurrent_steps, the graph the
ONNX converters build for large hidden sizes) and differentiates that with
graphjit.gradients for the output gradients it was given.

So the backward pass is as correct as the per-step graph's ops and their rules, with no
backward kernel of its own to keep in step with the forward one; it costs the forward
recurrence again as per-step ops (unrolled when T is known up to UNROLL_STEPS, else a
while loop, whose gradient keeps each iteration's state). Each input but a constant is
read through an identity, so a tensor passed at two positions gets each position's
gradient once; constants (the converter's zero states, peepholes and never-ending lens)
are not differentiated, and zero ones build no ops. lens, an integer input, has none.
"""

from __future__ import annotations

import numpy as np

from graphjit.graph import Operation, Tensor

_NEVER = 2**31 - 1  # a sequence length no time index reaches (the converter's default)


def recurrent_sequence_grad(op: Operation, grads: list) -> list:
    """[gradient or None per input] of a RecurrentSequence from its outputs' `grads`."""
    from graphjit.autodiff import gradients
    from graphjit.ops.core import identity
    inputs = [t if t.op.type == "Const" else identity(t) for t in op.inputs]
    outs = rebuild(op, inputs, want_y=grads[0] is not None)
    wanted = [(o, g) for o, g in zip(outs, grads) if g is not None and o is not None]
    floats = [i for i, t in enumerate(inputs) if t.dtype.is_floating and t.op.type != "Const"]
    found = gradients([o for o, _ in wanted], [inputs[i] for i in floats],
                      grad_ys=[g for _, g in wanted], _blocked_is_zero=True)
    result: list = [None] * len(inputs)
    for i, g in zip(floats, found):
        result[i] = g
    return result


def rebuild(op: Operation, inputs: list[Tensor], want_y: bool = True) -> list:
    """[Y or None, Y_h(, Y_c)] of the RecurrentSequence `op` computed from `inputs` (its
    inputs or stand-ins) with per-step ops. Inputs the converter fills with zero
    constants (absent peepholes, initial states, GRU's Rbh) build no ops, as on the
    converter's per-step path."""
    from graphjit.ops.recurrent import DIRECTIONS, GATES, activation_list
    from graphjit.ops.recurrent_steps import Direction, activations, run_steps
    from graphjit.ops.shape_ops import zeros, zeros_like
    attrs = op.attrs
    cell = attrs["cell"]
    xw, bias, rt, h0, lens = inputs[:5]
    hidden = rt.shape[1]
    gh = GATES[cell] * hidden
    reverses = DIRECTIONS[attrs["direction"]]
    acts = activations(activation_list(attrs), attrs.get("clip"))
    per = len(acts) // len(reverses)
    # [B, 1] zeros: broadcasts a batch-1 h0 / c0 to the batch, so loop states keep shapes
    batch_zeros = zeros_like(xw[0, :, :1])
    # [B, H] zeros, a constant where B is known (so the first step's H·Rᵀ folds away)
    zero_state = (zeros([xw.shape[1], hidden], xw.dtype) if xw.shape[1] is not None
                  else batch_zeros + np.zeros([hidden], xw.dtype.np))

    def state(t: Tensor, d: int) -> Tensor:
        return zero_state if _zero_constant(t) else t[d] + batch_zeros

    dirs, states = [], []
    for d, reverse in enumerate(reverses):
        rb_h = None
        if cell == "GRU" and attrs["linear_before_reset"] and not _zero_constant(inputs[5]):
            rb_h = inputs[5][d]
        peep = None
        if cell == "LSTM" and not _zero_constant(inputs[6]):
            p = inputs[6][d]
            peep = (p[0], p[1], p[2])
        dirs.append(Direction(reverse, xw[:, :, d * gh:(d + 1) * gh] + bias[d], rt[d], rb_h,
                              peep, tuple(acts[d * per:(d + 1) * per])))
        states.append(state(h0, d))
        if cell == "LSTM":
            states.append(state(inputs[5], d))
    if _never_ends(lens, xw.shape[0]):
        lens = None  # (the converter's constant for no sequence_lens: no masking ops)
    y, y_h, y_c = run_steps(cell, xw, dirs, hidden, states, lens, want_y,
                            attrs["input_forget"], attrs["linear_before_reset"],
                            name=f"{op.name}_steps")
    return [y, y_h] + ([y_c] if cell == "LSTM" else [])


def _never_ends(lens: Tensor, steps: int | None) -> bool:
    """Whether `lens` is a constant no sequence of `steps` (None: any length) reaches the
    end of, so the steps need not mask."""
    if lens.op.type != "Const":
        return False
    return bool(np.all(np.asarray(lens.op.attrs["value"]) >= (_NEVER if steps is None
                                                                  else steps)))


def _zero_constant(t: Tensor) -> bool:
    return t.op.type == "Const" and not np.any(t.op.attrs["value"])
