"""The ONNX converter for RoiAlign: each region of interest is cut into
output_height x output_width bins, each bin sampled on a sampling_ratio x
sampling_ratio grid by bilinear interpolation, and the samples averaged (mode avg) or
maxed (mode max), as ONNX's reference computes it (samples more than a cell outside
the map count as 0; a sample's coordinates are clamped at 0 and at the last cell).

The sample grid is separable (rows from the box's top and height, columns from its
left and width), so the coordinates are small tensors; the four corner values of
every sample are gathers from the flattened map. sampling_ratio=0 (a grid that
depends on each box's size) is not implemented.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter


def _axis(start: Tensor, size: Tensor, bins: int, grid: int, limit: int, dt):
    """Per box, the sample coordinates along one axis ([R, bins * grid]): whether each is
    on the map, its low and high cell and the weight of the high one."""
    steps = (np.arange(bins)[:, None] + (np.arange(grid)[None, :] + 0.5) / grid).ravel()
    c = gj.expand_dims(start, 1) + gj.expand_dims(size / np.asarray(bins, dt), 1) \
        * gj.constant(steps.astype(dt))
    valid = gj.logical_and(c >= np.asarray(-1, dt), c <= np.asarray(limit, dt))
    c = gj.maximum(c, np.asarray(0, dt))
    low = gj.floor(c)
    at_end = low >= np.asarray(limit - 1, dt)
    low = gj.minimum(low, np.asarray(limit - 1, dt))
    c = gj.where(at_end, low, c)
    high = gj.where(at_end, low, low + np.asarray(1, dt))
    return valid, gj.cast(low, gj.int32), gj.cast(high, gj.int32), c - low


@converter("RoiAlign", attrs=("coordinate_transformation_mode", "mode", "output_height",
                              "output_width", "sampling_ratio", "spatial_scale"))
def convert_roi_align(ctx: NodeContext) -> Tensor:
    x, rois, batch = ctx.inputs[:3]
    if x.ndim != 4 or not x.dtype.is_floating:
        raise ctx.unsupported(f"implemented for a float input of rank 4, got {x.dtype}"
                              f"{x.shape}")
    _, channels, height, width = ctx.require_shape(0, "RoiAlign")
    mode = ctx.attr("mode", "avg")
    transform = ctx.attr("coordinate_transformation_mode", "half_pixel")
    ratio = int(ctx.attr("sampling_ratio", 0))
    if ratio <= 0:
        raise ctx.unsupported(f"sampling_ratio={ratio} (a grid from each box's size) is not "
                              "implemented; give a positive sampling_ratio")
    bins_h, bins_w = int(ctx.attr("output_height", 1)), int(ctx.attr("output_width", 1))
    dt = x.dtype.np
    half = transform == "half_pixel" and ctx.version != 10  # RoiAlign-10: output_half_pixel
    box = gj.cast(rois, x.dtype) * np.asarray(ctx.attr("spatial_scale", 1.0), dt)
    if half:
        box = box - np.asarray(0.5, dt)
    left, top, right, bottom = (box[:, i] for i in range(4))
    box_w, box_h = right - left, bottom - top
    if not half:  # malformed boxes are forced to 1 x 1
        box_w, box_h = (gj.maximum(s, np.asarray(1, dt)) for s in (box_w, box_h))
    vy, y0, y1, ly = _axis(top, box_h, bins_h, ratio, height, dt)
    vx, x0, x1, lx = _axis(left, box_w, bins_w, ratio, width, dt)
    valid = gj.cast(gj.logical_and(gj.expand_dims(vy, 2), gj.expand_dims(vx, 1)), x.dtype)
    start = (gj.expand_dims(gj.cast(batch, gj.int32), 1) * channels
             + gj.constant(np.arange(channels, dtype=np.int32))) * (height * width)
    start = gj.expand_dims(gj.expand_dims(start, 2), 3)  # [R, C, 1, 1]
    flat = gj.reshape(x, [-1])
    one = np.asarray(1, dt)
    corners = []
    for rows, wy in ((y0, one - ly), (y1, ly)):
        for cols, wx in ((x0, one - lx), (x1, lx)):
            index = start + gj.expand_dims(gj.expand_dims(rows * width, 2)
                                           + gj.expand_dims(cols, 1), 1)
            weight = gj.expand_dims(gj.expand_dims(wy, 2) * gj.expand_dims(wx, 1) * valid, 1)
            corners.append(weight * gj.gather(flat, index))  # [R, C, H*g, W*g]
    shape = [-1, channels, bins_h, ratio, bins_w, ratio]
    if mode == "avg":
        total = corners[0] + corners[1] + corners[2] + corners[3]
        y = gj.reduce_sum(gj.reshape(total, shape), [3, 5]) / np.asarray(ratio * ratio, dt)
    elif mode == "max":
        best = gj.maximum(gj.maximum(corners[0], corners[1]),
                          gj.maximum(corners[2], corners[3]))
        y = gj.reduce_max(gj.reshape(best, shape), [3, 5])
    else:
        raise ctx.unsupported(f"unknown mode {mode!r} (ONNX has avg and max)")
    return gj.identity(y, name=ctx.name)
