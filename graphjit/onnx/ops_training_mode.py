"""The training-mode forms of ONNX BatchNormalization and Dropout (their converters, in
ops_nn, call these when the node asks for training).

BatchNormalization normalizes by the batch's own statistics (mean and population
variance over every axis but the channel axis) and outputs the running statistics
blended with them by `momentum`. Dropout with a seed draws the mask ONNX's reference
evaluator draws: NumPy's RandomState(seed).uniform(0, 1, shape) >= ratio, the same mask
on every run (the seed fixes it; the spec leaves the generator to the runtime). It is a
constant of the graph, so the input's shape must be static. Dropout without a seed draws
a new mask each run with graphjit's own dropout (tf.nn.dropout's), which cannot give the
mask output.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit import nn
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext


def batch_norm_training(ctx: NodeContext, per_channel) -> list[Tensor]:
    """[Y, running_mean, running_var] (as many as the node asks for) in training mode."""
    x, scale, bias, mean, var = ctx.inputs[:5]
    if x.ndim < 2:
        raise ctx.unsupported(f"needs an input of rank >= 2 (N, C, ...), got {x.ndim}")
    wide = max((t.dtype for t in ctx.inputs[:5]), key=lambda d: d.size)
    xw = gj.cast(x, wide)
    axes = [0] + list(range(2, x.ndim))
    batch_mean = gj.reduce_mean(xw, axes, keepdims=True)
    centered = xw - batch_mean
    batch_var = gj.reduce_mean(centered * centered, axes, keepdims=True)
    y = nn.batch_normalization(xw, batch_mean, batch_var,
                               per_channel(gj.cast(bias, wide), x.ndim),
                               per_channel(gj.cast(scale, wide), x.ndim),
                               ctx.attr("epsilon", 1e-5))
    momentum = ctx.attr("momentum", 0.9)
    outputs = [gj.cast(y, x.dtype)]
    for running, batch in ((mean, batch_mean), (var, batch_var)):
        blended = gj.cast(running, wide) * momentum + gj.reshape(batch, [-1]) * (1 - momentum)
        outputs.append(gj.cast(blended, running.dtype))
    return outputs[:max(1, ctx.num_outputs)]


def dropout_training(ctx: NodeContext, ratio: float, wants_mask: bool) -> list[Tensor]:
    """[output, mask?] of a Dropout in training mode with a ratio in (0, 1)."""
    x = ctx.inputs[0]
    seed = ctx.attr("seed")
    if not 0 <= ratio < 1:
        raise ctx.invalid(f"ratio {ratio} must be in [0, 1)")
    if seed is None:
        if wants_mask:
            raise ctx.unsupported("the mask output of a Dropout without a seed (a new random "
                                  "mask each run) is not supported")
        return [nn.dropout(x, rate=ratio)]
    shape = ctx.require_shape(0, "a seeded dropout mask")
    ctx.check_size(int(np.prod(shape)), 1, "the dropout mask")
    keep = np.random.RandomState(int(seed)).uniform(0, 1.0, shape) >= ratio
    mask = gj.constant(keep)
    scale = np.asarray(1 / (1 - ratio), x.dtype.np)
    y = gj.where(mask, x * scale, gj.zeros_like(x))
    return [y, mask] if wants_mask else [y]
