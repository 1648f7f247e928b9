"""Random draws whose shape is known only at run time: `tf.random_normal(tf.shape(z))`,
`tf.random_uniform([tf.shape(x)[0], 10])`, `tf.truncated_normal(tf.shape(h))`.

Buffers are planned from shapes, never from values, so a run-time shape is traced back,
when the graph is built, to the tensors it measures: each dim is a constant or dim `axis`
of some tensor (`tf.shape(t)`, `tf.shape(t)[i]`, slices, `tf.stack`/`tf.concat`/casts of
those). One RandomLike op then draws with the shape those dims have in a run: its
inputs are the measured tensors and a float64[2] `key` (a RandomUniform draw, new each
run, seeded by TF's rules); its `dims` attr says where each dim comes from. Like
dropout's mask (graphjit.ops.dropout), the values are a pure function of the key, so
the reference and a compiled plan (which runs the op as a host step) draw the same
numbers for the same graph seed. A shape computed from values (a sum, a placeholder
of sizes) is refused with an error naming the tensor.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, GraphError, ShapeError, UnsupportedError
from graphjit.graph import Tensor, TensorShape
from graphjit.ops._util import FLOAT, check_dtype, make
from graphjit.ops.state_ops import _DRAWS, _float_dtype
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register

Dim = int | tuple  # a static size, or (tensor, axis): that tensor's size along axis
STATIC = -1  # the source of a static size in the `dims` attr


def key_generator(key: np.ndarray) -> np.random.Generator:
    """The generator a float64[2] key in [0, 1) seeds: 53 random bits from each value."""
    return np.random.default_rng((np.asarray(key, np.float64) * 2.0**53).astype(np.uint64))


# -- tracing a shape to the tensors it measures ---------------------------------------------

def _unsupported(t: Tensor) -> UnsupportedError:
    return UnsupportedError(
        f"shape tensor '{t.name}' ({t.op.type}) is computed from values at run time; "
        "graphjit draws random values of a run-time shape when each dim is a constant or "
        "a dim of a tensor (tf.shape(t), tf.shape(t)[i], and tf.stack / tf.concat / "
        "slices of those), as buffers are planned from shapes, not values")


def _const(t: Tensor) -> np.ndarray:
    value = np.asarray(t.op.attrs["value"])
    if value.dtype.kind not in "iu":
        raise DTypeError(f"shape must be integers, got {value.dtype} tensor '{t.name}'")
    return value


def _vector_dims(t: Tensor) -> list[Dim]:
    """The dims a 1-D shape tensor holds."""
    op = t.op
    if op.type == "Const":
        return [int(v) for v in _const(t).reshape(-1)]
    if op.type == "Shape":
        x = op.inputs[0]
        return [(x, axis) if size is None else size for axis, size in enumerate(x.shape)]
    if op.type in ("Identity", "Cast"):
        return _vector_dims(op.inputs[0])
    if op.type == "StridedSlice" and len(op.attrs["slices"]) == 1 and t.ndim == 1:
        return _vector_dims(op.inputs[0])[slice(*op.attrs["slices"][0])]
    if op.type == "ConcatV2" and t.ndim == 1:
        return [d for part in op.inputs for d in _vector_dims(part)]
    if op.type == "ExpandDims" and op.inputs[0].ndim == 0:
        return [_scalar_dim(op.inputs[0])]
    raise _unsupported(t)


def _scalar_dim(t: Tensor) -> Dim:
    """The dim a 0-D tensor holds."""
    op = t.op
    if op.type == "Const":
        return int(_const(t))
    if op.type in ("Identity", "Cast"):
        return _scalar_dim(op.inputs[0])
    if op.type == "Squeeze" and op.inputs[0].shape == (1,):
        return _vector_dims(op.inputs[0])[0]
    raise _unsupported(t)


def run_time_dims(shape) -> list[Dim] | None:
    """The dims of a shape argument that holds a run-time tensor, each a static size or
    (tensor, axis); None for a shape known when the graph is built, and then left to
    static_ints."""
    if isinstance(shape, Tensor):
        if shape.op.type == "Const":
            return None
        dims = _vector_dims(shape) if shape.ndim == 1 else [_scalar_dim(shape)]
    elif isinstance(shape, (list, tuple)) and any(isinstance(d, Tensor) for d in shape):
        dims = [_scalar_dim(d) if isinstance(d, Tensor) else d for d in shape]
    else:
        return None
    for d in dims:
        if isinstance(d, tuple):
            continue
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise DTypeError(f"shape must be integers, got {d!r}")
        if d < 0:
            raise ShapeError(f"shape must not be negative, got {d}")
    return [d if isinstance(d, tuple) else int(d) for d in dims]


# -- the op ------------------------------------------------------------------------------

def _shape_from(dims, like_shapes) -> tuple:
    return tuple(size if source == STATIC else like_shapes[source][size]
                 for source, size in dims)


def _random_like_infer(specs, attrs):
    *likes, (key_shape, key_dtype) = specs
    if key_dtype != dtypes.float64 or not TensorShape(key_shape).is_compatible_with([2]):
        raise DTypeError(f"the key must be float64[2], got {key_dtype}{list(key_shape)}")
    check_dtype(attrs["dtype"], FLOAT, "dtype")
    if attrs["draw"] not in _DRAWS:
        raise GraphError(f"draw must be one of {sorted(_DRAWS)}, got {attrs['draw']!r}")
    for source, size in attrs["dims"]:
        if source == STATIC and size < 0:
            raise ShapeError(f"a static size must not be negative, got {size}")
        if source != STATIC and not (0 <= source < len(likes)
                                     and 0 <= size < len(likes[source][0])):
            raise ShapeError(f"dim ({source}, {size}) names no dim of the like inputs "
                             f"{[list(s) for s, _ in likes]}")
    return _shape_from(attrs["dims"], [s for s, _ in likes]), attrs["dtype"]


def _random_like_reference(*inputs, draw, dims, dtype):
    *likes, key = inputs
    shape = _shape_from(dims, [np.shape(x) for x in likes])
    values = _DRAWS[draw](key_generator(key), shape, _float_dtype(dtype))
    return values.astype(dtype.np, copy=False)


register(OpDef("RandomLike", _random_like_infer, _random_like_reference, Fusion.HOST,
               Host("drawn by NumPy from its key input, as the reference does"),
               differentiable=False,
               attrs={"draw": Attr(AttrKind.STR), "dims": Attr(AttrKind.INT_PAIRS),
                      "dtype": Attr(AttrKind.DTYPE)},
               onnx=NoOnnx("its values come from a key input drawn each run, which no ONNX "
                           "random op takes; export a graph with static random shapes")))


def random_like(draw: str, dims: list[Dim], dtype: dtypes.DType, key: Tensor,
                name: str | None) -> Tensor:
    """A `draw` ("RandomStandardNormal", "RandomUniform", "TruncatedNormal") of the
    run-time shape `dims` (from run_time_dims), from `key`."""
    likes: list[Tensor] = []
    pairs = []
    for d in dims:
        if not isinstance(d, tuple):
            pairs.append((STATIC, d))
            continue
        tensor, axis = d
        index = next((i for i, t in enumerate(likes) if t is tensor), None)
        if index is None:
            index = len(likes)
            likes.append(tensor)
        pairs.append((index, axis))
    return make("RandomLike", [*likes, key], {"draw": draw, "dims": tuple(pairs), "dtype": dtype},
                name=name, default_name=draw)


__all__: list[str] = []
