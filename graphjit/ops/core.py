"""Source ops (constants, placeholders, placeholder_with_default) and identity-like ops."""

from __future__ import annotations

import numbers

import numpy as np

from codegen.loopir import Fn
from graphjit import dtypes
from graphjit.errors import ResourceExhaustedError, ShapeError, UnsupportedError
from graphjit.graph import Tensor, TensorShape, format_spec, get_default_graph
from graphjit.lower import rules
from graphjit.ops._util import ALL, UnknownDims, check_sizes, constant_array, make, op_errors
from graphjit.registry import (
    Attr,
    AttrKind,
    ElementRule,
    Fusion,
    Host,
    Onnx,
    OpDef,
    RankDependent,
    Scalar,
    register,
)


def _const_infer(specs, attrs):
    value = attrs["value"]
    return value.shape, dtypes.as_dtype(value.dtype)


def _const_reference(*, value):
    return value


def _placeholder_infer(specs, attrs):
    if not attrs["shape"].unknown_rank:
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
    if isinstance(declared, RankDependent):  # shape=None: any rank may be fed
        return None, dtype
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


def _ensure_shape_infer(specs, attrs):
    """The input, whose shape must fit the declared one; the result has the declared
    dims where the input's are unknown (at run time: the value's own shape)."""
    (shape, dtype), = specs
    declared = attrs["shape"]
    if getattr(shape, "unknown_rank", False):
        return declared, dtype
    if not declared.is_compatible_with(shape):
        raise ShapeError(f"shape {format_spec(shape, dtype)} does not fit the required "
                         f"shape {list(declared)} (None = any size)")
    return tuple(d if d is not None else e for d, e in zip(shape, declared)), dtype


# tf.ensure_shape, and what graphjit's builders put where they need a rank from a
# tensor of unknown rank (a keep_prob placeholder made without a shape is a scalar).
register(OpDef("EnsureShape", _ensure_shape_infer, lambda x, *, shape: x, Fusion.VIEW,
               Scalar(Fn.IDENTITY), grad=lambda op, grads: [grads[0]],
               infer_unknown_rank=_ensure_shape_infer, onnx=Onnx("Identity", imported=False),
               attrs={"shape": Attr(AttrKind.SHAPE)}))
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
    # never alias the user's array; C order, as kernels take it (a Fortran-ordered value)
    array = np.array(array, dtype=dtype.np, copy=True, order="C")
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
    """A value fed at run time; None in `shape` marks a dimension known only then, and
    shape=None (the default, as TF's) a tensor whose rank too is known only then: the
    graph is specialized to each fed rank before it runs (graphjit.specialize)."""
    with op_errors("Placeholder", name, "Placeholder", ()):
        dims = None if shape is None or getattr(shape, "unknown_rank", False) \
            else _static_dims(shape)
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
    is `shape`, where None marks dims a fed value may size differently from the default;
    shape=None, a tensor whose rank too is known only when it runs (fed or not)."""
    from graphjit.ops._util import convert_to_tensor
    x = convert_to_tensor(input)
    with op_errors("PlaceholderWithDefault", name, "PlaceholderWithDefault", [x]):
        unknown = shape is None or getattr(shape, "unknown_rank", False)
        declared = UnknownDims() if unknown else TensorShape(_static_dims(shape))
    return make("PlaceholderWithDefault", [x], {"shape": declared}, name=name,
                default_name="PlaceholderWithDefault")


def ensure_shape(x, shape, name: str | None = None) -> Tensor:
    """x, checked to have `shape` (None: any size there) when its value is known, as
    TF's tf.ensure_shape; its static shape is `shape` where x's is unknown."""
    from graphjit.ops._util import convert_to_tensor
    x = convert_to_tensor(x)
    with op_errors("EnsureShape", name, "EnsureShape", [x]):
        declared = TensorShape(None if shape is None else _static_dims(shape))
    if declared.unknown_rank:
        return x
    return make("EnsureShape", [x], {"shape": declared}, name=name, default_name="EnsureShape")


def merge_shapes(a: TensorShape, b: TensorShape) -> TensorShape:
    """The most specific shape both describe (TF's TensorShape.merge_with)."""
    if a.unknown_rank or b.unknown_rank:
        return b if a.unknown_rank else a
    if not a.is_compatible_with(b):
        raise ShapeError(f"Shapes {a} and {b} are incompatible")
    return TensorShape([x if x is not None else y for x, y in zip(a, b)])


def set_static_shape(t: Tensor, shape) -> None:
    """TF's t.set_shape(shape). A placeholder's declared shape narrows (feeds are checked
    against it). Any other tensor becomes, in place, an EnsureShape of what it was, so a
    run whose value contradicts the shape fails naming it, in both engines (the tensor's
    name becomes "<op>/set_shape:0"; what the op computes keeps the old name). That
    needs the tensor to have no consumers yet: narrow it right after making it."""
    merged = merge_shapes(t.shape, TensorShape(None if shape is None else _static_dims(shape)))
    if merged == t.shape and merged.unknown_rank == t.shape.unknown_rank:
        return
    if t.op.type == "Placeholder":
        t.op.attrs["shape"] = merged
        t.shape = merged
        return
    if t.consumers():
        raise UnsupportedError(f"set_shape on '{t.name}', which ops already read: graphjit "
                               "narrows a computed tensor's shape only before it is used; "
                               "call set_shape right after making it, or use tf.ensure_shape")
    op, index = t.op, t.value_index
    inner = Tensor(op, index, t.shape, t.dtype)
    op.outputs = op.outputs[:index] + (inner,) + op.outputs[index + 1:]
    with t.graph.as_default(), t.graph.name_scope(None):
        checked = make("EnsureShape", [inner], {"shape": merged}, name=f"{op.name}/set_shape")
    t.op, t.value_index, t.shape = checked.op, 0, checked.shape
    checked.op.outputs = (t,)


def with_rank(x: Tensor, rank: int, what: str) -> Tensor:
    """x, or where its rank is unknown x declared to have `rank` (checked once a value is
    fed): how builders that need a rank (a scalar keep_prob, matmul's operands) take
    tensors made without a shape. `what` names x in the error."""
    if not x.shape.unknown_rank:
        return x
    return make("EnsureShape", [x], {"shape": TensorShape([None] * rank)},
                default_name=what.replace(" ", "_") + "_rank")


def identity(input, name: str | None = None) -> Tensor:
    from graphjit.ops._util import convert_to_tensor
    return make("Identity", [convert_to_tensor(input)], name=name, default_name="Identity")


def stop_gradient(input, name: str | None = None) -> Tensor:
    """Identity whose gradient is zero: back-propagation stops here."""
    from graphjit.ops._util import convert_to_tensor
    return make("StopGradient", [convert_to_tensor(input)], name=name,
                default_name="StopGradient")


__all__ = ["constant", "placeholder", "placeholder_with_default", "identity", "ensure_shape",
           "stop_gradient", "ALL"]
