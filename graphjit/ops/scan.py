"""Scans along one axis: cumsum and cumprod (TF's tf.math.cumsum and tf.math.cumprod,
also tf.cumsum and tf.cumprod).

The primitives Cumsum and Cumprod hold their axis as a non-negative int and the flags
`exclusive` (each sum leaves out its own element: the first is 0, or 1 for a product)
and `reverse` (running from the end of the axis). They accumulate in the input's
dtype, as TF's do: integers wrap. Cumprod is a primitive because exp(cumsum(log x))
is wrong for zeros and negatives. The compiled kernel is built by graphjit.lower.scan.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import DTypeError, ShapeError
from graphjit.graph import Tensor
from graphjit.lower import scan as scan_lowering
from graphjit.ops._util import (
    NUMERIC,
    check_dtype,
    convert_operands,
    make,
    normalize_axis,
    op_errors,
    static_value,
)
from graphjit.registry import (
    Attr,
    AttrKind,
    Fusion,
    KernelBuilder,
    Onnx,
    OpDef,
    register,
)


def _cumsum_infer(specs, attrs):
    (shape, dtype), = specs
    check_dtype(dtype, NUMERIC)
    axis = attrs["axis"]
    if not 0 <= axis < len(shape):
        raise ShapeError(f"axis {axis} out of range for a tensor of rank {len(shape)}")
    return tuple(shape), dtype


def _scan_reference(running, first):
    def reference(x, *, axis, exclusive, reverse):
        if reverse:
            x = np.flip(x, axis)
        out = running(x, axis=axis, dtype=x.dtype)  # in order: each partial rounded
        if exclusive:  # the inclusive results shifted one place along the axis
            shifted = np.full_like(out, first)
            into = tuple(slice(1, None) if a == axis else slice(None) for a in range(x.ndim))
            start = tuple(slice(None, -1) if a == axis else slice(None)
                          for a in range(x.ndim))
            shifted[into] = out[start]
            out = shifted
        if reverse:
            out = np.flip(out, axis)
        return np.ascontiguousarray(out)
    return reference


_cumsum_reference = _scan_reference(np.cumsum, 0)
_cumprod_reference = _scan_reference(np.cumprod, 1)


def _cumsum_grad(op, grads):
    """Each input element adds into the sums on its other side: the cumsum of dy the
    other way round, leaving out the same element."""
    attrs = op.attrs
    return [cumsum(grads[0], attrs["axis"], exclusive=attrs["exclusive"],
                   reverse=not attrs["reverse"])]


def _cumprod_grad(op, grads):
    """TF's rule: the cumsum the other way round of dy times the products, over x
    (so, as in TF, a zero in x gives a NaN or inf gradient)."""
    attrs = op.attrs
    x, products = op.inputs[0], op.outputs[0]
    back = cumsum(grads[0] * products, attrs["axis"], exclusive=attrs["exclusive"],
                  reverse=not attrs["reverse"])
    return [back / x]


_SCAN_ATTRS = {"axis": Attr(AttrKind.INT), "exclusive": Attr(AttrKind.BOOL),
               "reverse": Attr(AttrKind.BOOL)}
register(OpDef("Cumsum", _cumsum_infer, _cumsum_reference, Fusion.STANDALONE,
               KernelBuilder("scan", scan_lowering.cumsum), grad=_cumsum_grad,
               attrs=_SCAN_ATTRS, onnx=Onnx("CumSum")))
register(OpDef("Cumprod", _cumsum_infer, _cumprod_reference, Fusion.STANDALONE,
               KernelBuilder("scan", scan_lowering.cumsum), grad=_cumprod_grad,
               attrs=_SCAN_ATTRS, onnx=Onnx("CumProd")))  # (ONNX opset 26 on)


# -- public functions ------------------------------------------------------

def _flag(value, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):  # as TF's bool attrs: 1 is refused
        raise DTypeError(f"{what} must be a bool, got {value!r}")
    return bool(value)


def _scan(op_type: str, x, axis, exclusive, reverse, name) -> Tensor:
    (x,) = convert_operands([x])
    with op_errors(op_type, name, op_type, [x]):
        if isinstance(axis, Tensor):  # a constant axis tensor, read at build time
            axis = static_value(axis, "axis")
            if axis.ndim != 0:
                raise ShapeError(f"axis must be a scalar, got {axis.tolist()!r}")
            axis = axis.item()
        if x.ndim == 0:
            raise ShapeError("needs a tensor of rank >= 1, got a scalar")
        axis = normalize_axis(axis, x.ndim)
        attrs = {"axis": axis, "exclusive": _flag(exclusive, "exclusive"),
                 "reverse": _flag(reverse, "reverse")}
    return make(op_type, [x], attrs, name=name, default_name=op_type)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None) -> Tensor:
    """The cumulative sum of `x` along `axis`, as TF's tf.math.cumsum:
    cumsum([a, b, c]) = [a, a + b, a + b + c]; exclusive=True gives [0, a, a + b] and
    reverse=True sums from the end, [a + b + c, b + c, c]."""
    return _scan("Cumsum", x, axis, exclusive, reverse, name)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None) -> Tensor:
    """The cumulative product along `axis`, as TF's tf.math.cumprod:
    cumprod([a, b, c]) = [a, a * b, a * b * c]; exclusive=True gives [1, a, a * b]."""
    return _scan("Cumprod", x, axis, exclusive, reverse, name)


__all__ = ["cumsum", "cumprod"]
