"""Reductions over axes (sum, mean, max, min, prod, any, all) and argmax/argmin.

Each reduction is a primitive with the reduced axes as a sorted tuple of
non-negative ints, so later stages never re-normalize user axes. The public
functions take TF1's arguments, aliases included (reduction_indices, keep_dims).
"""

from __future__ import annotations

import warnings

import numpy as np

from codegen.loopir import Fn
from graphjit import dtypes
from graphjit.errors import GraphError, ShapeError
from graphjit.graph import Tensor
from graphjit.lower import standalone
from graphjit.ops import _grad
from graphjit.ops._util import (
    BOOL,
    FLOAT,
    NUMERIC,
    AxesOfRank,
    AxisOfRank,
    axes_for,
    check_dtype,
    convert_operands,
    make,
    normalize_axes,
    normalize_axis,
    op_errors,
    static_value,
    sum_to_axes,
)
from graphjit.registry import (
    Attr,
    AttrKind,
    Fusion,
    KernelBuilder,
    Onnx,
    OpDef,
    RowReduce,
    register,
)


def _reduced_shape(shape, axes, keepdims) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduction_infer(allowed):
    def infer(specs, attrs):
        (shape, dtype), = specs
        check_dtype(dtype, allowed)
        axes = attrs["axes"]
        if any(not 0 <= a < len(shape) for a in axes):
            raise ShapeError(f"axes {list(axes)} out of range for a tensor of rank {len(shape)}")
        return _reduced_shape(shape, axes, attrs["keepdims"]), dtype
    return infer


def _reduction_infer_unknown_rank(allowed):
    """Over all axes of a tensor of unknown rank a scalar; else of unknown rank too."""
    def infer(specs, attrs):
        (_, dtype), = specs
        check_dtype(dtype, allowed)
        axes = attrs["axes"]
        every_axis = isinstance(axes, AxesOfRank) and axes.axis is None
        return (() if every_axis and not attrs["keepdims"] else None), dtype
    return infer


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype: np.dtype):
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


def _int_mean(x, axes, keepdims):
    """TF's integer mean: the sum (in the input dtype) divided by the count, truncated."""
    total = np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)
    count = int(np.prod([x.shape[a] for a in axes]))
    if count == 0:
        return np.zeros_like(total)
    quotient = total // count  # floor; truncation rounds negative quotients up
    return (quotient + ((total % count != 0) & (total < 0))).astype(x.dtype)


def _mean(x, *, axes, keepdims):
    if x.dtype.kind != "f":
        return _int_mean(x, axes, keepdims)
    with warnings.catch_warnings():  # an empty mean is NaN, as in TF, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.mean(x, axis=axes, keepdims=keepdims, dtype=x.dtype)


# (type, accepted dtypes, reference(x, axes, keepdims); empty reductions give TF's identities)
_REDUCTIONS = [
    ("Sum", NUMERIC, lambda x, a, k: np.sum(x, axis=a, keepdims=k, dtype=x.dtype)),
    ("Mean", NUMERIC, lambda x, a, k: _mean(x, axes=a, keepdims=k)),
    ("Prod", NUMERIC, lambda x, a, k: np.prod(x, axis=a, keepdims=k, dtype=x.dtype)),
    ("Max", NUMERIC, lambda x, a, k: np.max(x, axis=a, keepdims=k, initial=_lowest(x.dtype))),
    ("Min", NUMERIC, lambda x, a, k: np.min(x, axis=a, keepdims=k, initial=_highest(x.dtype))),
    ("Any", BOOL, lambda x, a, k: np.any(x, axis=a, keepdims=k)),
    ("All", BOOL, lambda x, a, k: np.all(x, axis=a, keepdims=k)),
]

# -- gradient rules ---------------------------------------------------------------

def _sum_grad(op, grads):
    axes, keepdims = op.attrs["axes"], op.attrs["keepdims"]
    return [_grad.broadcast_like(_grad.unreduce(grads[0], axes, keepdims), op.inputs[0])]


def _mean_grad(op, grads):
    x, axes, keepdims = op.inputs[0], op.attrs["axes"], op.attrs["keepdims"]
    dy = _grad.unreduce(grads[0], axes, keepdims) / _grad.count(x, axes, x.dtype)
    return [_grad.broadcast_like(dy, x)]


def _extremum_grad(op, grads):
    """Max/Min: the gradient goes to the elements equal to the result, shared equally
    between ties (as TF)."""
    from graphjit.ops import elementwise as ew
    x, axes, keepdims = op.inputs[0], op.attrs["axes"], op.attrs["keepdims"]
    y = _grad.unreduce(op.outputs[0], axes, keepdims)
    dy = _grad.unreduce(grads[0], axes, keepdims)
    hit = ew.cast(ew.equal(x, y), x.dtype)
    return [hit * (dy / reduce_sum(hit, axes, keepdims=True))]


