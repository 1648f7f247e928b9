"""ONNX converters for AffineGrid (opset 20) and GridSample (opsets 16, 20, 22): the
sampling grid of an affine transform, and sampling an N-D image at grid points.

GridSample is separable: per spatial dim each output point reads 1 (nearest), 2
(linear) or 4 (cubic) taps, each an index and a weight, mapped by the padding mode.
Every combination of taps over the dims is one gather from the image laid out as
[batch * positions, channels], times the product of the tap weights; the sum of
those is the result. The coordinate arithmetic follows ONNX's reference
implementation step by step (its border and reflection rules differ subtly from
a plain clamp).
"""

from __future__ import annotations

import itertools

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter

_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic",
          "nearest": "nearest"}  # GridSample-16 spelt the first two bilinear / bicubic
_CUBIC_ALPHA = -0.75  # Keys' cubic convolution, as ONNX's reference


def _line(size: int, align_corners: bool) -> np.ndarray:
    """The normalized [-1, 1] coordinates of `size` positions along one dim."""
    if align_corners:
        return np.linspace(-1.0, 1.0, size) if size > 1 else np.array([-1.0])
    return (2 * np.arange(size) + 1) / size - 1


@converter("AffineGrid", attrs=("align_corners",))
def convert_affine_grid(ctx: NodeContext) -> Tensor:
    """grid[n, ..., :] = theta[n] @ (x, y[, z], 1) over the output positions, with
    (x, y[, z]) the normalized coordinates of the last, second-last (, third-last) dim:
    a [positions, rank + 1] constant times theta, reshaped to [N, *size, rank]."""
    theta = ctx.inputs[0]
    size = [int(s) for s in ctx.require_static(1, "the output size")]
    if len(size) not in (4, 5):
        raise ctx.unsupported(f"size {size} must be [N, C, H, W] or [N, C, D, H, W]")
    spatial = size[2:]
    rank = len(spatial)
    if tuple(theta.shape.as_list()[1:]) != (rank, rank + 1):
        raise ctx.invalid(f"theta {theta.shape} must be [N, {rank}, {rank + 1}] for a "
                          f"{rank}-D size {size}")
    align = bool(ctx.attr("align_corners", 0))
    axes = np.meshgrid(*[_line(s, align) for s in spatial], indexing="ij")
    base = np.stack([a.ravel() for a in reversed(axes)] + [np.ones(axes[0].size)], axis=1)
    base = gj.constant(base.T.astype(theta.dtype.np), dtype=theta.dtype)  # [rank+1, P]
    grid = gj.matmul(theta, gj.broadcast_to(base, [size[0], rank + 1, base.shape[1]]))
    return gj.reshape(gj.transpose(grid, [0, 2, 1]), [size[0], *spatial, rank],
                      name=ctx.name)


def _reflect(v: Tensor, low: float, high: float) -> Tensor:
    """v reflected by the nearer border until it lies within [low, high] (ONNX's
    reference `_gs_reflect`); points already inside are unchanged."""
    if high == low:
        return gj.zeros_like(v) + low
    span = high - low
    below, above = low - v, v - high
    dx = gj.where(v < low, below, gj.where(v > high, above, gj.zeros_like(v)))
    n = gj.floor(dx / span)
    r = dx - n * span
    even = gj.equal(gj.floormod(n, 2.0), 0.0)
    from_low, from_high = low + r, high - r
    return gj.where(v < low, gj.where(even, from_low, from_high),
                    gj.where(v > high, gj.where(even, from_high, from_low), v))


def _trunc(v: Tensor) -> Tensor:
    return gj.where(v < 0, gj.ceil(v), gj.floor(v))


def _cubic_weights(t: Tensor) -> list[Tensor]:
    a = _CUBIC_ALPHA

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


