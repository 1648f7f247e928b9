"""ONNX converters for convolution and pooling: Conv, MaxPool, AveragePool, Global*Pool.

ONNX images are channels-first (NCHW), graphjit's Conv2D/MaxPool/AvgPool are NHWC
with TF's SAME/VALID padding only, so each converter transposes in and out (the
transposes fuse into the neighbouring elementwise kernels) and turns ONNX's
padding into either TF's SAME (ONNX SAME_UPPER: the odd cell after) or an
explicit Pad followed by VALID. 1-D ops run as 2-D with a unit height.

What graphjit has no kernel for is composed from index ops, which fuse into one
loop nest: depthwise convolution and dilated or 3-D pooling are sums/maxima of
strided slices (one per kernel tap), 3-D convolution a matmul of gathered windows,
and average pooling divides by a count map pooled from a mask of ones.
"""

from __future__ import annotations

import itertools

import numpy as np

import graphjit as gj
from graphjit import nn
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.pool_indices import max_pool_indices

_WINDOW_ATTRS = ("auto_pad", "dilations", "kernel_shape", "pads", "strides")


class _Window:
    """A node's window geometry over the spatial axes of a channels-last tensor.

    `pads` is None when TF's SAME reproduces ONNX exactly (SAME_UPPER on a 2-D op),
    else one (before, after) pair per spatial axis; `extra` is what ceil_mode adds
    after. `native` says graphjit has a 2-D kernel for it (2-D, or 1-D lifted).
    """

    def __init__(self, ctx: NodeContext, x: Tensor, kernel: list[int], ceil_mode: bool = False,
                 tf_same_ok: bool = True):
        n = x.ndim - 2
        if n < 1 or len(kernel) != n:
            raise ctx.unsupported(f"kernel_shape {kernel} does not fit an input of rank "
                                  f"{x.ndim} (N, C and {n} spatial dims)")
        strides = list(ctx.attr("strides", [1] * n))
        dilations = list(ctx.attr("dilations", [1] * n))
        pads = list(ctx.attr("pads", [0] * (2 * n)))
        sizes = list(x.shape[2:])
        self.lifted = n == 1
        if self.lifted:  # a unit height: the 1-D op is the 2-D op on rows of one
            kernel, strides, dilations = [1] + kernel, [1] + strides, [1] + dilations
            pads, sizes, n = [0, pads[0], 0, pads[1]], [1] + sizes, 2
        self.n, self.native = n, n == 2
        self.kernel, self.strides, self.dilations, self.sizes = kernel, strides, dilations, sizes
        self.effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
        tf_same_ok = tf_same_ok and self.native
        auto_pad = ctx.attr("auto_pad", "NOTSET")
        if auto_pad == "SAME_UPPER" and tf_same_ok:
            self.pads, self.extra = None, [0] * n
            return
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            self.pads = [self._same(ctx, i, auto_pad == "SAME_LOWER") for i in range(n)]
            ceil_mode = False  # the output size of SAME is ceil(size / stride) regardless
        elif auto_pad == "VALID":
            self.pads = [(0, 0)] * n
        elif auto_pad == "NOTSET":
            self.pads = [(pads[i], pads[i + n]) for i in range(n)]
        else:
            raise ctx.unsupported(f"unknown auto_pad {auto_pad!r}")
        self.extra = [self._ceil_extra(ctx, i) if ceil_mode else 0 for i in range(n)]
        if tf_same_ok and not any(self.extra) and all(
                self._tf_same(i) == self.pads[i] for i in range(n)):
            self.pads = None  # explicit pads that happen to be TF's SAME: no Pad op

    def _tf_same(self, i: int) -> tuple[int, int] | None:
        size, s, k = self.sizes[i], self.strides[i], self.effective[i]
        if size is None and s != 1:
            return None
        total = k - 1 if s == 1 else max((-(-size // s) - 1) * s + k - size, 0)
        return total // 2, total - total // 2

    def _same(self, ctx: NodeContext, i: int, lower: bool) -> tuple[int, int]:
        before_after = self._tf_same(i)
        if before_after is None:
            ctx.require_shape(0, f"auto_pad {ctx.attr('auto_pad')} with stride > 1")
        return before_after[::-1] if lower else before_after

    def _ceil_extra(self, ctx: NodeContext, i: int) -> int:
        size, s, k = self.sizes[i], self.strides[i], self.effective[i]
        if size is None:
            ctx.require_shape(0, "ceil_mode=1")
        before, after = self.pads[i]
        padded = size + before + after
        out = -(-(padded - k) // s) + 1
        if (out - 1) * s >= size + before:  # the last window must start inside the data
            out -= 1
        return max((out - 1) * s + k - padded, 0)

    def make_explicit(self) -> bool:
        """Turn TF's SAME into explicit pads where they are known at build time (any
        stride-1 axis, static sizes otherwise); False where they are not."""
        if self.pads is None:
            same = [self._tf_same(i) for i in range(self.n)]
            if any(p is None for p in same):
                return False
            self.pads = same
        return True

    @property
    def needs_taps(self) -> bool:
        """No graphjit kernel: dilated pooling, or more than 2 spatial dims."""
        return not self.native or any(d != 1 for d in self.dilations)

    def to_channels_last(self, x: Tensor) -> Tensor:
        if self.lifted:
            x = gj.expand_dims(x, 2)
        return gj.transpose(x, [0, *range(2, self.n + 2), 1])

    def to_onnx(self, y: Tensor) -> Tensor:
        y = gj.transpose(y, [0, self.n + 1, *range(1, self.n + 1)])
        return gj.squeeze(y, [2]) if self.lifted else y

    def padded(self, x: Tensor, value, extra_value=None) -> Tensor:
        """x (channels last) padded by the explicit pads with `value`, then the ceil cells."""
        if any(p for pair in self.pads for p in pair):
            x = gj.pad(x, [[0, 0], *self.pads, [0, 0]], constant_values=value)
        if any(self.extra):
            fill = value if extra_value is None else extra_value
            x = gj.pad(x, [[0, 0], *[[0, e] for e in self.extra], [0, 0]],
                       constant_values=fill)
        return x

    def taps(self, xp: Tensor):
        """(tap index, the strided slice of padded `xp` that kernel tap reads) per tap."""
        for tap in itertools.product(*(range(k) for k in self.kernel)):
            key = tuple(self._tap(i, t, xp.shape[i + 1]) for i, t in enumerate(tap))
            yield tap, xp[(slice(None), *key, slice(None))]

    def _tap(self, i: int, tap: int, size: int | None) -> slice:
        start, s, k = tap * self.dilations[i], self.strides[i], self.effective[i]
        if size is not None:
            return slice(start, start + (size - k) // s * s + 1, s)
        end = start - (k - 1)  # as many windows as floor((size - k) / s) + 1
        return slice(start, end if end < 0 else None, s)


def _sum(terms) -> Tensor:
    total = None
    for t in terms:
        total = t if total is None else total + t
    return total


# -- Conv ------------------------------------------------------------------------------

def _filter(ctx: NodeContext, w: Tensor, window: _Window) -> tuple[Tensor, np.ndarray | None]:
    """ONNX's OI<spatial> filter as <spatial>IO (graphjit's HWIO), transposed at import
    time when static; also the static value in ONNX layout (lifted to 2-D for 1-D)."""
    perm = [*range(2, window.n + 2), 1, 0]
    value = ctx.static(1)
    if value is not None:
        value = np.asarray(value)
        if window.lifted:
            value = value[:, :, None, :]
        return gj.constant(np.ascontiguousarray(value.transpose(perm))), value
    return gj.transpose(gj.expand_dims(w, 2) if window.lifted else w, perm), None


@converter("Conv", attrs=_WINDOW_ATTRS + ("group",))
def convert_conv(ctx: NodeContext) -> Tensor:
    x, w, bias = ctx.inputs[0], ctx.inputs[1], ctx.input(2)
    if w.ndim != x.ndim or any(d is None for d in w.shape):
        raise ctx.unsupported(f"the filter's shape {w.shape} must be known at build time and "
                              f"have the input's rank {x.ndim}")
    window = _Window(ctx, x, list(ctx.attr("kernel_shape", w.shape[2:])))
    group = ctx.attr("group", 1)
    out_channels, group_in = w.shape[0], w.shape[1]
    if out_channels % group or (x.shape[1] is not None and x.shape[1] != group_in * group):
        raise ctx.unsupported(f"group={group} does not fit {x.shape[1]} input channels and a "
                              f"filter of shape {list(w.shape)}")
    # float16 sums its products in float32 and rounds once, as ONNX's reference does
    # (summing in float16 is 2-3 ulp off).
    half = x.dtype == gj.float16
    if half:
        x, w = gj.cast(x, gj.float32), gj.cast(w, gj.float32)
        bias = None if bias is None else gj.cast(bias, gj.float32)
    xt = window.to_channels_last(x)
    filt, static_w = _filter(ctx, w, window)
    if half and static_w is not None:
        static_w = static_w.astype(np.float32)
        filt = gj.constant(np.ascontiguousarray(
            np.asarray(filt.op.attrs["value"]).astype(np.float32)))
    if group == 1:
        y = _conv(ctx, xt, filt, window)
    elif group_in == 1 and window.make_explicit():
        y = _depthwise(xt, filt, static_w, window, out_channels // group)
    else:  # one convolution per group on its slice of channels
        xs = gj.split(xt, [group_in] * group, axis=-1)
        fs = gj.split(filt, group, axis=-1)
        y = gj.concat([_conv(ctx, xi, fi, window) for xi, fi in zip(xs, fs)], axis=-1)
    if bias is not None:
        y = y + bias
    y = window.to_onnx(y)
    return gj.cast(y, gj.float16) if half else y


def _conv(ctx: NodeContext, x: Tensor, filt: Tensor, window: _Window) -> Tensor:
    if window.native:
        if window.pads is None:
            padding = "SAME"
        else:
            x, padding = window.padded(x, 0), "VALID"
        return nn.conv2d(x, filt, strides=window.strides, padding=padding,
                         dilations=window.dilations)
    # N-d, as im2col: every window's cells side by side, times the filter as a matrix
    return gj.matmul(_im2col(ctx, window.padded(x, 0), window),
                     gj.reshape(filt, [-1, filt.shape[-1]]))


def _im2col(ctx: NodeContext, xp: Tensor, window: _Window) -> Tensor:
    """[N, out..., taps * C]: one gather from the flattened spatial cells (their number must
    be static: the backend specializes on the input's shape otherwise)."""
    padded = list(xp.shape[1:-1])
    if any(d is None for d in padded) or xp.shape[-1] is None:
        ctx.require_shape(0, f"a {window.n}-D Conv")
    out = [(p - k) // s + 1 for p, k, s in zip(padded, window.effective, window.strides)]
    ctx.check_size(int(np.prod(out)) * int(np.prod(window.kernel)), 8, "the im2col index")
    starts = np.zeros(out, np.int64)  # flat index of each window's first cell
    offsets = np.zeros(window.kernel, np.int64)  # of each tap within a window
    step = 1
    for i in reversed(range(window.n)):
        shape = [1] * window.n
        shape[i] = -1
        starts = starts + (np.arange(out[i]) * window.strides[i] * step).reshape(shape)
        offsets = offsets + (np.arange(window.kernel[i]) * window.dilations[i] * step).reshape(
            shape)
        step *= padded[i]
    index = starts.reshape(-1, 1) + offsets.reshape(1, -1)  # [windows, taps]
    cells = gj.reshape(xp, [-1, step, xp.shape[-1]])
    cols = gj.gather(cells, gj.constant(index.astype(np.int32)), axis=1)
    return gj.reshape(cols, [-1, *out, index.shape[1] * xp.shape[-1]])


def _depthwise(x: Tensor, filt: Tensor, static_w, window: _Window, multiplier: int) -> Tensor:
    """Output channel o reads input channel o // multiplier: a sum over the kernel taps of
    a strided slice times a per-channel weight, which fuses into one loop nest."""
    xp = window.padded(x, 0)
    if multiplier > 1:
        channels = filt.shape[-1] // multiplier
        index = np.repeat(np.arange(channels, dtype=np.int32), multiplier)
        xp = gj.gather(xp, gj.constant(index), axis=xp.ndim - 1)

    def weight(index):  # one weight per output channel and tap
        if static_w is None:
            return filt[(*index, 0)]
        return gj.constant(np.ascontiguousarray(static_w[(slice(None), 0, *index)]))

    return _sum(tap * weight(index) for index, tap in window.taps(xp))


# -- pooling ---------------------------------------------------------------------------

def _pool_window(ctx: NodeContext, x: Tensor, tf_same_ok: bool) -> _Window:
    if "kernel_shape" not in ctx.attrs:
        raise ctx.unsupported("kernel_shape is required")
    dilated = any(d != 1 for d in ctx.attr("dilations", []))  # taps need explicit pads
    return _Window(ctx, x, list(ctx.attr("kernel_shape")), bool(ctx.attr("ceil_mode", 0)),
                   tf_same_ok and not dilated)


@converter("MaxPool", attrs=_WINDOW_ATTRS + ("ceil_mode", "storage_order"))
def convert_max_pool(ctx: NodeContext) -> list[Tensor]:
    """Y, and where asked for the Indices output (graphjit.onnx.pool_indices)."""
    x = ctx.inputs[0]
    window = _pool_window(ctx, x, tf_same_ok=True)
    dtype = x.dtype  # graphjit pools floats; float64 holds every 8-bit integer exactly
    xt = window.to_channels_last(x if dtype.is_floating else gj.cast(x, gj.float64))
    if window.needs_taps:
        y = None
        for _, tap in window.taps(window.padded(xt, -np.inf)):
            y = tap if y is None else gj.maximum(y, tap)
    elif window.pads is None:
        y = nn.max_pool(xt, window.kernel, window.strides, "SAME")
    else:
        y = nn.max_pool(window.padded(xt, -np.inf), window.kernel, window.strides, "VALID")
    y = window.to_onnx(y)
    y = y if dtype.is_floating else gj.cast(y, dtype)
    if ctx.num_outputs > 1 and ctx.node.output[1]:
        return [y, max_pool_indices(ctx, window, xt)]
    return [y]


@converter("AveragePool", attrs=_WINDOW_ATTRS + ("ceil_mode", "count_include_pad"))
def convert_average_pool(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    include_pad = bool(ctx.attr("count_include_pad", 0))
    window = _pool_window(ctx, x, tf_same_ok=not include_pad)
    xt = window.to_channels_last(x)
    if window.pads is None:  # SAME_UPPER without the padding counted: TF's AvgPool
        return window.to_onnx(nn.avg_pool(xt, window.kernel, window.strides, "SAME"))
    total = _window_sum(window.padded(xt, 0), window)
    if not any(window.extra) and (include_pad or not any(p for a in window.pads for p in a)):
        count = float(np.prod(window.kernel))  # every window lies inside the counted cells
    else:
        count = _window_sum(_count_mask(xt, window, include_pad), window)
    return window.to_onnx(total / count)


def _window_sum(xp: Tensor, window: _Window) -> Tensor:
    if window.needs_taps:
        return _sum(tap for _, tap in window.taps(xp))
    # a VALID average over windows of real cells only is the sum / the window size
    area = float(np.prod(window.kernel))
    return nn.avg_pool(xp, window.kernel, window.strides, "VALID") * area


def _count_mask(xt: Tensor, window: _Window, include_pad: bool) -> Tensor:
    """Ones over the cells a window's divisor counts, padded as the data is: a constant
    the optimizer folds when the spatial sizes are static."""
    spatial = tuple(xt.shape[1:-1])
    if all(d is not None for d in spatial):
        ones = gj.constant(np.ones((1, *spatial, 1), xt.dtype.np))
    else:
        ones = gj.ones_like(xt[:1, ..., :1])
    return window.padded(ones, 1.0 if include_pad else 0.0, extra_value=0.0)


@converter("GlobalAveragePool", "GlobalMaxPool")
def convert_global_pool(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    if x.ndim < 3:
        raise ctx.unsupported(f"needs an input of rank >= 3 (N, C, spatial...), got {x.ndim}")
    reduce = gj.reduce_mean if ctx.op_type == "GlobalAveragePool" else gj.reduce_max
    return reduce(x, list(range(2, x.ndim)), keepdims=True)