def _prod_grad(op, grads):
    """d prod / d x_i = the product of the other elements, exact with zeros: with no
    zero it is prod / x_i; with one zero, the product of the non-zeros at the zero
    and 0 elsewhere; with more, 0 everywhere."""
    from graphjit.ops import elementwise as ew
    x, axes, keepdims = op.inputs[0], op.attrs["axes"], op.attrs["keepdims"]
    dy = _grad.unreduce(grads[0], axes, keepdims)
    zero = ew.equal(x, 0)
    nonzero = ew.where(zero, 1, x)
    others = reduce_prod(nonzero, axes, keepdims=True)
    zeros = reduce_sum(ew.cast(zero, x.dtype), axes, keepdims=True)
    factor = ew.where(ew.equal(zeros, 0), others / nonzero,
                      ew.where(ew.logical_and(zero, ew.equal(zeros, 1)), others, 0))
    return [factor * dy]


_GRADS = {"Sum": _sum_grad, "Mean": _mean_grad, "Max": _extremum_grad,
          "Min": _extremum_grad, "Prod": _prod_grad}

# acc = combine(acc, x), from the value the reference starts from too
_LOWERINGS = {
    "Sum": RowReduce(Fn.ADD, lambda dtype: 0),
    "Mean": RowReduce(Fn.ADD, lambda dtype: 0, mean=True),
    "Prod": RowReduce(Fn.MUL, lambda dtype: 1),
    "Max": RowReduce(Fn.MAXIMUM, _lowest),  # an integer Max starts at MIN, not -MAX
    "Min": RowReduce(Fn.MINIMUM, _highest),
    "Any": RowReduce(Fn.LOGICALOR, lambda dtype: False),
    "All": RowReduce(Fn.LOGICALAND, lambda dtype: True),
}

# Any/All count the true cells (an empty reduction gives False/True): no one ONNX op
_ONNX = {"Sum": Onnx("ReduceSum"), "Mean": Onnx("ReduceMean"), "Prod": Onnx("ReduceProd"),
         "Max": Onnx("ReduceMax"), "Min": Onnx("ReduceMin"), "Any": Onnx(None),
         "All": Onnx(None)}

for _type, _allowed, _ref in _REDUCTIONS:
    register(OpDef(_type, _reduction_infer(_allowed),
                   (lambda ref: lambda x, *, axes, keepdims: ref(x, axes, keepdims))(_ref),
                   Fusion.ROW_REDUCE, _LOWERINGS[_type], differentiable=_type in _GRADS,
                   grad=_GRADS.get(_type),
                   infer_unknown_rank=_reduction_infer_unknown_rank(_allowed),
                   attrs={"axes": Attr(AttrKind.INTS), "keepdims": Attr(AttrKind.BOOL)},
                   onnx=_ONNX[_type]))


# -- SumToShapeOf: the inverse of broadcasting, for gradients -------------------------


def _sum_to_shape_of_infer(specs, attrs):
    (gshape, dtype), (lshape, _) = specs
    check_dtype(dtype, NUMERIC)
    lead = len(gshape) - len(lshape)
    if lead < 0 or any(d is not None and g is not None and d != 1 and d != g
                       for d, g in zip(lshape, gshape[lead:])):
        raise ShapeError(f"shape {list(lshape)} does not broadcast to {list(gshape)}")
    return tuple(lshape), dtype


def _sum_to_shape_of_reference(g, like):
    _sum_to_shape_of_infer([(g.shape, _dt(g)), (like.shape, _dt(like))], {})
    axes, _ = sum_to_axes(g.shape, like.shape)
    return np.sum(g, axis=axes, keepdims=True, dtype=g.dtype).reshape(like.shape)


def _dt(array):
    return dtypes.as_dtype(array.dtype)


def _sum_to_shape_of_grad(op, grads):
    return [_grad.broadcast_like(grads[0], op.inputs[0]), None]


# Reduces the gradient of a broadcast input back to that input's run-time shape when
# static shapes cannot tell which axes were broadcast (graphjit.ops._grad.sum_to).
# Inputs: the gradient and the input itself (read for its shape only).
register(OpDef("SumToShapeOf", _sum_to_shape_of_infer, _sum_to_shape_of_reference,
               Fusion.STANDALONE,
               KernelBuilder("sum_to", standalone.sum_to, identity_if_same_shape=True),
               grad=_sum_to_shape_of_grad, onnx=Onnx(None)))


def _arg_infer(specs, attrs):
    (shape, dtype), = specs
    check_dtype(dtype, NUMERIC)
    axis = attrs["axis"]
    if not 0 <= axis < len(shape):
        raise ShapeError(f"axis {axis} out of range for a tensor of rank {len(shape)}")
    if shape[axis] == 0:
        raise ShapeError(f"cannot take the index of an extremum over an empty axis {axis}")
    check_dtype(attrs["output_type"], {dtypes.int32, dtypes.int64}, "output_type")
    return tuple(d for i, d in enumerate(shape) if i != axis), attrs["output_type"]


def _arg_reference(fn):
    def reference(x, *, axis, output_type):
        return fn(x, axis=axis).astype(output_type.np)
    return reference


