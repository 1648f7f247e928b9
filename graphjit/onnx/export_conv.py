"""ONNX translations of convolution, pooling and their gradients (see export_ops).

graphjit computes images NHWC with HWIO filters, ONNX NCHW with OIHW: each
translation transposes in and out (a constant filter is transposed once, at
export). TF's SAME padding puts the odd cell after the data, as ONNX's
SAME_UPPER; with static sizes the pads are written out, and where onnxruntime
lacks SAME_UPPER (dilated convolutions) they are computed at run time. The
gradients are adjoints: ConvTranspose, a Conv with strides and dilations
swapped, and a scatter-add at MaxPool's argmax indices.
"""

from __future__ import annotations

import numpy as np

from graphjit.onnx.export_ops import flat_zeros, reshape_like, slice_axes, translates
from graphjit.ops._util import pad_amounts
from graphjit.ops.conv import _pool_windows

TO_NCHW, TO_NHWC, HWIO_TO_OIHW = (0, 3, 1, 2), (0, 2, 3, 1), (3, 2, 0, 1)


def _pads(padding: str, hw, windows, strides) -> dict:
    """ONNX padding attrs for TF's: explicit pads when the sizes are known, else
    SAME_UPPER (the same rule: the odd cell after the data)."""
    if padding == "VALID":
        return {"pads": [0, 0, 0, 0]}
    if None in hw or None in windows:
        return {"auto_pad": "SAME_UPPER"}
    (_, top, bottom), (_, left, right) = (
        pad_amounts(n, k, s, "SAME") for n, k, s in zip(hw, windows, strides))
    return {"pads": [top, left, bottom, right]}


def _static_pads(ctx, padding: str, hw, windows, strides) -> list[int]:
    if None in hw:
        raise ctx.unsupported(f"it needs the image height and width at export time, got "
                              f"{ctx.shape(0)}; give the input a static shape")
    return _pads(padding, hw, windows, strides)["pads"]


def _conv_params(ctx, static: bool = True):
    """(strides, dilations, kernel, dilated window) of a conv op; with static=False the
    kernel and window are None where the filter's size is unknown."""
    (_, sh, sw, _), (_, dh, dw, _) = ctx.attrs["strides"], ctx.attrs["dilations"]
    kernel = ctx.shape(1)[:2]
    if None in kernel:
        if static:
            raise ctx.unsupported(f"the filter's height and width must be static, got "
                                  f"{ctx.shape(1)}")
        return (sh, sw), (dh, dw), None, (None, None)
    (kh, kw) = kernel
    return (sh, sw), (dh, dw), kernel, ((kh - 1) * dh + 1, (kw - 1) * dw + 1)


@translates("Conv2D")
def _conv2d(ctx):
    strides, dilations, kernel, windows = _conv_params(ctx, static=False)
    hw = ctx.shape(0)[1:3]
    x = ctx.node("Transpose", ctx.inputs[0], perm=TO_NCHW)
    w = ctx.transposed(1, HWIO_TO_OIHW)
    pads = _pads(ctx.attrs["padding"], hw, windows, strides)
    if "auto_pad" in pads and dilations != (1, 1):  # onnxruntime: no SAME_UPPER with dilation
        x, pads = _pad_same(ctx, x, w, windows, strides, dilations), {"pads": [0, 0, 0, 0]}
    y = ctx.node("Conv", x, w, kernel_shape=kernel and list(kernel), strides=list(strides),
                 dilations=list(dilations), **pads)
    return ctx.node("Transpose", y, perm=TO_NHWC)


def _pad_same(ctx, x: str, w: str, windows, strides, dilations) -> str:
    """NCHW `x` zero-padded by TF's SAME rule, the pads computed from run-time sizes."""
    ints = ctx.ints
    hw = slice_axes(ctx, ctx.node("Shape", x), [0], [2], [4], [1])
    if None in windows:
        k = slice_axes(ctx, ctx.node("Shape", w), [0], [2], [4], [1])
        windows = ctx.node("Add", ctx.node("Mul", ctx.node("Sub", k, ints([1, 1])),
                                           ints(dilations)), ints([1, 1]))
    else:
        windows = ints(windows)
    out = ctx.node("Div", ctx.node("Add", hw, ints([s - 1 for s in strides])), ints(strides))
    span = ctx.node("Add", ctx.node("Mul", ctx.node("Sub", out, ints([1, 1])), ints(strides)),
                    windows)
    total = ctx.node("Max", ctx.node("Sub", span, hw), ints([0, 0]))
    before = ctx.node("Div", total, ints([2, 2]))
    after = ctx.node("Sub", total, before)
    pads = ctx.node("Concat", ints([0, 0]), before, ints([0, 0]), after, axis=0)
    return ctx.node("Pad", x, pads, mode="constant")


def _pool_params(ctx):
    (_, kh, kw, _), (_, sh, sw, _) = ctx.attrs["ksize"], ctx.attrs["strides"]
    return (kh, kw), (sh, sw)


@translates("MaxPool", "AvgPool")
def _pool(ctx):
    kernel, strides = _pool_params(ctx)
    pads = _pads(ctx.attrs["padding"], ctx.shape(0)[1:3], kernel, strides)
    x = ctx.node("Transpose", ctx.inputs[0], perm=TO_NCHW)
    if ctx.op.type == "MaxPool":  # padded cells never win the max, as in TF
        y = ctx.node("MaxPool", x, kernel_shape=list(kernel), strides=list(strides), **pads)
    else:  # TF averages the real cells only
        y = ctx.node("AveragePool", x, kernel_shape=list(kernel), strides=list(strides),
                     count_include_pad=0, **pads)
    return ctx.node("Transpose", y, perm=TO_NHWC)


