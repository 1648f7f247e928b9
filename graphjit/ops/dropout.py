"""tf.nn.dropout, and the random draw it needs: uniform values of a run-time shape.

The random ops of graphjit.ops.state_ops draw a static shape before a run (a plan
input), but dropout's mask takes the shape of x, whose batch dim is often known only
when fed. So the mask is drawn by RandomUniformLike: uniform [0, 1) values with the
shape of its `like` input, a pure function of a `key` input, which is a float64[2]
RandomUniform draw, new each run. A plan runs it as a host step, on the key the run
drew; the reference runs the same function, so both engines draw the same mask.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, InvalidArgumentError, ShapeError
from graphjit.graph import Tensor, TensorShape
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    FLOAT,
    UnknownDims,
    check_dtype,
    convert_operands,
    make,
    op_errors,
    static_value,
)
from graphjit.ops.core import with_rank
from graphjit.ops.random_like import key_generator
from graphjit.ops.state_ops import _float_dtype, _random
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register


def _like_shape(shape, like_shape) -> tuple:
    """`shape` with each None taken from `like_shape` (same rank then)."""
    if all(d is not None for d in shape):
        return tuple(shape)
    if len(shape) != len(like_shape):
        raise ShapeError(f"shape {TensorShape(shape)} takes its unknown dims from the like "
                         f"input, of another rank: {TensorShape(like_shape)}")
    return tuple(b if a is None else a for a, b in zip(shape, like_shape))


def _uniform_like_infer(specs, attrs):
    (like_shape, _), (key_shape, key_dtype) = specs
    if key_dtype != dtypes.float64 or not TensorShape(key_shape).is_compatible_with([2]):
        raise DTypeError(f"the key must be float64[2], got {key_dtype}{list(key_shape)}")
    check_dtype(attrs["dtype"], FLOAT, "dtype")
    return _like_shape(attrs["shape"], like_shape), attrs["dtype"]


def _uniform_like_reference(like, key, *, shape, dtype):
    values = key_generator(key).random(_like_shape(shape, like.shape), dtype=_float_dtype(dtype))
    return values.astype(dtype.np, copy=False)


register(OpDef("RandomUniformLike", _uniform_like_infer, _uniform_like_reference, Fusion.HOST,
               Host("drawn by NumPy from its key input, as the reference does"),
               differentiable=False,
               attrs={"dtype": Attr(AttrKind.DTYPE), "shape": Attr(AttrKind.SHAPE)},
               onnx=NoOnnx("its values come from a key input drawn each run, which ONNX's "
                           "RandomUniformLike does not take; export a graph built without "
                           "dropout")))


def _probability(value, what: str, x: Tensor):
    """keep_prob or rate: a float in range, or a scalar tensor of x's dtype."""
    if isinstance(value, Tensor):
        if value.dtype != x.dtype:
            raise DTypeError(f"{what} has dtype {value.dtype}, x has {x.dtype}; they must match")
        if value.shape.unknown_rank:  # a keep_prob placeholder made without a shape
            return with_rank(value, 0, what)
        if value.ndim != 0:
            raise ShapeError(f"{what} must be a scalar tensor, got shape {value.shape}")
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise InvalidArgumentError(f"{what} must be a scalar tensor or a float, got {value!r}")
    low, high = ("(0", "1]") if what == "keep_prob" else ("[0", "1)")
    inside = 0 < value <= 1 if what == "keep_prob" else 0 <= value < 1
    if not inside:
        raise InvalidArgumentError(f"{what} must be a scalar tensor or a float in the range "
                                   f"{low}, {high}, got {value}")
    return float(value)


