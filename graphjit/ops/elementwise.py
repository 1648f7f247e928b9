"""Elementwise ops: unary math, binary arithmetic with broadcasting, comparisons,
logical ops, select (where) and cast.

Each primitive is one row of a table: its type, the dtypes it accepts, its NumPy
reference and the scalar function the compiler emits for it.
"""

from __future__ import annotations

import math

import numpy as np

from codegen.loopir import Fn
from graphjit import dtypes
from graphjit.errors import DTypeError
from graphjit.graph import Tensor
from graphjit.lower import rules
from graphjit.ops import _grad
from graphjit.ops._util import (
    ALL,
    BOOL,
    FLOAT,
    NUMERIC,
    broadcast_shapes,
    check_dtype,
    convert_operands,
    make,
    op_errors,
    same_dtype,
)
from graphjit.registry import Attr, AttrKind, ElementRule, Fusion, Onnx, OpDef, Scalar, register

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _erf_reference(x):
    return _erf(x).astype(x.dtype)


def _floordiv_reference(x, y):
    """TF's floor(x / y) for floats, as the compiled kernels: NumPy's floor_divide
    takes the floor of the exact quotient (floordiv(1, 0.1) = 9, TF says 10, and
    inf // 2 = nan, TF says inf). Integers divide as NumPy."""
    if np.asarray(x).dtype.kind == "f":
        return np.floor(np.true_divide(x, y))
    return np.floor_divide(x, y)


def _cast_reference(x, *, dtype):
    """x.astype(dtype), with float -> integer defined as the kernels compute it
    (codegen.exact): truncate into int32 (int64 for int64 and uint32), NaN, inf and
    out-of-range values giving that type's minimum, then wrap to the target width (uint64
    also takes [2**63, 2**64) exactly). That is NumPy's
    result on x86-64 at every length (float32 300 -> int8 is 44); elsewhere NumPy's
    out-of-range conversions differ (ARM saturates), and this stays what the kernels do."""
    target = dtype.np
    if x.dtype.kind != "f" or target.kind not in "iu":
        return x.astype(target)
    wide = np.dtype(np.int64 if target in (np.int64, np.uint32, np.uint64) else np.int32)
    bound = np.float64(2.0 ** (wide.itemsize * 8 - 1))  # float16 compares in float64
    with np.errstate(invalid="ignore"):
        inside = (x >= -bound) & (x < bound)
        upper = (x >= bound) & (x < 2.0 ** 64) if target == np.uint64 else None
    value = np.where(inside, x, 0).astype(wide)
    value = np.where(inside, value, np.iinfo(wide).min).astype(target)
    if upper is not None:
        value = np.where(upper, np.where(upper, x, 0).astype(np.uint64), value)
    return value


def _sigmoid_reference(x):
    # Stable on both sides: exp of a non-positive number only.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


# (type, accepted dtypes, NumPy reference, differentiable)
_UNARY = [
    ("Neg", NUMERIC, np.negative, True),
    ("Abs", NUMERIC, np.abs, True),
    ("Sign", NUMERIC, np.sign, False),
    ("Exp", FLOAT, np.exp, True),
    ("Log", FLOAT, np.log, True),
    ("Log1p", FLOAT, np.log1p, True),
    ("Expm1", FLOAT, np.expm1, True),
    ("Sqrt", FLOAT, np.sqrt, True),
    ("Rsqrt", FLOAT, lambda x: (1 / np.sqrt(x)).astype(x.dtype), True),
    ("Square", NUMERIC, np.square, True),
    ("Reciprocal", FLOAT, lambda x: (1 / x).astype(x.dtype), True),
    ("Sin", FLOAT, np.sin, True),
    ("Cos", FLOAT, np.cos, True),
    ("Asin", FLOAT, np.arcsin, True),
    ("Acos", FLOAT, np.arccos, True),
    ("Atan", FLOAT, np.arctan, True),
    ("Tanh", FLOAT, np.tanh, True),
    ("Sigmoid", FLOAT, _sigmoid_reference, True),
    ("Erf", FLOAT, _erf_reference, True),
    ("Floor", FLOAT, np.floor, False),
    ("Ceil", FLOAT, np.ceil, False),
    ("Round", FLOAT, np.round, False),  # half to even, as TF's Round
    ("Relu", NUMERIC, lambda x: np.maximum(x, np.zeros((), x.dtype)), True),
    ("LogicalNot", BOOL, np.logical_not, False),
]

