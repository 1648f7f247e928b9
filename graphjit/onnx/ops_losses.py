"""ONNX converters for the training losses NegativeLogLikelihoodLoss and
SoftmaxCrossEntropyLoss, composed from graphjit's elementwise ops and reductions.

Picking input[n, target[n, d...], d...] is a class mask (target == class index) that
selects the input where it holds and 0.0 elsewhere, summed over the class axis: a sum of
one value and zeros is that value exactly, and the compiler fuses the select into the
reduction (no gather of computed indices). A target equal to `ignore_index` matches no
class weight and contributes 0, whatever its value (it may lie outside [0, C)).
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.ops.nn import softmax_over

_REDUCTIONS = ("none", "sum", "mean")


def _classes(ctx: NodeContext, x: Tensor) -> int:
    """C, the class count (input dim 1), which the class mask needs at build time."""
    if x.ndim < 2:
        raise ctx.unsupported(f"the input must have shape [N, C, d1, ...], got rank {x.ndim}")
    c = x.shape[1]
    return c if c is not None else ctx.require_shape(0, "the class mask")[1]


def _negative_log_likelihood(ctx: NodeContext, log_prob: Tensor, target: Tensor,
                             weight: Tensor | None) -> Tensor:
    """The loss of ONNX's reference: -log_prob[n, target, d...] times the target's class
    weight (0 where target == ignore_index), then reduced as `reduction` says; "mean"
    divides by the sum of those weights when there are weights or an ignore_index, else by
    the element count."""
    reduction = ctx.attr("reduction", "mean")
    if reduction not in _REDUCTIONS:
        raise ctx.unsupported(f"unknown reduction {reduction!r} (ONNX has {_REDUCTIONS})")
    if target.ndim != log_prob.ndim - 1:
        raise ctx.invalid(f"target has rank {target.ndim}; the input's rank {log_prob.ndim} "
                          "needs one less ([N, d1, ...])")
    c = _classes(ctx, log_prob)
    dtype = log_prob.dtype
    zero = np.zeros((), dtype.np)
    # classes[1, C, 1, ...] == target[N, 1, d...]: the class mask, one True per row or none
    classes = np.arange(c, dtype=target.dtype.np).reshape([1, c] + [1] * (log_prob.ndim - 2))
    mask = gj.equal(gj.expand_dims(target, 1), classes)
    picked = gj.reduce_sum(gj.where(mask, log_prob, zero), axis=1)
    ignore = ctx.attr("ignore_index")
    kept = None if ignore is None else gj.not_equal(target, np.asarray(ignore, target.dtype.np))
    if weight is not None:
        per_class = gj.reshape(weight, [1, c] + [1] * (log_prob.ndim - 2))
        weights = gj.reduce_sum(gj.where(mask, per_class, zero), axis=1)
        if kept is not None:
            weights = gj.where(kept, weights, zero)
    elif kept is not None:
        weights = gj.cast(kept, dtype)
    else:
        weights = None
    loss = gj.negative(picked) if weights is None else gj.negative(picked) * weights
    if reduction == "none":
        return loss
    if reduction == "sum":
        return gj.reduce_sum(loss)
    if weights is None:
        return gj.reduce_mean(loss)
    return gj.reduce_sum(loss) / gj.reduce_sum(weights)


@converter("NegativeLogLikelihoodLoss", attrs=("ignore_index", "reduction"))
def convert_negative_log_likelihood_loss(ctx: NodeContext) -> Tensor:
    """input [N, C, d1, ...] holds log-probabilities, target [N, d1, ...] class indices,
    the optional weight [C] one weight per class."""
    x, target = ctx.inputs[:2]
    return gj.identity(_negative_log_likelihood(ctx, x, target, ctx.input(2)), name=ctx.name)


@converter("SoftmaxCrossEntropyLoss", attrs=("ignore_index", "reduction"))
def convert_softmax_cross_entropy_loss(ctx: NodeContext) -> list[Tensor]:
    """NegativeLogLikelihoodLoss of log_softmax(scores) over the class axis (1); the
    optional second output is that log_softmax."""
    scores, labels = ctx.inputs[:2]
    _classes(ctx, scores)
    log_prob = softmax_over(scores, [1], log=True)
    loss = gj.identity(_negative_log_likelihood(ctx, log_prob, labels, ctx.input(2)),
                       name=ctx.name)
    return [loss, log_prob] if ctx.num_outputs > 1 and ctx.node.output[1] else [loss]