def _noise_shape(x: Tensor, noise_shape) -> TensorShape:
    """The mask's shape, None where it is x's dim. A dim computed at run time (e.g.
    `tf.shape(x)[0]`) is taken to be x's: TF requires each dim to be x's or 1."""
    if noise_shape is None:
        return UnknownDims() if x.shape.unknown_rank else TensorShape([None] * x.ndim)
    if isinstance(noise_shape, Tensor):
        if noise_shape.op.type == "Shape" and noise_shape.op.inputs[0] is x:
            return TensorShape([None] * x.ndim)
        noise_shape = static_value(noise_shape, "noise_shape").tolist()
    dims = []
    for d in noise_shape:
        if isinstance(d, Tensor):
            d = static_value(d, "noise_shape").item() if d.op.type == "Const" else None
        dims.append(None if d is None else int(d))
    if len(dims) > x.ndim or (None in dims and len(dims) != x.ndim):
        raise ShapeError(f"noise_shape {dims} does not fit x of shape {x.shape}")
    for n, d in zip(dims[::-1], x.shape[::-1]):
        if n is not None and n != 1 and d is not None and n != d:
            raise ShapeError(f"noise_shape {dims} does not broadcast to x's shape {x.shape}: "
                             "each dim must be 1 or x's")
    return TensorShape(dims)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None) -> Tensor:
    """TF1's tf.nn.dropout: each value of x is kept with probability keep_prob = 1 - rate
    and scaled by 1 / keep_prob, else set to 0, so the expected sum is unchanged.

    keep_prob (or rate) is a float or a scalar tensor, typically a placeholder fed 0.5
    in training and 1.0 in test, which keeps every value. `noise_shape` shares one draw
    along dims given as 1 (e.g. [batch, 1, 1, channels]); the mask is drawn anew each
    run, the gradient flowing to the kept values. `seed` follows TF's seeding.
    """
    (x,) = convert_operands([x])
    with op_errors("dropout", name, "dropout", [x]):
        if not x.dtype.is_floating:
            raise DTypeError(f"x has to be a floating point tensor since it's going to be "
                             f"scaled. Got a {x.dtype} tensor instead.")
        if keep_prob is not None and rate is not None:
            raise InvalidArgumentError("cannot specify both 'keep_prob' and 'rate'")
        if keep_prob is None and rate is None:
            raise InvalidArgumentError("you must provide a rate (or keep_prob) to dropout")
        what = "keep_prob" if keep_prob is not None else "rate"
        given = _probability(keep_prob if keep_prob is not None else rate, what, x)
        noise = _noise_shape(x, noise_shape)
    if not isinstance(given, Tensor) and given == (1.0 if what == "keep_prob" else 0.0):
        return x  # nothing is dropped (TF returns x itself)
    with x.graph.name_scope(name or "dropout") as scope:
        key = _random("RandomUniform", [2], dtypes.float64, seed, "key")
        return _masked(x, given, what, noise, key, scope)


def dropout_with_key(x: Tensor, keep_prob, key: Tensor, name: str = "dropout") -> Tensor:
    """tf.nn.dropout(x, keep_prob) with its mask drawn from the float64[2] `key` given,
    not a key drawn here: for a while loop's body, which may not draw (a recurrent
    cell's dropout takes a key drawn before the loop, varied per step)."""
    (x,) = convert_operands([x])
    with op_errors("dropout", name, "dropout", [x]):
        given = _probability(keep_prob, "keep_prob", x)
        noise = _noise_shape(x, None)
    with x.graph.name_scope(name) as scope:
        return _masked(x, given, "keep_prob", noise, key, scope)


def _masked(x: Tensor, given, what: str, noise, key: Tensor, scope: str) -> Tensor:
    if isinstance(given, Tensor):
        rate = ew.subtract(1.0, given, name="rate") if what == "keep_prob" else given
        scale = ew.divide(1.0, ew.subtract(1.0, rate), name="scale")
    else:
        rate = 1.0 - given if what == "keep_prob" else given
        scale = 1.0 / (1.0 - rate)
    uniform = make("RandomUniformLike", [x, key], {"shape": noise, "dtype": x.dtype},
                   name="random_uniform")
    keep = ew.cast(ew.greater_equal(uniform, rate), x.dtype)
    return ew.multiply(x * scale, keep, name=scope)


__all__ = ["dropout"]
