"""The ONNX converter for DeformConv (2-D, as ONNX's reference): a convolution whose taps
read the input at learned fractional offsets. Every tap's sampling point is its Conv
position plus its offset; the input is sampled there bilinearly (zero outside the
image, as GridSample with align_corners=1 and zero padding), times the mask, and the
samples, laid out as im2col columns, are contracted with the filter per group.
Sampling is four gathers from the flattened input at indices computed in the graph,
so it fuses with the arithmetic around it; the contraction is a tensordot.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter


@converter("DeformConv", attrs=("dilations", "group", "kernel_shape", "offset_group", "pads",
                                "strides"))
def convert_deform_conv(ctx: NodeContext) -> Tensor:
    x, w, offset = ctx.inputs[:3]
    bias, mask = ctx.input(3), ctx.input(4)
    if x.ndim != 4 or w.ndim != 4 or not x.dtype.is_floating:
        raise ctx.unsupported(f"implemented for 2-D float inputs (rank 4), got X {x.dtype}"
                              f"{x.shape} and W {w.shape}")
    n, channels, height, width = ctx.require_shape(0, "DeformConv")
    out_channels, group_in, kh, kw = ctx.require_shape(1, "DeformConv")
    oh, ow = ctx.require_shape(2, "DeformConv")[2:]
    group, offset_group = int(ctx.attr("group", 1)), int(ctx.attr("offset_group", 1))
    kernel = list(ctx.attr("kernel_shape", [kh, kw]))
    strides = list(ctx.attr("strides", [1, 1]))
    dilations = list(ctx.attr("dilations", [1, 1]))
    pads = list(ctx.attr("pads", [0, 0, 0, 0]))
    taps = kh * kw
    if (kernel != [kh, kw] or group < 1 or channels != group_in * group
            or out_channels % group or offset_group < 1 or channels % offset_group
            or offset.shape[1] != offset_group * taps * 2):
        raise ctx.invalid(f"X {[n, channels, height, width]}, W {[out_channels, group_in, kh, kw]}"
                          f", offset {offset.shape}, group={group} and offset_group="
                          f"{offset_group} do not fit together")
    for i, (size, out) in enumerate(((height, oh), (width, ow))):
        span = (kernel[i] - 1) * dilations[i] + 1
        if out != (size + pads[i] + pads[i + 2] - span) // strides[i] + 1:
            raise ctx.invalid(f"the offset's spatial shape {[oh, ow]} is not the output's for "
                              f"these pads, strides and dilations")
    per_offset = channels // offset_group
    ctx.check_size(n * channels * taps * oh * ow, 4, "the DeformConv sampling index")
    dt = x.dtype.np
    off = gj.reshape(offset, [n, offset_group, taps, 2, oh, ow])
    k = np.arange(taps)
    base_y = (-pads[0] + strides[0] * np.arange(oh)[None, :]
              + (k // kw * dilations[0])[:, None]).astype(dt)[None, None, :, :, None]
    base_x = (-pads[1] + strides[1] * np.arange(ow)[None, :]
              + (k % kw * dilations[1])[:, None]).astype(dt)[None, None, :, None, :]
    py, px = off[:, :, :, 0] + base_y, off[:, :, :, 1] + base_x  # [N, G, taps, oh, ow]
    y0, x0 = gj.floor(py), gj.floor(px)
    ly, lx = py - y0, px - x0
    one = np.asarray(1, dt)
    # the flat index of (image n, channel c) in the flattened input, per offset group
    start = (np.arange(n)[:, None, None] * channels
             + np.arange(channels).reshape(offset_group, per_offset)[None]) * height * width
    start = gj.constant(start.astype(np.int32)[..., None, None, None])  # [N, G, Cg, 1,1,1]
    flat = gj.reshape(x, [-1])
    sampled = None
    for dy, dx, weight in ((0, 0, (one - ly) * (one - lx)), (0, 1, (one - ly) * lx),
                           (1, 0, ly * (one - lx)), (1, 1, ly * lx)):
        yc, xc = y0 + np.asarray(dy, dt), x0 + np.asarray(dx, dt)
        inside = gj.logical_and(gj.logical_and(yc >= 0, yc <= height - 1),
                                gj.logical_and(xc >= 0, xc <= width - 1))
        yi = gj.cast(gj.clip_by_value(yc, np.asarray(0, dt), np.asarray(height - 1, dt)),
                     gj.int32)
        xi = gj.cast(gj.clip_by_value(xc, np.asarray(0, dt), np.asarray(width - 1, dt)),
                     gj.int32)
        index = start + gj.expand_dims(yi * width + xi, 2)
        value = gj.gather(flat, index)
        term = gj.where(gj.expand_dims(inside, 2), value, gj.zeros_like(value)) \
            * gj.expand_dims(weight, 2)
        sampled = term if sampled is None else sampled + term
    if mask is not None:
        sampled = sampled * gj.reshape(mask, [n, offset_group, 1, taps, oh, ow])
    # im2col columns [N, oh*ow, C*taps], contracted per group with W as [C/g*taps, M/g]
    cols = gj.transpose(gj.reshape(sampled, [n, channels * taps, oh * ow]), [0, 2, 1])
    filt = gj.transpose(gj.reshape(w, [out_channels, group_in * taps]), [1, 0])
    if group == 1:
        y = gj.tensordot(cols, filt, axes=1)
    else:
        per_out = out_channels // group
        y = gj.concat([gj.tensordot(c, f, axes=1) for c, f in zip(
            gj.split(cols, group, axis=2),
            [filt[:, g * per_out:(g + 1) * per_out] for g in range(group)])], axis=2)
    y = gj.reshape(gj.transpose(y, [0, 2, 1]), [n, out_channels, oh, ow])
    if bias is not None:
        y = y + gj.reshape(bias, [out_channels, 1, 1])
    return gj.identity(y, name=ctx.name)
