"""The ONNX converter for ConvTranspose, as the Conv it is the gradient of: the input
spread out by the strides (s - 1 zeros between its cells), padded by (k - 1) * d less
the node's pads (a negative pad crops), then convolved at stride 1 by the filter with
its taps reversed and its channel axes swapped per group. ONNX's Conv converter does
the convolution, so ConvTranspose runs on graphjit's Conv kernels in any rank."""

from __future__ import annotations

import dataclasses

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_conv import _WINDOW_ATTRS, convert_conv


@converter("ConvTranspose", attrs=_WINDOW_ATTRS + ("group", "output_padding", "output_shape"))
def convert_conv_transpose(ctx: NodeContext) -> Tensor:
    x, w = ctx.inputs[0], ctx.inputs[1]
    if x.ndim < 3 or w.ndim != x.ndim or not w.shape.is_fully_defined():
        raise ctx.unsupported(f"needs X of rank >= 3 and a W of its rank and static shape, "
                              f"got {x.shape} and {w.shape}")
    sizes = list(ctx.require_shape(0, "ConvTranspose")[2:])
    n, group = x.ndim - 2, int(ctx.attr("group", 1))
    channels = w.shape[0]
    if group < 1 or channels % group or x.shape[1] != channels:
        raise ctx.invalid(f"group={group} does not fit {x.shape[1]} input channels and a "
                          f"filter of shape {list(w.shape)}")
    kernel = list(ctx.attr("kernel_shape", w.shape[2:]))
    if kernel != list(w.shape[2:]):
        raise ctx.invalid(f"kernel_shape {kernel} is not the filter's {list(w.shape[2:])}")
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    extra = list(ctx.attr("output_padding", [0] * n))
    if not len(strides) == len(dilations) == len(extra) == n:
        raise ctx.invalid(f"strides, dilations and output_padding need {n} values each")
    full = [s * (i - 1) + e + (k - 1) * d + 1
            for s, i, e, k, d in zip(strides, sizes, extra, kernel, dilations)]
    before, out = _pads(ctx, n, sizes, strides, full)
    y = _spread(x, strides, sizes)
    spread = [(i - 1) * s + 1 for i, s in zip(sizes, strides)]
    reach = [(k - 1) * d for k, d in zip(kernel, dilations)]
    lefts = [r - b for r, b in zip(reach, before)]
    rights = [o + r - u - left for o, r, u, left in zip(out, reach, spread, lefts)]
    y = _pad_or_crop(y, lefts, rights)
    conv_ctx = dataclasses.replace(
        ctx, inputs=[y, _conv_filter(ctx, w, group), ctx.input(2)],
        static_values=[None, _static_filter(ctx, group), None],
        sources=[frozenset()] * 3, partial_values=[None] * 3, declared_attrs=None,
        attrs={"group": group, "dilations": dilations, "strides": [1] * n,
               "pads": [0] * (2 * n), "kernel_shape": kernel})
    return convert_conv(conv_ctx)


def _pads(ctx: NodeContext, n: int, sizes, strides, full) -> tuple[list[int], list[int]]:
    """The cells cut before each axis of the full output, and the output sizes: from
    output_shape (pads then ignored, as the spec says) or SAME (the output is input *
    stride), the total split as ONNX's reference splits it; else from `pads`."""
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise ctx.unsupported(f"unknown auto_pad {auto_pad!r}")
    shape = ctx.attr("output_shape")
    if shape is not None:
        shape = list(shape)[-n:]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        shape = [i * s for i, s in zip(sizes, strides)]
    if shape is not None:
        if len(shape) != n or any(o < 1 for o in shape):
            raise ctx.invalid(f"output_shape {shape} must be {n} sizes >= 1")
        total = [f - o for f, o in zip(full, shape)]  # < 0: zeros added (to the end)
        upper = auto_pad == "SAME_UPPER"
        return [t // 2 if upper else t - t // 2 for t in total], shape
    pads = list(ctx.attr("pads", [0] * (2 * n))) if auto_pad == "NOTSET" else [0] * (2 * n)
    if len(pads) != 2 * n or any(p < 0 for p in pads):
        raise ctx.invalid(f"pads {pads} must be {2 * n} values >= 0")
    out = [f - pads[i] - pads[i + n] for i, f in enumerate(full)]
    if any(o < 1 for o in out):
        raise ctx.invalid(f"pads {pads} leave an empty output ({out})")
    return pads[:n], out


def _spread(x: Tensor, strides, sizes) -> Tensor:
    """x with s - 1 zeros between neighbouring cells along each spatial axis."""
    for axis, (s, size) in enumerate(zip(strides, sizes), start=2):
        if s == 1:
            continue
        y = gj.expand_dims(x, axis + 1)
        y = gj.pad(y, [[0, 0]] * (axis + 1) + [[0, s - 1]] + [[0, 0]] * (x.ndim - axis - 1))
        shape = [-1] + [d for d in x.shape.as_list()[1:]]
        shape[axis] = size * s
        x = gj.reshape(y, shape)
        x = x[(slice(None),) * axis + (slice(0, (size - 1) * s + 1),)]
    return x


def _pad_or_crop(x: Tensor, lefts, rights) -> Tensor:
    if any(p > 0 for p in lefts + rights):
        x = gj.pad(x, [[0, 0], [0, 0]] + [[max(a, 0), max(b, 0)] for a, b in zip(lefts, rights)])
    if any(p < 0 for p in lefts + rights):
        index = [slice(None), slice(None)]
        for a, b in zip(lefts, rights):
            index.append(slice(-a if a < 0 else None, b if b < 0 else None))
        x = x[tuple(index)]
    return x


def _swap_and_flip(w: np.ndarray | Tensor, group: int, channels: int, per_group_out: int):
    """(C, M/g, k...) -> (M, C/g, k...) with every tap axis reversed, for NumPy or graph."""
    spatial = list(range(2, len(w.shape)))
    if isinstance(w, np.ndarray):
        w = w.reshape(group, channels // group, per_group_out, *w.shape[2:])
        w = np.flip(w.swapaxes(1, 2), axis=[a + 1 for a in spatial])
        return np.ascontiguousarray(w.reshape(group * per_group_out, channels // group,
                                              *w.shape[3:]))
    kernel = w.shape.as_list()[2:]
    w = gj.reshape(w, [group, channels // group, per_group_out, *kernel])
    w = gj.reverse(gj.transpose(w, [0, 2, 1, *[a + 1 for a in spatial]]),
                   [a + 1 for a in spatial])
    return gj.reshape(w, [group * per_group_out, channels // group, *kernel])


def _static_filter(ctx: NodeContext, group: int) -> np.ndarray | None:
    value = ctx.static(1)
    if value is None:
        return None
    value = np.asarray(value)
    return _swap_and_flip(value, group, value.shape[0], value.shape[1])


def _conv_filter(ctx: NodeContext, w: Tensor, group: int) -> Tensor:
    static = _static_filter(ctx, group)
    if static is not None:
        return gj.constant(static)
    return _swap_and_flip(w, group, w.shape[0], w.shape[1])