_ARG_ATTRS = {"axis": Attr(AttrKind.INT), "output_type": Attr(AttrKind.DTYPE)}
register(OpDef("ArgMax", _arg_infer, _arg_reference(np.argmax), Fusion.STANDALONE,
               KernelBuilder("argreduce", standalone.argreduce(Fn.GREATER)),
               differentiable=False, attrs=_ARG_ATTRS, onnx=Onnx("ArgMax")))
register(OpDef("ArgMin", _arg_infer, _arg_reference(np.argmin), Fusion.STANDALONE,
               KernelBuilder("argreduce", standalone.argreduce(Fn.LESS)),
               differentiable=False, attrs=_ARG_ATTRS, onnx=Onnx("ArgMin")))


# -- public functions ------------------------------------------------------

def _pick(what: str, value, alias_name: str, alias):
    if value is not None and alias is not None:
        raise GraphError(f"give either {what} or {alias_name}, not both")
    return value if value is not None else alias


def _reduction(op_type: str, doc: str):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
           keep_dims=None) -> Tensor:
        (x,) = convert_operands([input_tensor])
        with op_errors(op_type, name, op_type, [x]):
            axis = _pick("axis", axis, "reduction_indices", reduction_indices)
            keepdims = bool(_pick("keepdims", keepdims, "keep_dims", keep_dims))
            if isinstance(axis, Tensor):  # a constant axis tensor, read at build time
                axis = static_value(axis, "axis").tolist()
            axes = axes_for(x, axis)
        if not axes:  # TF returns the input unchanged; an Identity keeps the name
            return make("Identity", [x], name=name, default_name=op_type)
        return make(op_type, [x], {"axes": axes, "keepdims": keepdims}, name=name,
                    default_name=op_type)
    fn.__name__ = "reduce_" + op_type.lower()
    fn.__doc__ = doc + " over `axis` (None: all axes), as TF1's tf." + fn.__name__ + "."
    return fn


reduce_sum = _reduction("Sum", "Sum")
reduce_mean = _reduction("Mean", "Mean (integer inputs: truncated, as in TF)")
reduce_prod = _reduction("Prod", "Product")
reduce_max = _reduction("Max", "Maximum")
reduce_min = _reduction("Min", "Minimum")
reduce_any = _reduction("Any", "Logical or")
reduce_all = _reduction("All", "Logical and")


def _arg(op_type: str):
    def fn(input, axis=None, name=None, dimension=None, output_type=dtypes.int64) -> Tensor:
        (x,) = convert_operands([input])
        with op_errors(op_type, name, op_type, [x]):
            axis = _pick("axis", axis, "dimension", dimension)
            if isinstance(axis, Tensor):  # a constant axis tensor, read at build time
                axis = static_value(axis, "axis").item()
            if x.shape.unknown_rank:
                axis = AxisOfRank(0 if axis is None else int(axis))
            elif x.ndim == 0:
                raise ShapeError("needs a tensor of rank >= 1, got a scalar")
            else:
                axis = normalize_axis(0 if axis is None else axis, x.ndim)
            output_type = dtypes.as_dtype(output_type)
        return make(op_type, [x], {"axis": axis, "output_type": output_type}, name=name,
                    default_name=op_type)
    fn.__name__ = op_type.lower()
    fn.__doc__ = (f"Index of the {op_type[3:].lower()}imum along `axis` (default 0, as TF1); "
                  "ties give the first index.")
    return fn


def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None,
                     reduction_indices=None, keep_dims=None) -> Tensor:
    """log(sum(exp(x))) over `axis`, stably as TF: m + log(sum(exp(x - m))) with m the
    max (0 where the max is inf or NaN, so those give inf/NaN, not NaN from inf - inf).
    m is a constant for the gradient, which is softmax(x)."""
    from graphjit.ops import elementwise as ew
    from graphjit.ops.core import stop_gradient
    from graphjit.ops.shape_ops import squeeze, zeros_like
    (x,) = convert_operands([input_tensor])
    with op_errors("Max", name, "ReduceLogSumExp", [x]):
        check_dtype(x.dtype, FLOAT)
        axis = _pick("axis", axis, "reduction_indices", reduction_indices)
        keepdims = bool(_pick("keepdims", keepdims, "keep_dims", keep_dims))
        if isinstance(axis, Tensor):
            axis = static_value(axis, "axis").tolist()
        axes = normalize_axes(axis, x.ndim)
    with x.graph.name_scope(name or "ReduceLogSumExp") as scope:
        raw_max = reduce_max(x, axes, keepdims=True)
        shift = stop_gradient(ew.where(ew.is_finite(raw_max), raw_max, zeros_like(raw_max)))
        total = ew.log(reduce_sum(ew.exp(x - shift), axes, keepdims=keepdims))
        if not keepdims and axes:
            shift = squeeze(shift, list(axes))
        return ew.add(total, shift, name=scope)


argmax = _arg("ArgMax")
argmin = _arg("ArgMin")
arg_max = argmax  # TF1's older names (their second argument is `dimension`)
arg_min = argmin

__all__ = ["reduce_sum", "reduce_mean", "reduce_prod", "reduce_max", "reduce_min",
           "reduce_any", "reduce_all", "reduce_logsumexp", "argmax", "argmin", "arg_max", "arg_min"]
