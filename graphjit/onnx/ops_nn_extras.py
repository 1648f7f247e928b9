"""ONNX converters for activations, normalizations and a pooling that graphjit has no
single op for, each composed from graphjit's elementwise ops, reductions and index ops
(which the compiler fuses): Hardmax, Swish, SwiGLU, LpNormalization,
MeanVarianceNormalization, GroupNormalization, LRN and LpPool."""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_conv import _WINDOW_ATTRS, _pool_window, _window_sum
from graphjit.onnx.ops_math import axis_of

_STASH = {1: gj.float32, 11: gj.float64}  # ONNX's FLOAT and DOUBLE element types


def _float_input(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    if not x.dtype.is_floating:
        raise ctx.unsupported(f"implemented for float inputs, got {x.dtype}")
    return x


def _const(value: float, like: Tensor) -> Tensor:
    return gj.constant(np.asarray(value, like.dtype.np))


def _swish(x: Tensor, alpha: float) -> Tensor:
    """x * sigmoid(alpha * x), the sigmoid in x's type (as ONNX's reference rounds it)."""
    scaled = x if alpha == 1.0 else x * _const(alpha, x)
    return x * gj.sigmoid(scaled)


@converter("Hardmax", attrs=("axis",))
def convert_hardmax(ctx: NodeContext) -> Tensor:
    """1 at the first maximum along `axis`, 0 elsewhere: a one-hot of ArgMax."""
    x = ctx.inputs[0]
    if x.ndim == 0:
        raise ctx.unsupported("needs an input of rank >= 1")
    axis = axis_of(ctx, ctx.attr("axis", -1), x.ndim)
    if x.shape[axis] is None:
        ctx.require_shape(0, "the one-hot depth (the size of axis)")
    return gj.one_hot(gj.argmax(x, axis), x.shape[axis], on_value=_const(1, x),
                      off_value=_const(0, x), axis=axis, dtype=x.dtype, name=ctx.name)


@converter("Swish", attrs=("alpha",))
def convert_swish(ctx: NodeContext) -> Tensor:
    return gj.identity(_swish(_float_input(ctx), float(ctx.attr("alpha", 1.0))),
                       name=ctx.name)


@converter("SwiGLU", attrs=("alpha",))
def convert_swiglu(ctx: NodeContext) -> Tensor:
    """Swish(A) * B on same-shaped A and B (SwiGLU does not broadcast)."""
    a, b = _float_input(ctx), ctx.inputs[1]
    if b.dtype != a.dtype:
        raise ctx.invalid(f"A and B must share a type, got {a.dtype} and {b.dtype}")
    if a.shape.is_fully_defined() and b.shape.is_fully_defined() and a.shape != b.shape:
        raise ctx.invalid(f"A and B must have one shape (no broadcasting), got {a.shape} "
                          f"and {b.shape}")
    return gj.multiply(_swish(a, float(ctx.attr("alpha", 1.0))), b, name=ctx.name)


@converter("LpNormalization", attrs=("axis", "p"))
def convert_lp_normalization(ctx: NodeContext) -> Tensor:
    """x / ||x||_p along `axis` (p is 1 or 2), 0 where the norm is 0."""
    x = _float_input(ctx)
    axis = axis_of(ctx, ctx.attr("axis", -1), x.ndim)
    p = ctx.attr("p", 2)
    if p == 1:
        norm = gj.reduce_sum(gj.abs(x), [axis], keepdims=True)
    elif p == 2:
        norm = gj.sqrt(gj.reduce_sum(x * x, [axis], keepdims=True))
    else:
        raise ctx.unsupported(f"p={p} is not supported (ONNX defines 1 and 2)")
    zero = _const(0, x)
    is_zero = gj.equal(norm, zero)
    safe = gj.where(is_zero, _const(1, x), norm)
    return gj.where(is_zero, gj.zeros_like(x), x / safe, name=ctx.name)


@converter("MeanVarianceNormalization", attrs=("axes",))
def convert_mean_variance_normalization(ctx: NodeContext) -> Tensor:
    """(x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over `axes`, as ONNX's function body."""
    x = _float_input(ctx)
    axes = sorted({axis_of(ctx, a, x.ndim) for a in ctx.attr("axes", [0, 2, 3])})
    mean = gj.reduce_mean(x, axes, keepdims=True)
    variance = gj.reduce_mean(x * x, axes, keepdims=True) - mean * mean
    return gj.divide(x - mean, gj.sqrt(variance) + _const(1e-9, x), name=ctx.name)


@converter("GroupNormalization", attrs=("epsilon", "num_groups", "stash_type"))
def convert_group_normalization(ctx: NodeContext) -> Tensor:
    """x (N, C, ...) normalized over each group of C / num_groups channels (and the
    spatial axes) in the stash type, then scaled and shifted per channel (version 21;
    version 18 computes in x's type and scales and shifts per group)."""
    x, scale, bias = _float_input(ctx), ctx.inputs[1], ctx.inputs[2]
    if x.ndim < 2:
        raise ctx.unsupported(f"needs an input of rank >= 2 (N, C, ...), got {x.ndim}")
    if "num_groups" not in ctx.attrs:
        raise ctx.invalid("num_groups is required")
    groups, channels = int(ctx.attr("num_groups")), x.shape[1]
    if channels is None:
        channels = ctx.require_shape(0, "the channel count")[1]
    if groups <= 0 or channels % groups:
        raise ctx.invalid(f"num_groups={groups} does not divide the {channels} channels")
    per_group = ctx.version == 18  # GroupNormalization-18: in x's type, scale per group
    stash = ctx.attr("stash_type", 1)
    if stash not in _STASH:
        raise ctx.unsupported(f"stash_type {stash} is not supported (1: float32, 11: float64)")
    xs = x if per_group else gj.cast(x, _STASH[stash])
    spatial = _spatial(ctx, x)
    grouped = gj.reshape(xs, [-1, groups, (channels // groups) * int(np.prod(spatial))])
    mean = gj.reduce_mean(grouped, [2], keepdims=True)
    centered = grouped - mean
    variance = gj.reduce_mean(centered * centered, [2], keepdims=True)
    normalized = centered / gj.sqrt(variance + _const(float(ctx.attr("epsilon", 1e-5)), xs))
    if per_group:
        y = normalized * gj.reshape(scale, [groups, 1]) + gj.reshape(bias, [groups, 1])
        return gj.reshape(y, [-1, channels, *spatial], name=ctx.name)
    y = gj.reshape(gj.cast(normalized, x.dtype), [-1, channels, *spatial])
    per_channel = [channels] + [1] * (x.ndim - 2)
    return gj.add(y * gj.reshape(scale, per_channel), gj.reshape(bias, per_channel),
                  name=ctx.name)


def _spatial(ctx: NodeContext, x: Tensor) -> list[int]:
    spatial = list(x.shape[2:])
    if any(d is None for d in spatial):
        spatial = list(ctx.require_shape(0, "the group size")[2:])
    return spatial


@converter("LRN", attrs=("alpha", "beta", "bias", "size"))
def convert_lrn(ctx: NodeContext) -> Tensor:
    """x / (bias + alpha / size * sum of squares over the channels c - floor((size-1)/2)
    .. c + ceil((size-1)/2))^beta: a sum of shifted slices of the zero-padded squares."""
    x = _float_input(ctx)
    if x.ndim < 3:
        raise ctx.unsupported(f"needs an input of rank >= 3 (N, C, ...), got {x.ndim}")
    if "size" not in ctx.attrs or int(ctx.attr("size")) < 1:
        raise ctx.invalid("size (a positive int) is required")
    size = int(ctx.attr("size"))
    before, after = (size - 1) // 2, -(-(size - 1) // 2)
    squares = gj.pad(x * x, [[0, 0], [before, after]] + [[0, 0]] * (x.ndim - 2))
    channels = x.shape[1]
    if channels is None:
        channels = ctx.require_shape(0, "the channel count")[1]
    total = None
    for shift in range(size):
        window = squares[:, shift:shift + channels]
        total = window if total is None else total + window
    alpha, beta = float(ctx.attr("alpha", 1e-4)), float(ctx.attr("beta", 0.75))
    base = _const(float(ctx.attr("bias", 1.0)), x) + _const(alpha / size, x) * total
    return gj.divide(x, gj.pow(base, _const(beta, x)), name=ctx.name)


@converter("LpPool", attrs=_WINDOW_ATTRS + ("ceil_mode", "p"))
def convert_lp_pool(ctx: NodeContext) -> Tensor:
    """(sum over each window of |x|^p)^(1/p), padding counting as zeros: AveragePool's
    window sum of |x|^p."""
    x = _float_input(ctx)
    p = int(ctx.attr("p", 2))
    if p < 1:
        raise ctx.unsupported(f"p={p} is not supported (p must be a positive int)")
    window = _pool_window(ctx, x, tf_same_ok=False)
    xt = window.to_channels_last(x)
    powered = xt * xt if p == 2 else gj.pow(gj.abs(xt), _const(p, xt)) if p > 1 else gj.abs(xt)
    total = _window_sum(window.padded(powered, 0), window)
    y = gj.sqrt(total) if p == 2 else total if p == 1 else gj.pow(total, _const(1 / p, total))
    return gj.identity(window.to_onnx(y), name=ctx.name)
