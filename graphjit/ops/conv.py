"""Convolution and pooling over NHWC images: Conv2D, MaxPool, AvgPool.

TensorFlow's padding arithmetic is reproduced exactly (SAME puts the odd padded
cell after the data), because a one-cell shift changes every output. Attributes
are validated in `infer`, so a bad stride or padding is reported by
`Graph.create_op` with the op's name and the user's source line.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphjit.errors import DTypeError, GraphError, ShapeError, UnsupportedError, user_source_line
from graphjit.graph import Tensor, TensorShape
from graphjit.lower import deferred, standalone
from graphjit.ops._util import (
    FLOAT,
    check_dtype,
    convert_operands,
    make,
    op_errors,
    pad_amounts,
    same_dtype,
    static_value,
)
from graphjit.ops.shape_ops import tile
from graphjit.registry import Attr, AttrKind, Fusion, KernelBuilder, Onnx, OpDef, register

PADDINGS = ("SAME", "VALID")


# -- static attribute checks and shape arithmetic -----------------------------------

def _check_window_attr(value, what: str) -> tuple[int, int]:
    """The (H, W) part of a 4-tuple attr; batch and channel entries must be 1 (as TF's kernels)."""
    if (not isinstance(value, tuple) or len(value) != 4
            or not all(isinstance(v, int) and v > 0 for v in value)):
        raise ShapeError(f"{what} must be an int, or a list of 2 or 4 positive ints, "
                         f"got {value!r}")
    if value[0] != 1 or value[3] != 1:
        raise UnsupportedError(f"{what} {list(value)}: only the height and width entries may "
                               "differ from 1 (no batch or channel windows)")
    return value[1], value[2]


def _check_padding(padding) -> None:
    if padding not in PADDINGS:
        raise ShapeError(f"padding must be 'SAME' or 'VALID', got {padding!r}")


def _out_dim(size: int | None, k: int | None, stride: int, padding: str, what: str):
    """One spatial output size; `k` is the effective (dilated) window, None if unknown."""
    if size is None:
        return None
    if padding == "SAME":
        return -(-size // stride)
    if k is None:
        return None
    if k > size:
        raise ShapeError(f"with padding 'VALID' the {what} window ({k}) is larger than the "
                         f"input ({size}); use padding 'SAME' or a smaller window")
    return (size - k) // stride + 1



def _check_image(spec, what: str = "input"):
    shape, dtype = spec
    if len(shape) != 4:
        raise ShapeError(f"{what} must have rank 4 (NHWC: batch, height, width, channels), "
                         f"got rank {len(shape)}")
    check_dtype(dtype, FLOAT, what)
    return shape, dtype


# -- Conv2D ---------------------------------------------------------------------------

def _conv2d_infer(specs, attrs):
    xshape, _ = _check_image(specs[0])
    fshape = specs[1][0]
    if len(fshape) != 4:
        raise ShapeError("filter must have rank 4 (HWIO: height, width, in channels, "
                         f"out channels), got rank {len(fshape)}")
    dtype = same_dtype(specs, "input and filter")
    check_dtype(dtype, FLOAT, "input and filter")
    _check_padding(attrs["padding"])
    sh, sw = _check_window_attr(attrs["strides"], "strides")
    dh, dw = _check_window_attr(attrs["dilations"], "dilations")
    cin, fin = xshape[3], fshape[2]
    if cin is not None and fin is not None and cin != fin:
        raise ShapeError(f"input has {cin} channels but the filter expects {fin} "
                         "(filter shape is [height, width, in_channels, out_channels])")
    kh = None if fshape[0] is None else (fshape[0] - 1) * dh + 1
    kw = None if fshape[1] is None else (fshape[1] - 1) * dw + 1
    return (xshape[0],
            _out_dim(xshape[1], kh, sh, attrs["padding"], "filter height"),
            _out_dim(xshape[2], kw, sw, attrs["padding"], "filter width"),
            fshape[3]), dtype


def _windows(padded: np.ndarray, k: tuple, strides: tuple, dilations: tuple, out: tuple):
    """A view (N, OH, OW, C, KH, KW) of every window the op reads, without copying."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = k, strides, dilations, out
    view = sliding_window_view(padded, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
    return view[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]


def _conv2d_reference(x, f, *, strides, padding, dilations):
    # im2col as a strided view, then one tensordot over (KH, KW, C_in).
    (_, h, w, _), (kh, kw, _, cout) = x.shape, f.shape
    (_, sh, sw, _), (_, dh, dw, _) = strides, dilations
    oh, top, bottom = pad_amounts(h, (kh - 1) * dh + 1, sh, padding)
    ow, left, right = pad_amounts(w, (kw - 1) * dw + 1, sw, padding)
    if min(x.shape[0], oh, ow, cout) == 0 or x.shape[3] == 0:
        return np.zeros((x.shape[0], oh, ow, cout), x.dtype)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    win = _windows(padded, (kh, kw), (sh, sw), (dh, dw), (oh, ow))
    return np.tensordot(win, f, axes=([4, 5, 3], [0, 1, 2])).astype(x.dtype, copy=False)




# -- pooling --------------------------------------------------------------------------

def _pool_infer(specs, attrs):
    (xshape, dtype), = specs
    _check_image(specs[0])
    _check_padding(attrs["padding"])
    kh, kw = _check_window_attr(attrs["ksize"], "ksize")
    sh, sw = _check_window_attr(attrs["strides"], "strides")
    return (xshape[0],
            _out_dim(xshape[1], kh, sh, attrs["padding"], "pooling height"),
            _out_dim(xshape[2], kw, sw, attrs["padding"], "pooling width"),
            xshape[3]), dtype


def _pool_windows(x, ksize, strides, padding, fill) -> np.ndarray:
    (_, h, w, _), (_, kh, kw, _), (_, sh, sw, _) = x.shape, ksize, strides
    oh, top, bottom = pad_amounts(h, kh, sh, padding)
    ow, left, right = pad_amounts(w, kw, sw, padding)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    return _windows(padded, (kh, kw), (sh, sw), (1, 1), (oh, ow))


def _max_pool_reference(x, *, ksize, strides, padding):
    # Padding with -inf makes padded cells lose every max: TF ignores them.
    if x.size == 0:
        return np.zeros(_pool_shape(x, ksize, strides, padding), x.dtype)
    win = _pool_windows(x, ksize, strides, padding, -np.inf)
    return win.max(axis=(4, 5))


def _avg_pool_reference(x, *, ksize, strides, padding):
    # TF divides by the number of real cells in each window, not by the window size.
    if x.size == 0:
        return np.zeros(_pool_shape(x, ksize, strides, padding), x.dtype)
    win = _pool_windows(x, ksize, strides, padding, 0)
    ones = np.ones((1,) + x.shape[1:3] + (1,), x.dtype)
    count = _pool_windows(ones, ksize, strides, padding, 0)
    return (win.sum(axis=(4, 5)) / count.sum(axis=(4, 5))).astype(x.dtype, copy=False)


def _pool_shape(x, ksize, strides, padding):
    oh = pad_amounts(x.shape[1], ksize[1], strides[1], padding)[0]
    ow = pad_amounts(x.shape[2], ksize[2], strides[2], padding)[0]
    return (x.shape[0], oh, ow, x.shape[3])


# -- gradients: Conv2DBackpropInput/Filter, MaxPoolGrad, AvgPoolGrad -------------------
# Each takes the forward op's inputs (the image x, read for its shape only where the
# gradient does not depend on it) and the output's gradient dy, with the forward attrs.

def _backprop_infer(infer, result: int):
    """The forward infer validates x (and the filter); dy must match the forward output;
    the result has the shape of forward input `result`."""
    def backprop_infer(specs, attrs):
        forward, grad = specs[:-1], specs[-1]
        out_shape, dtype = infer(forward, attrs)
        if grad[1] != dtype:
            raise DTypeError(f"the gradient has dtype {grad[1]}, the forward output {dtype}")
        if not TensorShape(grad[0]).is_compatible_with(out_shape):
            raise ShapeError(f"the gradient has shape {list(grad[0])}, the forward output "
                             f"{list(out_shape)}")
        return tuple(specs[result][0]), dtype
    return backprop_infer


def _conv_geometry(x_shape, f_shape, strides, padding, dilations):
    (_, h, w, _), (kh, kw, _, _) = x_shape, f_shape
    (_, sh, sw, _), (_, dh, dw, _) = strides, dilations
    oh, top, bottom = pad_amounts(h, (kh - 1) * dh + 1, sh, padding)
    ow, left, right = pad_amounts(w, (kw - 1) * dw + 1, sw, padding)
    return (oh, ow), (top, bottom, left, right)


def _scatter_windows(values, x_shape, k, strides, dilations, out, pads):
    """The adjoint of `_windows`: values (N, OH, OW, KH, KW, C) added into the image
    cells each window tap read, padding cropped."""
    (n, h, w, c), (kh, kw), (sh, sw), (dh, dw), (oh, ow) = x_shape, k, strides, dilations, out
    top, bottom, left, right = pads
    padded = np.zeros((n, h + top + bottom, w + left + right, c), values.dtype)
    if values.size:
        for a in range(kh):
            for b in range(kw):
                padded[:, a * dh: a * dh + (oh - 1) * sh + 1: sh,
                       b * dw: b * dw + (ow - 1) * sw + 1: sw, :] += values[:, :, :, a, b, :]
    return padded[:, top: top + h, left: left + w, :]


def _conv2d_backprop_input_reference(x, f, dy, *, strides, padding, dilations):
    (oh, ow), pads = _conv_geometry(x.shape, f.shape, strides, padding, dilations)
    taps = np.einsum("nijo,abco->nijabc", dy, f)  # what each filter tap sends back
    return _scatter_windows(taps, x.shape, f.shape[:2], strides[1:3], dilations[1:3],
                            (oh, ow), pads).astype(x.dtype, copy=False)


def _conv2d_backprop_filter_reference(x, f, dy, *, strides, padding, dilations):
    (oh, ow), (top, bottom, left, right) = _conv_geometry(x.shape, f.shape, strides, padding,
                                                          dilations)
    if min(oh, ow) == 0 or x.size == 0 or dy.size == 0:
        return np.zeros(f.shape, x.dtype)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    win = _windows(padded, f.shape[:2], strides[1:3], dilations[1:3], (oh, ow))
    return np.einsum("nijcab,nijo->abco", win, dy).astype(x.dtype, copy=False)


def _max_pool_grad_reference(x, dy, *, ksize, strides, padding):
    """Each window's gradient goes to its first largest real cell (NaN never wins;
    a window of -inf and NaN gives it to its first real cell)."""
    dx = np.zeros(x.shape, x.dtype)
    if x.size == 0 or dy.size == 0:
        return dx
    (n, h, w, c), (_, kh, kw, _), (_, sh, sw, _) = x.shape, ksize, strides
    _, top, _ = pad_amounts(h, kh, sh, padding)
    _, left, _ = pad_amounts(w, kw, sw, padding)
    oh, ow = dy.shape[1:3]
    values = _pool_windows(np.where(np.isnan(x), -np.inf, x), ksize, strides, padding, -np.inf)
    real = _pool_windows(np.ones((1, h, w, 1), x.dtype), ksize, strides, padding, 0) > 0
    values = values.reshape(n, oh, ow, c, kh * kw)
    real = real.reshape(1, oh, ow, 1, kh * kw)
    best = np.max(np.where(real, values, -np.inf), axis=-1, keepdims=True)
    tap = np.argmax(real & (values == best), axis=-1)
    rows = np.arange(oh)[None, :, None, None] * sh - top + tap // kw
    cols = np.arange(ow)[None, None, :, None] * sw - left + tap % kw
    np.add.at(dx, (np.arange(n)[:, None, None, None], rows, cols,
                   np.arange(c)[None, None, None, :]), dy)
    return dx


def _avg_pool_grad_reference(x, dy, *, ksize, strides, padding):
    (n, h, w, c), (_, kh, kw, _), (_, sh, sw, _) = x.shape, ksize, strides
    oh, top, bottom = pad_amounts(h, kh, sh, padding)
    ow, left, right = pad_amounts(w, kw, sw, padding)
    if x.size == 0 or dy.size == 0:
        return np.zeros(x.shape, x.dtype)
    ones = np.ones((1, h, w, 1), x.dtype)
    count = _pool_windows(ones, ksize, strides, padding, 0).sum(axis=(4, 5))
    share = np.broadcast_to((dy / count)[:, :, :, None, None, :], (n, oh, ow, kh, kw, c))
    return _scatter_windows(share, x.shape, (kh, kw), (sh, sw), (1, 1), (oh, ow),
                            (top, bottom, left, right)).astype(x.dtype, copy=False)


def _conv_attrs(op):
    return {k: op.attrs[k] for k in ("strides", "padding", "dilations")}


def _pool_attrs(op):
    return {k: op.attrs[k] for k in ("ksize", "strides", "padding")}


def _conv2d_grad(op, grads):
    x, f = op.inputs
    return [make("Conv2DBackpropInput", [x, f, grads[0]], _conv_attrs(op)),
            make("Conv2DBackpropFilter", [x, f, grads[0]], _conv_attrs(op))]


def _conv2d_backprop_input_grad(op, grads):
    # Linear in the filter and dy: <u, BackpropInput(f, dy)> = <f, BackpropFilter(u, dy)>
    # = <dy, conv2d(u, f)>.
    x, f, dy = op.inputs
    u = grads[0]
    return [None, make("Conv2DBackpropFilter", [u, f, dy], _conv_attrs(op)),
            make("Conv2D", [u, f], _conv_attrs(op))]


def _conv2d_backprop_filter_grad(op, grads):
    x, f, dy = op.inputs
    u = grads[0]
    return [make("Conv2DBackpropInput", [x, u, dy], _conv_attrs(op)), None,
            make("Conv2D", [x, u], _conv_attrs(op))]


def _max_pool_grad(op, grads):
    return [make("MaxPoolGrad", [op.inputs[0], grads[0]], _pool_attrs(op))]


def _avg_pool_grad(op, grads):
    return [make("AvgPoolGrad", [op.inputs[0], grads[0]], _pool_attrs(op))]


def _avg_pool_grad_grad(op, grads):
    return [None, make("AvgPool", [grads[0]], _pool_attrs(op))]


_STANDALONE = Fusion.STANDALONE
_LOWERING = "graphjit.lower.conv_lowering"  # (loaded by the first conv lowered)
_CONV = {"strides": Attr(AttrKind.INTS), "padding": Attr(AttrKind.STR),
         "dilations": Attr(AttrKind.INTS)}
_POOL = {"ksize": Attr(AttrKind.INTS), "strides": Attr(AttrKind.INTS),
         "padding": Attr(AttrKind.STR)}
register(OpDef("Conv2D", _conv2d_infer, _conv2d_reference, _STANDALONE,
               KernelBuilder("conv", deferred(_LOWERING, "lower_conv")), grad=_conv2d_grad,
               attrs=_CONV, onnx=Onnx("Conv")))
register(OpDef("MaxPool", _pool_infer, _max_pool_reference, _STANDALONE,
               KernelBuilder("pool", standalone.pool(is_max=True)), grad=_max_pool_grad,
               attrs=_POOL, onnx=Onnx("MaxPool")))
register(OpDef("AvgPool", _pool_infer, _avg_pool_reference, _STANDALONE,
               KernelBuilder("pool", standalone.pool(is_max=False)), grad=_avg_pool_grad,
               attrs=_POOL, onnx=Onnx("AveragePool")))
register(OpDef("Conv2DBackpropInput", _backprop_infer(_conv2d_infer, 0),
               _conv2d_backprop_input_reference, _STANDALONE,
               KernelBuilder("conv_input_grad", deferred(_LOWERING, "lower_conv_input_grad")),
               grad=_conv2d_backprop_input_grad, attrs=_CONV,
               onnx=Onnx("ConvTranspose", imported=False)))
register(OpDef("Conv2DBackpropFilter", _backprop_infer(_conv2d_infer, 1),
               _conv2d_backprop_filter_reference, _STANDALONE,
               KernelBuilder("conv_filter_grad", deferred(_LOWERING, "lower_conv_filter_grad")),
               grad=_conv2d_backprop_filter_grad, attrs=_CONV, onnx=Onnx(None)))
# Second derivatives of max pooling are not provided.
register(OpDef("MaxPoolGrad", _backprop_infer(_pool_infer, 0), _max_pool_grad_reference,
               _STANDALONE, KernelBuilder("pool_grad", standalone.pool_grad(is_max=True)),
               differentiable=False, attrs=_POOL, onnx=Onnx(None)))
register(OpDef("AvgPoolGrad", _backprop_infer(_pool_infer, 0), _avg_pool_grad_reference,
               _STANDALONE, KernelBuilder("pool_grad", standalone.pool_grad(is_max=False)),
               grad=_avg_pool_grad_grad, attrs=_POOL, onnx=Onnx(None)))


# -- public functions -----------------------------------------------------------------

def _window_attr(value, what: str):
    """TF2 spelling -> TF1's 4-tuple: an int n -> [1,n,n,1], [h,w] -> [1,h,w,1].

    Anything else is passed on as a tuple for `infer` to reject with the op's name.
    """
    if isinstance(value, Tensor):
        raise GraphError(f"{what} must be Python ints, not a Tensor")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (1, int(value), int(value), 1)
    try:
        items = tuple(int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool)
                      else v for v in value)
    except TypeError:
        return value
    return (1, *items, 1) if len(items) == 2 else items


def _padding_attr(padding, op: str, name):
    if isinstance(padding, (list, tuple)):
        raise UnsupportedError(
            f"{op} '{name or op}' at {user_source_line()}: explicit padding {padding!r} is "
            "not supported; pad the input first (tf.pad) and use padding='VALID'")
    return padding.upper() if isinstance(padding, str) else padding


def _check_nhwc(data_format, op: str, name) -> None:
    if data_format not in ("NHWC", None):
        raise UnsupportedError(
            f"{op} '{name or op}' at {user_source_line()}: data_format {data_format!r} is "
            "not supported; graphjit computes in NHWC (transpose the input to NHWC)")


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,
           data_format="NHWC", dilations=(1, 1, 1, 1), name=None, filters=None) -> Tensor:
    """2-D convolution of an NHWC `input` with an HWIO filter (tf.nn.conv2d, TF1 or TF2 form).

    `filter` (TF1) and `filters` (TF2) are the same argument; strides and
    dilations may be an int, [h, w] or [1, h, w, 1].
    """
    if (filter is None) == (filters is None):
        raise GraphError("conv2d needs exactly one of `filter` (TF1) or `filters` (TF2)")
    if strides is None or padding is None:
        raise GraphError("conv2d needs `strides` and `padding`")
    _check_nhwc(data_format, "Conv2D", name)
    x, f = convert_operands([input, filter if filters is None else filters])
    attrs = {"strides": _window_attr(strides, "strides"),
             "padding": _padding_attr(padding, "Conv2D", name),
             "dilations": _window_attr(dilations, "dilations")}
    return make("Conv2D", [x, f], attrs, name=name, default_name="Conv2D")


def _pool(op_type, value, ksize, strides, padding, data_format, name):
    _check_nhwc(data_format, op_type, name)
    (x,) = convert_operands([value])
    attrs = {"ksize": _window_attr(ksize, "ksize"), "strides": _window_attr(strides, "strides"),
             "padding": _padding_attr(padding, op_type, name)}
    return make(op_type, [x], attrs, name=name, default_name=op_type)


def max_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC",
             name=None, input=None) -> Tensor:
    """Max over each window; SAME padding never wins the max (tf.nn.max_pool, TF1 or TF2)."""
    if (value is None) == (input is None):
        raise GraphError("max_pool needs exactly one of `value` (TF1) or `input` (TF2)")
    if ksize is None or strides is None or padding is None:
        raise GraphError("max_pool needs `ksize`, `strides` and `padding`")
    return _pool("MaxPool", value if input is None else input, ksize, strides, padding,
                 data_format, name)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None) -> Tensor:
    """Mean over each window's real cells: SAME padding is not counted (tf.nn.avg_pool)."""
    return _pool("AvgPool", value, ksize, strides, padding, data_format, name)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None,
                     padding="SAME", data_format="NHWC", name=None, input=None, filters=None,
                     dilations=None) -> Tensor:
    """The "deconvolution": the gradient of conv2d with respect to its input, as an op
    of its own (tf.nn.conv2d_transpose, TF1 or TF2 form).

    `value` [batch, h, w, in] is what a conv2d with the filter [kh, kw, out, in] would
    output from an image of `output_shape` [batch, out_h, out_w, out]. The batch entry may
    be computed at run time (`tf.shape(value)[0]`): it is value's batch; the others must
    be known when the graph is built. The op reads an image only for its shape, so it is
    given value's first cells tiled to that shape (no gradient flows through it).
    """
    if (value is None) == (input is None) or (filter is None) == (filters is None):
        raise GraphError("conv2d_transpose needs one of `value` (TF1) or `input` (TF2) and "
                         "one of `filter` (TF1) or `filters` (TF2)")
    if output_shape is None or strides is None:
        raise GraphError("conv2d_transpose needs `output_shape` and `strides`")
    _check_nhwc(data_format, "Conv2DBackpropInput", name)
    dy, f = convert_operands([value if input is None else input,
                              filter if filters is None else filters])
    attrs = {"strides": _window_attr(strides, "strides"),
             "padding": _padding_attr(padding, "Conv2DBackpropInput", name),
             "dilations": _window_attr(1 if dilations is None else dilations, "dilations")}
    with op_errors("Conv2DBackpropInput", name, "conv2d_transpose", [dy, f]):
        out = _output_shape(output_shape, dy)
        if dy.ndim != 4 or f.ndim != 4:
            raise ShapeError(f"value and filter must have rank 4, got shapes {dy.shape} and "
                             f"{f.shape}")
        if f.shape[2] is not None and f.shape[2] != out[3]:
            raise ShapeError(f"output_shape has {out[3]} channels but the filter [height, "
                             f"width, output_channels, in_channels] has {f.shape[2]}")
        forward, _ = _conv2d_infer([((None, *out[1:]), dy.dtype), (f.shape, f.dtype)], attrs)
        if not TensorShape(dy.shape[1:]).is_compatible_with(forward[1:]):
            raise ShapeError(f"output_shape {list(out)} does not fit value of shape "
                             f"{dy.shape}: conv2d of such an image with these strides, "
                             f"padding and filter gives {list(forward)}")
    with dy.graph.name_scope(name or "conv2d_transpose") as scope:
        image = tile(dy[:, :1, :1, :1], [1, out[1], out[2], out[3]], name="output_shape")
        return make("Conv2DBackpropInput", [image, f, dy], attrs, name=scope)


def _output_shape(output_shape, value: Tensor) -> tuple:
    """(batch or None, h, w, c): each entry static, but the batch may be a tensor."""
    if isinstance(output_shape, Tensor):
        dims = [int(d) for d in static_value(output_shape, "output_shape").reshape(-1)]
    else:
        dims = list(output_shape)
        if len(dims) == 4 and isinstance(dims[0], Tensor):
            dims[0] = None if dims[0].op.type != "Const" else dims[0]
        dims = [d if d is None else int(static_value(d, "output_shape")) for d in dims]
    if len(dims) != 4:
        raise ShapeError(f"output_shape must have 4 entries (NHWC), got {dims}")
    if dims[0] is not None and value.shape[0] is not None and dims[0] != value.shape[0]:
        raise ShapeError(f"output_shape's batch {dims[0]} differs from value's "
                         f"({value.shape[0]})")
    return tuple(dims)


max_pool2d = max_pool
avg_pool2d = avg_pool

__all__ = ["conv2d", "conv2d_transpose", "max_pool", "avg_pool", "max_pool2d", "avg_pool2d"]