# Equal and NotEqual also compare strings, as TF's do (on the host: graphjit.lower.partition)
_ANY = ALL | {dtypes.string}

# (type, accepted dtypes, NumPy reference, result is bool, differentiable)
_BINARY = [
    ("Add", NUMERIC, np.add, False, True),
    ("Sub", NUMERIC, np.subtract, False, True),
    ("Mul", NUMERIC, np.multiply, False, True),
    ("RealDiv", FLOAT, np.true_divide, False, True),
    ("FloorDiv", NUMERIC, _floordiv_reference, False, False),
    ("FloorMod", NUMERIC, np.mod, False, False),
    ("Pow", NUMERIC, np.power, False, True),
    ("Maximum", NUMERIC, np.maximum, False, True),
    ("Minimum", NUMERIC, np.minimum, False, True),
    ("Equal", _ANY, np.equal, True, False),
    ("NotEqual", _ANY, np.not_equal, True, False),
    ("Less", NUMERIC, np.less, True, False),
    ("LessEqual", NUMERIC, np.less_equal, True, False),
    ("Greater", NUMERIC, np.greater, True, False),
    ("GreaterEqual", NUMERIC, np.greater_equal, True, False),
    ("LogicalAnd", BOOL, np.logical_and, True, False),
    ("LogicalOr", BOOL, np.logical_or, True, False),
]


def _unary_infer(allowed):
    def infer(specs, attrs):
        (shape, dtype), = specs
        check_dtype(dtype, allowed)
        return shape, dtype
    return infer


def _binary_infer(allowed, boolean):
    def infer(specs, attrs):
        dtype = same_dtype(specs)
        check_dtype(dtype, allowed, "inputs")
        return broadcast_shapes(specs[0][0], specs[1][0]), dtypes.bool_ if boolean else dtype
    return infer


def _typed(fn):
    """Run a NumPy ufunc and keep the input dtype (NumPy may widen small ints)."""
    def reference(*arrays):
        out = fn(*arrays)
        return out if out.dtype == np.bool_ else out.astype(arrays[0].dtype, copy=False)
    return reference


# -- gradient rules: grad(op, [dy]) -> one gradient (or None) per input ----------
# Rules are called only for floating outputs; `y` is the op's output, `dy` its gradient.

def _unary_grad(fn):
    def grad(op, grads):
        return [fn(op.inputs[0], op.outputs[0], grads[0])]
    return grad


def _zero_grad(op, grads):
    """TF's rule for Floor, Ceil and Round: no gradient (zero almost everywhere)."""
    return [None]


def _sign_grad(op, grads):
    """TF's rule for Sign: zeros."""
    from graphjit.ops.shape_ops import zeros_like
    return [zeros_like(op.inputs[0])]


def _erf_grad(x, y, dy):
    return dy * (exp(-square(x)) * (2 / math.sqrt(math.pi)))


