"""ONNX converters for math: elementwise arithmetic, comparisons and logic, the variadic
Max/Min/Sum/Mean, reductions, ArgMax/ArgMin and CumSum.

ONNX semantics that differ from graphjit's (TF's) are composed here: integer Div
truncates toward zero, Pow mixes base and exponent types, Mod has two modes,
reductions take axes as an attribute or (newer opsets) an input.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter


def static_ints(ctx: NodeContext, i: int, what: str) -> list[int]:
    """Input i as a list of Python ints (it must be known at build time)."""
    return [int(v) for v in np.ravel(ctx.require_static(i, what))]


def axis_of(ctx: NodeContext, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ctx.unsupported(f"axis {axis} is out of range for an input of rank {rank}")
    return axis % max(rank, 1)


# -- elementwise ---------------------------------------------------------------

# (ONNX ops that are one graphjit op each, Add or Tanh, are imported from the registry:
# graphjit.onnx.one_to_one.)

@converter("Xor")
def _xor(ctx: NodeContext) -> Tensor:
    return gj.not_equal(ctx.inputs[0], ctx.inputs[1], name=ctx.name)


@converter("Tan")
def _tan(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return gj.divide(gj.sin(x), gj.cos(x), name=ctx.name)


@converter("Sinh", "Cosh")
def _sinh_cosh(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    up, down = gj.exp(x), gj.exp(gj.negative(x))
    both = gj.subtract(up, down) if ctx.op_type == "Sinh" else gj.add(up, down)
    return gj.multiply(both, 0.5, name=ctx.name)


@converter("Asinh")
def _asinh(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    a = gj.abs(x)  # odd: computed on |x|, where log(a + sqrt(a*a + 1)) does not cancel
    return gj.multiply(gj.sign(x), gj.log(gj.add(a, gj.sqrt(gj.add(gj.multiply(a, a), 1.0)))),
                       name=ctx.name)


@converter("Acosh")
def _acosh(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return gj.log(gj.add(x, gj.sqrt(gj.subtract(gj.multiply(x, x), 1.0))), name=ctx.name)


@converter("Atanh")
def _atanh(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    ratio = gj.divide(gj.add(x, 1.0), gj.subtract(1.0, x))
    return gj.multiply(gj.log(ratio), 0.5, name=ctx.name)


@converter("IsNaN")
def _isnan(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return gj.not_equal(x, x, name=ctx.name)


@converter("IsInf", attrs=("detect_positive", "detect_negative"))
def _isinf(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    pos, neg = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    if pos and neg:
        return gj.equal(gj.abs(x), np.inf, name=ctx.name)
    if pos or neg:
        return gj.equal(x, np.inf if pos else -np.inf, name=ctx.name)
    return gj.logical_and(gj.equal(x, np.inf), gj.equal(x, -np.inf), name=ctx.name)  # never


@converter("Div")
def _div(ctx: NodeContext) -> Tensor:
    a, b = ctx.inputs
    if a.dtype.is_floating:
        return gj.realdiv(a, b, name=ctx.name)
    if a.dtype.is_unsigned:
        return gj.floordiv(a, b, name=ctx.name)
    # ONNX integer division truncates toward zero; graphjit's FloorDiv floors.
    q, r = gj.floordiv(a, b), gj.floormod(a, b)
    adjust = gj.logical_and(gj.not_equal(r, 0), gj.not_equal(gj.less(a, 0), gj.less(b, 0)))
    return gj.add(q, gj.cast(adjust, a.dtype), name=ctx.name)


@converter("Pow")
def _pow(ctx: NodeContext) -> Tensor:
    x, y = ctx.inputs
    if x.dtype == y.dtype:
        return gj.pow(x, y, name=ctx.name)
    # Mixed types: computed in NumPy's promotion of the two, returned in the base's type.
    common = dtypes.as_dtype(np.result_type(x.dtype.np, y.dtype.np))
    z = gj.pow(gj.cast(x, common), gj.cast(y, common))
    return gj.cast(z, x.dtype, name=ctx.name) if common != x.dtype else gj.identity(
        z, name=ctx.name)


@converter("Mod", attrs=("fmod",))
def _mod(ctx: NodeContext) -> Tensor:
    """fmod=0: floor-mod (Python's %, the divisor's sign); Mod-13 defines it for integers
    only, and floats got C's fmod there, Mod-28 made it floor-mod for floats too
    (-4.3 mod 2.1 = 2.0, -3 mod inf = inf). fmod=1: C's fmod (the dividend's sign)."""
    a, b = ctx.inputs
    fmod = ctx.attr("fmod", 0)
    floor = not fmod and (not a.dtype.is_floating or ctx.version >= 28)
    if floor or a.dtype.is_unsigned:
        return gj.floormod(a, b, name=ctx.name)
    if a.dtype.is_floating:
        # |a| floor-mod |b| is fmod's magnitude, finite for an infinite divisor (-3 fmod inf
        # = -3), NaN for an infinite dividend or a zero divisor, as C's fmod.
        magnitude = gj.floormod(gj.abs(a), gj.abs(b))
        return gj.where(gj.less(a, 0), gj.negative(magnitude), magnitude, name=ctx.name)
    r = gj.floormod(a, b)  # integers: the divisor's sign, moved to the dividend's
    wrong_sign = gj.logical_and(gj.not_equal(r, 0), gj.not_equal(gj.less(r, 0), gj.less(a, 0)))
    return gj.where(wrong_sign, gj.subtract(r, b), r, name=ctx.name)


def _fold(ctx: NodeContext, fn) -> Tensor:
    xs = [t for t in ctx.inputs if t is not None]
    if len(xs) == 1:
        return gj.identity(xs[0], name=ctx.name)
    out = xs[0]
    for i, x in enumerate(xs[1:]):
        out = fn(out, x, name=ctx.name if i == len(xs) - 2 else None)
    return out


@converter("Max")
def _max(ctx: NodeContext) -> Tensor:
    return _fold(ctx, gj.maximum)


@converter("Min")
def _min(ctx: NodeContext) -> Tensor:
    return _fold(ctx, gj.minimum)


@converter("Sum")
def _sum(ctx: NodeContext) -> Tensor:
    return _fold(ctx, gj.add)


@converter("Mean")
def _mean(ctx: NodeContext) -> Tensor:
    xs = [t for t in ctx.inputs if t is not None]
    total = _fold(ctx, gj.add) if len(xs) > 1 else xs[0]
    return gj.divide(total, np.array(len(xs), xs[0].dtype.np), name=ctx.name)


# -- reductions ----------------------------------------------------------------

def _reduce_args(ctx: NodeContext, input_since: int) -> tuple[list[int] | None, bool]:
    """(axes, keepdims); axes None means all of them, [] means none (noop_with_empty_axes)."""
    if ctx.opset >= input_since:
        axes = static_ints(ctx, 1, "axes") if ctx.input(1) is not None else None
    else:
        axes = ctx.attr("axes")
    keepdims = bool(ctx.attr("keepdims", 1))
    if not axes:
        return ([] if ctx.attr("noop_with_empty_axes", 0) else None), keepdims
    rank = ctx.inputs[0].ndim
    return sorted({axis_of(ctx, a, rank) for a in axes}), keepdims


def _reduction(ctx: NodeContext, fn, input_since: int = 18, x: Tensor | None = None,
               name: str | None = None) -> Tensor:
    x = ctx.inputs[0] if x is None else x
    axes, keepdims = _reduce_args(ctx, input_since)
    if axes == []:
        return gj.identity(x, name=name)
    return fn(x, axis=axes, keepdims=keepdims, name=name)


_REDUCE_ATTRS = ("axes", "keepdims", "noop_with_empty_axes")  # axes: before opset 18
_REDUCE = {"ReduceSum": gj.reduce_sum, "ReduceMean": gj.reduce_mean,
           "ReduceProd": gj.reduce_prod, "ReduceMax": gj.reduce_max, "ReduceMin": gj.reduce_min}


@converter(*_REDUCE, attrs=_REDUCE_ATTRS)
def _reduce(ctx: NodeContext) -> Tensor:
    fn = _REDUCE[ctx.op_type]
    if ctx.inputs[0].dtype.is_bool and ctx.op_type in ("ReduceMax", "ReduceMin"):
        fn = gj.reduce_any if ctx.op_type == "ReduceMax" else gj.reduce_all
    return _reduction(ctx, fn, 13 if ctx.op_type == "ReduceSum" else 18, name=ctx.name)


def _in_float(ctx: NodeContext, compute) -> Tensor:
    """Compute in floating point; integer inputs are computed in float64 and cast back
    (as ONNX's reference does)."""
    x = ctx.inputs[0]
    if x.dtype.is_floating:
        return compute(x, ctx.name)
    return gj.cast(compute(gj.cast(x, dtypes.float64), None), x.dtype, name=ctx.name)


@converter("ReduceSumSquare", attrs=_REDUCE_ATTRS)
def _reduce_sum_square(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return _reduction(ctx, gj.reduce_sum, x=gj.multiply(x, x), name=ctx.name)


@converter("ReduceL1", attrs=_REDUCE_ATTRS)
def _reduce_l1(ctx: NodeContext) -> Tensor:
    return _reduction(ctx, gj.reduce_sum, x=gj.abs(ctx.inputs[0]), name=ctx.name)


@converter("ReduceL2", attrs=_REDUCE_ATTRS)
def _reduce_l2(ctx: NodeContext) -> Tensor:
    return _in_float(ctx, lambda x, name: gj.sqrt(
        _reduction(ctx, gj.reduce_sum, x=gj.multiply(x, x)), name=name))


@converter("ReduceLogSum", attrs=_REDUCE_ATTRS)
def _reduce_log_sum(ctx: NodeContext) -> Tensor:
    return _in_float(ctx, lambda x, name: gj.log(_reduction(ctx, gj.reduce_sum, x=x),
                                                 name=name))


@converter("ReduceLogSumExp", attrs=_REDUCE_ATTRS)
def _reduce_log_sum_exp(ctx: NodeContext) -> Tensor:
    def compute(x, name):
        axes, keepdims = _reduce_args(ctx, 18)
        if axes == []:
            return gj.identity(x, name=name)
        m = gj.reduce_max(x, axis=axes, keepdims=True)
        m = gj.where(gj.less(gj.abs(m), np.inf), m, gj.zeros_like(m))  # no inf - inf
        out = gj.add(gj.log(gj.reduce_sum(gj.exp(gj.subtract(x, m)), axis=axes,
                                          keepdims=True)), m)
        if keepdims:
            return gj.identity(out, name=name)
        return gj.squeeze(out, axis=axes if axes is not None else list(range(x.ndim)),
                          name=name)
    return _in_float(ctx, compute)


@converter("ArgMax", "ArgMin", attrs=("axis", "keepdims", "select_last_index"))
def _arg(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    axis = axis_of(ctx, int(ctx.attr("axis", 0)), x.ndim)
    fn = gj.argmax if ctx.op_type == "ArgMax" else gj.argmin
    keepdims = bool(ctx.attr("keepdims", 1))
    if ctx.attr("select_last_index", 0):
        # The last extremum is the first one of the reversed axis.
        reverse = tuple(slice(None, None, -1) if i == axis else slice(None)
                        for i in range(x.ndim))
        index = fn(gj.getitem(x, reverse), axis=axis, output_type=dtypes.int64)
        n = x.shape[axis]
        last = n - 1 if n is not None else gj.subtract(
            gj.getitem(gj.shape(x, out_type=dtypes.int64), axis), np.int64(1))
        index = gj.subtract(last, index)
    else:
        index = fn(x, axis=axis, output_type=dtypes.int64)
    if keepdims:
        return gj.expand_dims(index, axis, name=ctx.name)
    return gj.identity(index, name=ctx.name)


# -- scans ---------------------------------------------------------------------

@converter("CumSum", attrs=("exclusive", "reverse"))
def _cumsum(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    if x.ndim == 0:
        raise ctx.unsupported("the input must have rank >= 1, got a scalar")
    axis = static_ints(ctx, 1, "axis")  # a 0-D tensor (a 1-element 1-D one is read too)
    if len(axis) != 1:
        raise ctx.unsupported(f"axis must hold one value, got {axis}")
    return gj.cumsum(x, axis_of(ctx, axis[0], x.ndim), exclusive=bool(ctx.attr("exclusive", 0)),
                     reverse=bool(ctx.attr("reverse", 0)), name=ctx.name)