def _transposed_conv(ctx, dy: str, weight: str, hw, out_hw, windows, strides, dilations,
                     pads, **attrs) -> str:
    """ConvTranspose of NCHW `dy` back onto an image of size `hw` (the adjoint of a
    strided, padded conv): output_padding adds the cells no window read."""
    extra = [n + p0 + p1 - (s * (o - 1) + k) for n, o, k, s, p0, p1 in
             zip(hw, out_hw, windows, strides, pads[:2], pads[2:])]
    kernel = [(w - 1) // d + 1 for w, d in zip(windows, dilations)]
    return ctx.node("ConvTranspose", dy, weight, kernel_shape=kernel, strides=list(strides),
                    dilations=list(dilations), pads=pads, output_padding=extra, **attrs)


def _out_hw(hw, windows, strides, padding):
    return [pad_amounts(n, k, s, padding)[0] for n, k, s in zip(hw, windows, strides)]


@translates("Conv2DBackpropInput")
def _conv2d_backprop_input(ctx):
    strides, dilations, _, windows = _conv_params(ctx)
    hw = ctx.shape(0)[1:3]
    pads = _static_pads(ctx, ctx.attrs["padding"], hw, windows, strides)
    dy = ctx.node("Transpose", ctx.inputs[2], perm=TO_NCHW)
    # HWIO -> (O, I, H, W) is ConvTranspose's (C_in, C_out, kH, kW) for this adjoint.
    y = _transposed_conv(ctx, dy, ctx.transposed(1, HWIO_TO_OIHW), hw,
                         _out_hw(hw, windows, strides, ctx.attrs["padding"]), windows, strides,
                         dilations, pads)
    return ctx.node("Transpose", y, perm=TO_NHWC)


@translates("Conv2DBackpropFilter")
def _conv2d_backprop_filter(ctx):
    # df[a, b, i, o] = sum_{n,y,x} xpad[n, y*sh + a*dh, x*sw + b*dw, i] * dy[n, y, x, o]:
    # a Conv of x (batch <-> channels) with dy as the filter, strides and dilations
    # swapped, cropped to the filter's size.
    strides, dilations, kernel, windows = _conv_params(ctx)
    hw = ctx.shape(0)[1:3]
    pads = (_static_pads(ctx, ctx.attrs["padding"], hw, windows, strides)
            if ctx.attrs["padding"] == "SAME" else [0, 0, 0, 0])
    x = ctx.node("Transpose", ctx.inputs[0], perm=(3, 0, 1, 2))
    dy = ctx.node("Transpose", ctx.inputs[2], perm=(3, 0, 1, 2))
    y = ctx.node("Conv", x, dy, strides=list(dilations), dilations=list(strides), pads=pads)
    y = slice_axes(ctx, y, [2, 3], [0, 0], list(kernel), [1, 1])
    return ctx.node("Transpose", y, perm=(2, 3, 0, 1))


@translates("MaxPoolGrad")
def _max_pool_grad(ctx):
    # MaxPool's second output is the flat NCHW index of each window's first maximum:
    # scatter-add dy there.
    if ctx.opset < 16:
        raise ctx.unsupported("windows that share a maximum add into it with "
                              "ScatterElements' reduction='add' (opset 16); export with "
                              "opset >= 16")
    kernel, strides = _pool_params(ctx)
    pads = _pads(ctx.attrs["padding"], ctx.shape(0)[1:3], kernel, strides)
    x = ctx.node("Transpose", ctx.inputs[0], perm=TO_NCHW)
    _, where = ctx.node("MaxPool", x, outputs=2, kernel_shape=list(kernel),
                        strides=list(strides), **pads)
    dy = ctx.node("Transpose", ctx.inputs[1], perm=TO_NCHW)
    zeros, _ = flat_zeros(ctx, x, ctx.dtype(1))
    flat = ctx.node("ScatterElements", zeros, ctx.node("Reshape", where, ctx.ints([-1])),
                    ctx.node("Reshape", dy, ctx.ints([-1])), axis=0, reduction="add")
    return ctx.node("Transpose", reshape_like(ctx, flat, x), perm=TO_NHWC)


@translates("AvgPoolGrad")
def _avg_pool_grad(ctx):
    # Each window shares dy / (its real cells) among them: a grouped ConvTranspose
    # with a kernel of ones.
    kernel, strides = _pool_params(ctx)
    (_, h, w, c), padding = ctx.shape(0), ctx.attrs["padding"]
    pads = _static_pads(ctx, padding, (h, w), kernel, strides)
    if c is None:
        raise ctx.unsupported(f"it needs the channel count at export time, got {ctx.shape(0)}")
    dtype = ctx.dtype(1)
    ones = np.ones((1, h, w, 1), dtype.np)
    count = _pool_windows(ones, ctx.attrs["ksize"], ctx.attrs["strides"], padding, 0)
    share = ctx.node("Div", ctx.inputs[1], ctx.const(count.sum(axis=(4, 5)).astype(dtype.np)))
    y = _transposed_conv(ctx, ctx.node("Transpose", share, perm=TO_NCHW),
                         ctx.const(np.ones((c, 1) + kernel, dtype.np)), (h, w),
                         _out_hw((h, w), kernel, strides, padding), kernel, strides, (1, 1),
                         pads, group=c)
    return ctx.node("Transpose", y, perm=TO_NHWC)