_UNARY_GRADS = {
    "Neg": lambda x, y, dy: negative(dy),
    "Abs": lambda x, y, dy: dy * sign(x),
    "Exp": lambda x, y, dy: dy * y,
    "Log": lambda x, y, dy: dy / x,
    "Log1p": lambda x, y, dy: dy / (x + 1),
    "Expm1": lambda x, y, dy: dy * (y + 1),
    "Sqrt": lambda x, y, dy: dy / (y * 2),
    "Rsqrt": lambda x, y, dy: dy * (y * y * y) * -0.5,
    "Square": lambda x, y, dy: dy * (x * 2),
    "Reciprocal": lambda x, y, dy: -(dy * (y * y)),
    "Sin": lambda x, y, dy: dy * cos(x),
    "Cos": lambda x, y, dy: -(dy * sin(x)),
    "Asin": lambda x, y, dy: dy * rsqrt(1 - x * x),
    "Acos": lambda x, y, dy: -(dy * rsqrt(1 - x * x)),
    "Atan": lambda x, y, dy: dy / (1 + x * x),
    "Tanh": lambda x, y, dy: dy * (1 - y * y),
    "Sigmoid": lambda x, y, dy: dy * (y * (1 - y)),
    "Erf": _erf_grad,
    "Relu": lambda x, y, dy: where(x > 0, dy, 0),
}
_GRADS = {name: _unary_grad(fn) for name, fn in _UNARY_GRADS.items()}
_GRADS.update(Sign=_sign_grad, Floor=_zero_grad, Ceil=_zero_grad, Round=_zero_grad)


def _binary_grad(fn):
    """A binary rule on full-size gradients; each is then summed back to its input's
    shape (the inverse of broadcasting)."""
    def grad(op, grads):
        x, y = op.inputs
        gx, gy = fn(x, y, op.outputs[0], grads[0])
        # x * x broadcasts nothing, whatever its unknown dims
        return [None if gx is None else _grad.sum_to(gx, x, [] if x is y else [y.shape]),
                None if gy is None else _grad.sum_to(gy, y, [] if x is y else [x.shape])]
    return grad


def _pow_grad(x, y, z, dy):
    # d/dy x**y = x**y log x, taken as 0 where x <= 0 (as TF: no NaN from log of x <= 0).
    safe_log = where(x > 0, log(where(x > 0, x, 1)), 0)
    return dy * y * pow(x, y - 1), dy * z * safe_log


_GRADS.update({
    "Add": _binary_grad(lambda x, y, z, dy: (dy, dy)),
    "Sub": _binary_grad(lambda x, y, z, dy: (dy, negative(dy))),
    "Mul": _binary_grad(lambda x, y, z, dy: (dy * y, dy * x)),
    "RealDiv": _binary_grad(lambda x, y, z, dy: (dy / y, negative(dy * z / y))),
    "Pow": _binary_grad(_pow_grad),
    # Ties send the gradient to x, as TF's (x >= y for Maximum, x <= y for Minimum).
    "Maximum": _binary_grad(lambda x, y, z, dy: (where(x >= y, dy, 0), where(x >= y, 0, dy))),
    "Minimum": _binary_grad(lambda x, y, z, dy: (where(x <= y, dy, 0), where(x <= y, 0, dy))),
    "FloorMod": _binary_grad(lambda x, y, z, dy: (dy, negative(dy * floordiv(x, y)))),
})


def _select_grad(op, grads):
    c, x, y = op.inputs
    dy = grads[0]
    return [None,
            _grad.sum_to(where(c, dy, 0), x, [c.shape, y.shape]),
            _grad.sum_to(where(c, 0, dy), y, [c.shape, x.shape])]


def _cast_grad(op, grads):
    x = op.inputs[0]
    if not (x.dtype.is_floating and op.outputs[0].dtype.is_floating):
        return [None]
    return [cast(grads[0], x.dtype)]


# Worth computing once and parking in a row kernel rather than recomputing per pass.
_EXPENSIVE = {"Exp", "Log", "Log1p", "Expm1", "Tanh", "Sigmoid", "Erf", "Sin", "Cos", "Pow",
              "Asin", "Acos", "Atan"}
# Lowered by a rule rather than by the scalar function named like the op.
_RULES = {"Pow": rules.pow_}


