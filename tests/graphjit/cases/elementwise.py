"""Cases for elementwise ops: the expectation is computed in float64 NumPy (or
`math` for erf) and compared with the graph's result in the case dtype."""

from __future__ import annotations

import math

import numpy as np

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, broadcastable, uniform

_ALL_NUM = FLOATS + INTS



def _tf_floordiv(x, y):
    """TF's FloorDiv: floor(x / y) for floats (not NumPy's exact-quotient floor_divide)."""
    return np.floor(x / y) if x.dtype.kind == "f" else np.floor_divide(x, y)

def _f64(fn):
    """Compute in float64 whatever the input dtype (an independent oracle)."""
    return lambda *a: fn(*(x.astype(np.float64) if x.dtype.kind == "f" else x for x in a))


def unary(name, build, expected, dtypes=FLOATS, low=-3.0, high=3.0, inputs=None, **kw):
    return Case(name, build, _f64(expected), default_shapes=((2, 3),),
                shapes=broadcastable(1, max_dims=4), dtypes=dtypes,
                inputs=inputs or uniform(low, high), **kw)


def binary(name, build, expected, dtypes=_ALL_NUM, inputs=None, **kw):
    return Case(name, build, _f64(expected), default_shapes=((2, 3), (3,)),
                shapes=broadcastable(2), dtypes=dtypes,
                inputs=inputs or uniform(-5, 5), **kw)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_erf = np.vectorize(math.erf)
_nonzero = (uniform(-5, 5), lambda rng, shape, dtype: (
    np.where(rng.random(shape) < 0.5, -1, 1) * rng.integers(1, 5, size=shape)).astype(dtype))

