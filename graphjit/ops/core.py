"""Source ops (constants, placeholders, placeholder_with_default) and identity-like ops."""

from __future__ import annotations

import numbers

import numpy as np

from codegen.loopir import Fn
from graphjit import dtypes
from graphjit.errors import ResourceExhaustedError, ShapeError
from graphjit.graph import Tensor, TensorShape, get_default_graph
from graphjit.lower import rules
from graphjit.ops._util import ALL, check_sizes, constant_array, make, op_errors
from graphjit.registry import (
    Attr,
    AttrKind,
    ElementRule,
    Fusion,
    Host,
    Onnx,
    OpDef,
    Scalar,
    register,
)


def _const_infer(specs, attrs):
    value = attrs["value"]
    return value.shape, dtypes.as_dtype(value.dtype)


def _const_reference(*, value):
    return value


def _placeholder_infer(specs, attrs):
    check_sizes(attrs["shape"])
    return attrs["shape"], attrs["dtype"]


def _placeholder_reference(*, shape, dtype):
    raise AssertionError("placeholders are fed, never computed")  # the interpreter checks first


def _identity_infer(specs, attrs):
    return specs[0]


def _with_default_infer(specs, attrs):
    """The declared shape, which may leave dims of the default unknown: the tensor can be
    fed values of other sizes there."""
    (shape, dtype), = specs
    declared = attrs["shape"]
    check_sizes(declared)
    if not TensorShape(declared).is_compatible_with(shape):
        raise ShapeError(f"the default of shape {list(shape)} does not fit the declared "
                         f"shape {list(declared)}")
    return tuple(declared), dtype


def _with_default_run_time_infer(specs, attrs):
    _with_default_infer(specs, attrs)
    return specs[0]  # not fed: the default's own shape


register(OpDef("Const", _const_infer, _const_reference, Fusion.SOURCE,
               ElementRule(rules.literal), attrs={"value": Attr(AttrKind.ARRAY)},
               onnx=Onnx("Constant"),
               differentiable=False))
register(OpDef("Placeholder", _placeholder_infer, _placeholder_reference, Fusion.SOURCE,
               Host("fed: a plan's input, never computed"), differentiable=False,
               onnx=Onnx(None),  # a graph input
               attrs={"dtype": Attr(AttrKind.DTYPE), "shape": Attr(AttrKind.SHAPE)}))
register(OpDef("Identity", _identity_infer, lambda x: x, Fusion.VIEW, Scalar(Fn.IDENTITY),
               grad=lambda op, grads: [grads[0]], onnx=Onnx("Identity")))
# Its input unless fed (feeding any tensor cuts the graph there): an Identity whose static
# shape is the declared one. The gradient passes to the default, as TF's.
register(OpDef("PlaceholderWithDefault", _with_default_infer, lambda x, *, shape: x.copy(),
               Fusion.VIEW, Scalar(Fn.IDENTITY), attrs={"shape": Attr(AttrKind.SHAPE)},
               run_time_infer=_with_default_run_time_infer,
               grad=lambda op, grads: [grads[0]], onnx=Onnx(None)))  # exported as its input
# Not differentiable by design: graphjit.autodiff stops there without an error
# (the gradient of stop_gradient(x) with respect to x is None, as in TF).
register(OpDef("StopGradient", _identity_infer, lambda x: x, Fusion.VIEW, Scalar(Fn.IDENTITY),
               differentiable=False, onnx=Onnx(None)))  # exported as its input


def constant(value, dtype=None, shape=None, name: str | None = None) -> Tensor:
    """A constant tensor, as `tf.constant`: `shape` reshapes, or broadcasts a scalar."""
    with op_errors("Const", name, "Const", ()):
        array, dtype = constant_array(value, dtype)
        if shape is not None:
            array = _reshaped(array, shape)
    array = np.array(array, dtype=dtype.np, copy=True)  # never alias the user's array
    array.flags.writeable = False
    graph = get_default_graph()
    return graph.create_op("Const", (), {"value": array}, name=name,
                           default_name="Const").outputs[0]


def _reshaped(array: np.ndarray, shape) -> np.ndarray:
    from graphjit.interpreter import format_bytes, memory_limit
    dims = list(shape) if isinstance(shape, (list, tuple, np.ndarray)) else [shape]
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0
               for d in dims):
        raise ShapeError(f"shape must be a list of sizes >= 0, got {shape!r}")
    size = int(np.prod(dims, dtype=object))
    if array.size == size:
        return array.reshape(dims)
    if array.size != 1:
        raise ShapeError(f"value of shape {list(array.shape)} cannot be given shape {dims}")
    if size * array.itemsize > memory_limit():  # np.full would fill it in right now
        raise ResourceExhaustedError(f"a constant of shape {dims} would take "
                                     f"{format_bytes(size * array.itemsize)}, more than this "
                                     f"machine's memory ({format_bytes(memory_limit())})")
    return np.full(dims, array.reshape(()), dtype=array.dtype)


def placeholder(dtype, shape=None, name: str | None = None) -> Tensor:
    """A value fed at run time; None in `shape` marks a dimension known only then."""
    if shape is None:
        raise ShapeError(f"placeholder '{name or 'Placeholder'}': graphjit needs the rank; "
                         "give shape=[None, ...] with None for unknown dimensions")
    with op_errors("Placeholder", name, "Placeholder", ()):
        dims = _static_dims(shape)
        dtype = dtypes.as_dtype(dtype)
    return get_default_graph().create_op(
        "Placeholder", (), {"shape": TensorShape(dims), "dtype": dtype},
        name=name, default_name="Placeholder").outputs[0]


def _static_dims(shape) -> list:
    if isinstance(shape, numbers.Integral):
        shape = [shape]
    dims = list(shape) if isinstance(shape, (list, tuple, np.ndarray)) else None
    if dims is None or not all(d is None or (isinstance(d, numbers.Integral)
                                             and not isinstance(d, bool)) for d in dims):
        raise ShapeError(f"shape must be a list of ints and None, got {shape!r}")
    return dims


def placeholder_with_default(input, shape, name: str | None = None) -> Tensor:
    """`input` unless fed: a placeholder with a default value, as TF's. Its static shape
    is `shape`, where None marks dims a fed value may size differently from the default."""
    from graphjit.ops._util import convert_to_tensor
    x = convert_to_tensor(input)
    with op_errors("PlaceholderWithDefault", name, "PlaceholderWithDefault", [x]):
        if shape is None:
            raise ShapeError("graphjit needs the rank: give shape=[None, ...] with None for "
                             "dims a fed value may change")
        dims = _static_dims(shape)
    return make("PlaceholderWithDefault", [x], {"shape": TensorShape(dims)}, name=name,
                default_name="PlaceholderWithDefault")


def identity(input, name: str | None = None) -> Tensor:
    from graphjit.ops._util import convert_to_tensor
    return make("Identity", [convert_to_tensor(input)], name=name, default_name="Identity")


def stop_gradient(input, name: str | None = None) -> Tensor:
    """Identity whose gradient is zero: back-propagation stops here."""
    from graphjit.ops._util import convert_to_tensor
    return make("StopGradient", [convert_to_tensor(input)], name=name,
                default_name="StopGradient")


__all__ = ["constant", "placeholder", "placeholder_with_default", "identity",
           "stop_gradient", "ALL"]