# ONNX counterparts: one to one (graphjit.onnx generates both directions from this)...
_ONNX_SAME = {
    "Neg": "Neg", "Abs": "Abs", "Sign": "Sign", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
    "Reciprocal": "Reciprocal", "Sin": "Sin", "Cos": "Cos", "Tanh": "Tanh",
    "Asin": "Asin", "Acos": "Acos", "Atan": "Atan",
    "Sigmoid": "Sigmoid", "Erf": "Erf", "Floor": "Floor", "Ceil": "Ceil", "Round": "Round",
    "LogicalNot": "Not", "Add": "Add", "Sub": "Sub", "Mul": "Mul", "Equal": "Equal",
    "Less": "Less", "LessEqual": "LessOrEqual", "Greater": "Greater",
    "GreaterEqual": "GreaterOrEqual", "LogicalAnd": "And", "LogicalOr": "Or",
}
# ... or composed where the semantics differ (dtypes, rounding, accuracy near 0).
_ONNX_COMPOSED = {
    "RealDiv": "Div", "Pow": "Pow", "Maximum": "Max", "Minimum": "Min", "FloorMod": "Mod",
    "Relu": "Relu", "FloorDiv": None, "NotEqual": None, "Square": None, "Rsqrt": None,
    "Log1p": None, "Expm1": None,
}


def _onnx(op_type: str) -> Onnx:
    if op_type in _ONNX_SAME:
        return Onnx(_ONNX_SAME[op_type], same=True)
    return Onnx(_ONNX_COMPOSED[op_type])


def _lowering(op_type: str):
    if op_type in _RULES:
        return ElementRule(_RULES[op_type], expensive=op_type in _EXPENSIVE)
    return Scalar(Fn(op_type.lower()), expensive=op_type in _EXPENSIVE)


for _type, _allowed, _ref, _diff in _UNARY:
    register(OpDef(_type, _unary_infer(_allowed), _typed(_ref), Fusion.ELEMENTWISE,
                   _lowering(_type), differentiable=_diff or _type in _GRADS,
                   grad=_GRADS.get(_type), onnx=_onnx(_type)))

for _type, _allowed, _ref, _bool, _diff in _BINARY:
    register(OpDef(_type, _binary_infer(_allowed, _bool), _typed(_ref), Fusion.ELEMENTWISE,
                   _lowering(_type), differentiable=_diff or _type in _GRADS,
                   grad=_GRADS.get(_type), onnx=_onnx(_type)))


def _select_infer(specs, attrs):
    (cshape, cdtype), x, y = specs
    check_dtype(cdtype, BOOL, "condition")
    dtype = same_dtype([x, y], "x and y")
    return broadcast_shapes(cshape, x[0], y[0]), dtype


def _cast_infer(specs, attrs):
    (shape, dtype), = specs
    if dtype.is_string or attrs["dtype"].is_string:  # TF's Cast refuses them too
        raise DTypeError(f"cannot cast {dtype} to {attrs['dtype']}: strings and numbers do "
                         "not convert into each other")
    return shape, attrs["dtype"]


register(OpDef("Select", _select_infer, lambda c, x, y: np.where(c, x, y), Fusion.ELEMENTWISE,
               Scalar(Fn.SELECT), grad=_select_grad, onnx=Onnx("Where", same=True)))
# Cast's rule passes gradients between float dtypes only; a cast to an integer or
# bool has no floating output, which is what blocks gradients (graphjit.autodiff).
register(OpDef("Cast", _cast_infer, _cast_reference, Fusion.ELEMENTWISE,
               ElementRule(rules.cast), attrs={"dtype": Attr(AttrKind.DTYPE)},
               grad=_cast_grad, onnx=Onnx("Cast")))


# -- public functions ------------------------------------------------------

def _unary(op_type, default_name=None):
    def fn(x, name=None):
        (x,) = convert_operands([x])
        return make(op_type, [x], name=name, default_name=default_name or op_type)
    fn.__name__ = op_type
    fn.__doc__ = f"Elementwise {op_type} (TF's tf.math op of that name)."
    return fn


def _binary(op_type, default_name=None):
    def fn(x, y, name=None):
        x, y = convert_operands([x, y])
        return make(op_type, [x, y], name=name, default_name=default_name or op_type)
    fn.__name__ = op_type
    fn.__doc__ = f"Elementwise {op_type} with NumPy broadcasting."
    return fn