CASES = [
    unary("negative", tf.negative, np.negative, _ALL_NUM),
    unary("neg_operator", lambda x: -x, np.negative, _ALL_NUM),
    unary("abs", tf.abs, np.abs, _ALL_NUM),
    unary("abs_builtin", lambda x: abs(x), np.abs, _ALL_NUM),
    unary("sign", tf.sign, np.sign, _ALL_NUM),
    unary("exp", tf.exp, np.exp, low=-20, high=20),
    unary("log", tf.log, np.log, low=1e-3, high=100),
    unary("log1p", tf.log1p, np.log1p, low=-0.99, high=10),
    unary("expm1", tf.expm1, np.expm1, low=-10, high=10),
    unary("sqrt", tf.sqrt, np.sqrt, low=0, high=100),
    unary("rsqrt", tf.rsqrt, lambda x: 1 / np.sqrt(x), low=0.01, high=100),
    unary("square", tf.square, np.square, _ALL_NUM),
    unary("reciprocal", tf.reciprocal, lambda x: 1 / x, low=0.1, high=10),
    unary("sin", tf.sin, np.sin, low=-10, high=10),
    unary("cos", tf.cos, np.cos, low=-10, high=10),
    unary("asin", tf.asin, np.arcsin, low=-0.9, high=0.9),
    unary("acos", tf.acos, np.arccos, low=-0.9, high=0.9),
    unary("atan", tf.atan, np.arctan, low=-20, high=20),
    unary("tanh", tf.tanh, np.tanh, low=-10, high=10),
    unary("sigmoid", tf.sigmoid, _sigmoid, low=-30, high=30),
    unary("erf", tf.erf, _erf, low=-4, high=4),
    unary("floor", tf.floor, np.floor, low=-10, high=10),
    unary("ceil", tf.ceil, np.ceil, low=-10, high=10),
    unary("round", tf.round, lambda x: np.round(x), low=-10, high=10),
    unary("round_halves", tf.round, lambda x: np.round(x), dtypes=FLOATS,
          inputs=lambda rng, shape, dtype: (rng.integers(-8, 8, size=shape) / 2).astype(dtype)),
    unary("logical_not", tf.logical_not, np.logical_not, ("bool",)),
    unary("invert_operator", lambda x: ~x, np.logical_not, ("bool",)),
    unary("identity", tf.identity, lambda x: x, _ALL_NUM + ("bool",)),
    unary("stop_gradient", tf.stop_gradient, lambda x: x, FLOATS),
    binary("add", tf.add, np.add),
    binary("add_operator", lambda x, y: x + y, np.add),
    binary("add_scalar", lambda x, y: 2 + x - y * 3, lambda x, y: 2 + x - y * 3),
    binary("subtract", tf.subtract, np.subtract),
    binary("sub_operator", lambda x, y: x - y, np.subtract),
    binary("multiply", tf.multiply, np.multiply),
    binary("mul_operator", lambda x, y: x * y, np.multiply),
    binary("divide", tf.divide, np.divide, inputs=_nonzero),
    binary("div_operator", lambda x, y: x / y, np.divide, inputs=_nonzero),
    binary("realdiv", tf.realdiv, np.divide, FLOATS, inputs=_nonzero),
    binary("floordiv", tf.floordiv, _tf_floordiv, inputs=_nonzero),
    binary("floordiv_operator", lambda x, y: x // y, _tf_floordiv, inputs=_nonzero),
    binary("mod", tf.mod, np.mod, inputs=_nonzero),
    binary("mod_operator", lambda x, y: x % y, np.mod, inputs=_nonzero),
    binary("pow", tf.pow, np.power, FLOATS, inputs=(uniform(0.1, 4), uniform(-3, 3))),
    binary("pow_int", lambda x, y: x ** y, np.power, INTS,
           inputs=(uniform(-4, 4), uniform(0, 4))),
    binary("pow_operator", lambda x, y: x ** y, np.power, FLOATS,
           inputs=(uniform(0.1, 4), uniform(-3, 3))),
    binary("maximum", tf.maximum, np.maximum),
    binary("minimum", tf.minimum, np.minimum),
    binary("equal", tf.equal, np.equal, inputs=uniform(-2, 2)),
    binary("not_equal", tf.not_equal, np.not_equal, inputs=uniform(-2, 2)),
    binary("less", tf.less, np.less, inputs=uniform(-2, 2)),
    binary("less_operator", lambda x, y: x < y, np.less, inputs=uniform(-2, 2)),
    binary("less_equal", tf.less_equal, np.less_equal, inputs=uniform(-2, 2)),
    binary("greater", tf.greater, np.greater, inputs=uniform(-2, 2)),
    binary("greater_equal", tf.greater_equal, np.greater_equal, inputs=uniform(-2, 2)),
    binary("logical_and", tf.logical_and, np.logical_and, ("bool",)),
    binary("logical_or", tf.logical_or, np.logical_or, ("bool",)),
    binary("and_or_operators", lambda x, y: (x & y) | ~y, lambda x, y: (x & y) | ~y, ("bool",)),
    Case("where", lambda c, x, y: tf.where(c, x, y), lambda c, x, y: np.where(c, x, y),
         default_shapes=((2, 3), (3,), (2, 1)), shapes=broadcastable(3), dtypes=_ALL_NUM,
         input_dtypes={0: "bool"}),
    Case("cast_to_int", lambda x: tf.cast(x, tf.int32),
         lambda x: np.trunc(x).astype(np.int32), default_shapes=((2, 3),),
         shapes=broadcastable(1), inputs=uniform(-100, 100)),
    Case("cast_to_float", lambda x: tf.cast(x, tf.float32), lambda x: x.astype(np.float32),
         default_shapes=((2, 3),), shapes=broadcastable(1), dtypes=INTS + ("float64", "bool")),
    Case("cast_to_bool", lambda x: tf.cast(x, tf.bool), lambda x: x != 0,
         default_shapes=((2, 3),), shapes=broadcastable(1), dtypes=_ALL_NUM,
         inputs=uniform(-1, 1)),
]
