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

from graphjit.errors import GraphError, ShapeError, UnsupportedError, user_source_line
from graphjit.graph import Tensor
from graphjit.ops._util import FLOAT, check_dtype, convert_operands, make, same_dtype
from graphjit.ops.registry import OpDef, register

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


def _pad_amounts(size: int, k: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(output size, pad before, pad after): TF's formula, the extra cell going after."""
    if padding == "VALID":
        if k > size:  # only reachable when the size was unknown at build time
            raise ShapeError(f"with padding 'VALID' the window ({k}) is larger than the "
                             f"input ({size})")
        return (size - k) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


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
    oh, top, bottom = _pad_amounts(h, (kh - 1) * dh + 1, sh, padding)
    ow, left, right = _pad_amounts(w, (kw - 1) * dw + 1, sw, padding)
    if min(x.shape[0], oh, ow, cout) == 0 or x.shape[3] == 0:
        return np.zeros((x.shape[0], oh, ow, cout), x.dtype)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    win = _windows(padded, (kh, kw), (sh, sw), (dh, dw), (oh, ow))
    return np.tensordot(win, f, axes=([4, 5, 3], [0, 1, 2])).astype(x.dtype, copy=False)


register(OpDef("Conv2D", _conv2d_infer, _conv2d_reference, kind="conv"))


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
    oh, top, bottom = _pad_amounts(h, kh, sh, padding)
    ow, left, right = _pad_amounts(w, kw, sw, padding)
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
    oh = _pad_amounts(x.shape[1], ksize[1], strides[1], padding)[0]
    ow = _pad_amounts(x.shape[2], ksize[2], strides[2], padding)[0]
    return (x.shape[0], oh, ow, x.shape[3])


register(OpDef("MaxPool", _pool_infer, _max_pool_reference, kind="conv"))
register(OpDef("AvgPool", _pool_infer, _avg_pool_reference, kind="conv"))


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


max_pool2d = max_pool
avg_pool2d = avg_pool

__all__ = ["conv2d", "max_pool", "avg_pool", "max_pool2d", "avg_pool2d"]