negative = _unary("Neg")
abs = _unary("Abs")  # noqa: A001 - TF's name
sign = _unary("Sign")
exp = _unary("Exp")
log = _unary("Log")
log1p = _unary("Log1p")
expm1 = _unary("Expm1")
sqrt = _unary("Sqrt")
rsqrt = _unary("Rsqrt")
square = _unary("Square")
reciprocal = _unary("Reciprocal")
sin = _unary("Sin")
cos = _unary("Cos")
asin = _unary("Asin")
acos = _unary("Acos")
atan = _unary("Atan")
tanh = _unary("Tanh")
sigmoid = _unary("Sigmoid")
erf = _unary("Erf")
floor = _unary("Floor")
ceil = _unary("Ceil")
round = _unary("Round")  # noqa: A001 - TF's name
logical_not = _unary("LogicalNot")

add = _binary("Add")
subtract = _binary("Sub")
multiply = _binary("Mul")
realdiv = _binary("RealDiv")
floordiv = _binary("FloorDiv", "floordiv")
floormod = _binary("FloorMod")
mod = floormod
pow = _binary("Pow")  # noqa: A001 - TF's name
maximum = _binary("Maximum")
minimum = _binary("Minimum")
equal = _binary("Equal")
not_equal = _binary("NotEqual")
less = _binary("Less")
less_equal = _binary("LessEqual")
greater = _binary("Greater")
greater_equal = _binary("GreaterEqual")
logical_and = _binary("LogicalAnd")
logical_or = _binary("LogicalOr")


def divide(x, y, name=None) -> Tensor:
    """True division; integer inputs are cast to float64 first (TF's truediv)."""
    x, y = convert_operands([x, y])
    if x.dtype == y.dtype and not x.dtype.is_floating:
        x, y = cast(x, dtypes.float64), cast(y, dtypes.float64)
    return make("RealDiv", [x, y], name=name, default_name="truediv")


truediv = divide


def where(condition, x=None, y=None, name=None) -> Tensor:
    """Elements of x where condition holds, else of y (broadcasting, as TF2's where)."""
    if x is None or y is None:
        from graphjit.errors import UnsupportedError
        raise UnsupportedError("where(condition) without x and y returns a data-dependent "
                               "shape, which graphjit does not support; pass x and y")
    x, y = convert_operands([x, y])
    (condition,) = convert_operands([condition])
    return make("Select", [condition, x, y], name=name, default_name="SelectV2")


def cast(x, dtype, name=None) -> Tensor:
    """Convert to `dtype` (floats to ints truncate toward zero, as TF and NumPy)."""
    (x,) = convert_operands([x])
    dtype = dtypes.as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return make("Cast", [x], {"dtype": dtype}, name=name, default_name="Cast")


def to_float(x, name="ToFloat") -> Tensor:
    return cast(x, dtypes.float32, name=name)


def _float_test(x, name, default_name: str, test) -> Tensor:
    (x,) = convert_operands([x])
    with op_errors(default_name, name, default_name, [x]):
        check_dtype(x.dtype, FLOAT)
    with x.graph.name_scope(name or default_name) as scope:
        return test(x, scope)


def is_nan(x, name=None) -> Tensor:
    """True where x is NaN (x != x), as TF's tf.math.is_nan."""
    return _float_test(x, name, "IsNan", lambda x, scope: not_equal(x, x, name=scope))


def is_inf(x, name=None) -> Tensor:
    """True where x is +inf or -inf, as TF's tf.math.is_inf."""
    return _float_test(x, name, "IsInf", lambda x, scope: equal(abs(x), np.inf, name=scope))


def is_finite(x, name=None) -> Tensor:
    """True where x is neither inf nor NaN (|x| < inf), as TF's tf.math.is_finite."""
    return _float_test(x, name, "IsFinite", lambda x, scope: less(abs(x), np.inf, name=scope))


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "annotations", "math", "np", "dtypes", "Tensor", "OpDef", "register", "make", "ALL",
    "BOOL", "FLOAT", "NUMERIC", "broadcast_shapes", "check_dtype",
    "convert_operands", "same_dtype", "op_errors")]