@converter("GridSample", attrs=("align_corners", "mode", "padding_mode"))
def convert_grid_sample(ctx: NodeContext) -> Tensor:
    """Y[n, c, *o] = X[n, c] sampled at grid[n, *o] (x first: the last dim), as ONNX's
    reference: coordinates denormalized, rounded half to even for nearest, moved in by
    the padding mode when outside the borders, then each tap index read as 0 (zeros),
    clamped (border) or reflected (reflection)."""
    x, grid = ctx.inputs[:2]
    x_shape = ctx.require_shape(0, "GridSample's gathers")
    g_shape = ctx.require_shape(1, "GridSample's gathers")
    rank = len(x_shape) - 2
    if rank < 1 or len(g_shape) != rank + 2 or g_shape[-1] != rank or g_shape[0] != x_shape[0]:
        raise ctx.invalid(f"grid {list(g_shape)} does not fit X {list(x_shape)} (grid must be "
                          f"[N, *out, {rank}])")
    mode = _MODES.get(ctx.attr("mode", "linear" if ctx.version >= 20 else "bilinear"))
    if mode is None:
        raise ctx.unsupported(f"mode {ctx.attr('mode')!r}")
    if x.dtype.is_string or (mode != "nearest" and not x.dtype.is_floating):
        raise ctx.unsupported(f"{mode} sampling of a {x.dtype.name} image: graphjit "
                              "interpolates float images (nearest samples any number or "
                              "bool)")
    padding = ctx.attr("padding_mode", "zeros")
    align = bool(ctx.attr("align_corners", 0))
    n, c, dims = x_shape[0], x_shape[1], list(x_shape[2:])
    out = list(g_shape[1:-1])
    wide = gj.float64 if gj.float64 in (x.dtype, grid.dtype) else gj.float32
    g = gj.cast(grid, wide)

    taps_per_dim = []  # per dim: [(index int64 tensor, weight or None, valid or None)]
    for i, d in enumerate(dims):
        v = gj.squeeze(g[..., rank - 1 - i:rank - i], [-1])
        v = (v + 1) / 2 * (d - 1) if align else ((v + 1) * d - 1) / 2
        low, high = (0.0, d - 1.0) if align else (-0.5, d - 0.5)
        if mode == "nearest":
            v = gj.round(v)
        outside = gj.logical_or(v < low, v > high)
        if padding == "border":
            v = gj.where(outside, gj.clip_by_value(v, 0.0, d - 1.0), v)
        elif padding == "reflection":
            v = _reflect(v, low, high)
        if mode == "nearest":
            taps = [(_trunc(v), None)]
        else:
            x0 = gj.floor(v)
            t = v - x0
            if mode == "linear":
                taps = [(x0, 1 - t), (x0 + 1, t)]
            else:
                taps = list(zip([x0 - 1, x0, x0 + 1, x0 + 2], _cubic_weights(t)))
        mapped = []
        for index, weight in taps:
            valid = None
            if padding == "zeros":
                valid = gj.logical_and(index >= 0, index <= d - 1)
            elif padding == "reflection":
                index = _trunc(_reflect(index, low, high))
            index = gj.cast(gj.clip_by_value(index, 0.0, d - 1.0), gj.int64)
            mapped.append((index, weight, valid))
        taps_per_dim.append(mapped)

    strides = [int(np.prod(dims[i + 1:])) for i in range(rank)]
    positions = int(np.prod(dims))
    table = gj.reshape(gj.transpose(x, [0, *range(2, rank + 2), 1]), [n * positions, c])
    batch = (np.arange(n, dtype=np.int64) * positions).reshape([n] + [1] * len(out))
    offset = gj.constant(batch, dtype=gj.int64)
    total = None
    for combo in itertools.product(*taps_per_dim):
        flat = offset
        weight, valid = None, None
        for (index, w, ok), stride in zip(combo, strides):
            flat = flat + index * stride
            weight = w if weight is None else (w if w is None else weight * w)
            valid = ok if valid is None else gj.logical_and(valid, ok)
        value = gj.gather(table, flat, axis=0)  # [N, *out, C]
        if valid is not None:
            value = gj.where(gj.expand_dims(valid, -1), value, gj.zeros_like(value))
        if weight is not None:  # (nearest keeps the image's type: one tap, no weight)
            value = gj.cast(value, wide) * gj.expand_dims(weight, -1)
        total = value if total is None else total + value
    y = gj.transpose(total, [0, rank + 1, *range(1, rank + 1)])
    return gj.cast(y, x.dtype, name=ctx.name)
