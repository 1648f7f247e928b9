"""Source ops (constants, placeholders) and identity-like ops."""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError
from graphjit.graph import Tensor, get_default_graph
from graphjit.ops._util import ALL, constant_array, make
from graphjit.ops.registry import OpDef, register


def _const_infer(specs, attrs):
    value = attrs["value"]
    return value.shape, dtypes.as_dtype(value.dtype)


def _const_reference(*, value):
    return value


def _placeholder_infer(specs, attrs):
    return attrs["shape"], attrs["dtype"]


def _placeholder_reference(*, shape, dtype):
    raise AssertionError("placeholders are fed, never computed")  # the interpreter checks first


def _identity_infer(specs, attrs):
    return specs[0]


register(OpDef("Const", _const_infer, _const_reference, kind="source", differentiable=False))
register(OpDef("Placeholder", _placeholder_infer, _placeholder_reference, kind="source",
               differentiable=False))
register(OpDef("Identity", _identity_infer, lambda x: x, kind="elementwise", scalar="identity",
               grad=lambda op, grads: [grads[0]]))
# Not differentiable by design: graphjit.autodiff stops there without an error
# (the gradient of stop_gradient(x) with respect to x is None, as in TF).
register(OpDef("StopGradient", _identity_infer, lambda x: x, kind="elementwise",
               differentiable=False, scalar="identity"))


def constant(value, dtype=None, shape=None, name: str | None = None) -> Tensor:
    """A constant tensor, as `tf.constant`: `shape` reshapes, or broadcasts a scalar."""
    array, dtype = constant_array(value, dtype)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if array.size == int(np.prod(shape)):
            array = array.reshape(shape)
        elif array.size == 1:
            array = np.full(shape, array.reshape(()), dtype=array.dtype)
        else:
            raise ShapeError(f"constant '{name or 'Const'}': value of shape {array.shape} "
                             f"cannot be given shape {list(shape)}")
    array = np.array(array, dtype=dtype.np, copy=True)  # never alias the user's array
    array.flags.writeable = False
    graph = get_default_graph()
    return graph.create_op("Const", (), {"value": array}, name=name,
                           default_name="Const").outputs[0]


def placeholder(dtype, shape=None, name: str | None = None) -> Tensor:
    """A value fed at run time; None in `shape` marks a dimension known only then."""
    from graphjit.graph import TensorShape
    if shape is None:
        raise ShapeError(f"placeholder '{name or 'Placeholder'}': graphjit needs the rank; "
                         "give shape=[None, ...] with None for unknown dimensions")
    if isinstance(shape, int):
        shape = [shape]
    return get_default_graph().create_op(
        "Placeholder", (), {"shape": TensorShape(shape), "dtype": dtypes.as_dtype(dtype)},
        name=name, default_name="Placeholder").outputs[0]


def identity(input, name: str | None = None) -> Tensor:
    from graphjit.ops._util import convert_to_tensor
    return make("Identity", [convert_to_tensor(input)], name=name, default_name="Identity")


def stop_gradient(input, name: str | None = None) -> Tensor:
    """Identity whose gradient is zero: back-propagation stops here."""
    from graphjit.ops._util import convert_to_tensor
    return make("StopGradient", [convert_to_tensor(input)], name=name,
                default_name="StopGradient")


__all__ = ["constant", "placeholder", "identity", "stop_gradient", "ALL"]
