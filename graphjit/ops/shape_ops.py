"""Shape ops: reshape, transpose, expand/squeeze, concat/stack, tile, broadcast_to, pad,
the filled tensors (zeros, ones, fill, range, *_like) and shape/size/rank.

Shape-like arguments are static attrs (ints and tuples), read at build time:
graphjit plans its buffers from static shapes, so it takes -1 and unknown
placeholder dims but not shapes computed at run time. Public functions
canonicalize negative axes; an axis still out of range is left for `infer`
to report, where the error gets the op's name and the user's line.
Indexing (getitem, slice, split, gather) lives in graphjit.ops.indexing.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, GraphError, ShapeError, UnsupportedError
from graphjit.graph import Tensor, TensorShape
from graphjit.lower import rules, standalone
from graphjit.ops import _grad
from graphjit.ops._util import (
    INT,
    NUMERIC,
    check_dtype,
    constant_array,
    convert_operands,
    convert_to_tensor,
    graph_of,
    make,
    normalize_axes,
    normalize_axis,
    op_errors,
    same_dtype,
)
from graphjit.ops.indexing import (
    INDEX_DTYPES,
    canonical_axis,
    copy,
    gather,
    getitem,
    op_error,
    slice,
    split,
    static_int,
    static_ints,
    static_value,
    strided_slice,
    unstack,
)
from graphjit.registry import (
    Attr,
    AttrKind,
    ElementRule,
    Fusion,
    KernelBuilder,
    Onnx,
    OpDef,
    register,
)

newaxis = None


def _fmt(shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


# -- shape and dtype inference ---------------------------------------------------

def _reshape_infer(specs, attrs):
    (shape, dtype), = specs
    target = tuple(attrs["shape"])
    if any(d < -1 for d in target) or target.count(-1) > 1:
        raise ShapeError(f"target shape {list(target)} may hold one -1 and otherwise sizes >= 0")
    known = math.prod(d for d in target if d != -1)
    size = TensorShape(shape).num_elements()
    out = list(target)
    if -1 in target:
        if size is None:
            out[target.index(-1)] = None
        elif known == 0 or size % known:
            raise ShapeError(f"cannot reshape {size} elements into shape {list(target)}")
        else:
            out[target.index(-1)] = size // known
    elif size is not None and size != known:
        raise ShapeError(f"cannot reshape {size} elements into shape {list(target)} "
                         f"({known} elements)")
    elif size is None:  # the known dims of the input still divide its size
        part = math.prod(d for d in shape if d is not None)
        if (part == 0 and known != 0) or (part and known % part):
            raise ShapeError(f"a tensor of shape {_fmt(shape)} cannot be reshaped into "
                             f"{list(target)} ({known} elements)")
    return tuple(out), dtype


def _transpose_infer(specs, attrs):
    (shape, dtype), = specs
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(builtins.range(len(shape))):
        raise ShapeError(f"perm {list(perm)} is not a permutation of the {len(shape)} axes "
                         "of the input")
    return tuple(shape[p] for p in perm), dtype


def _expand_dims_infer(specs, attrs):
    (shape, dtype), = specs
    axis = normalize_axis(attrs["axis"], len(shape) + 1)
    return tuple(shape[:axis]) + (1,) + tuple(shape[axis:]), dtype


def _squeeze_axes(shape, axes) -> tuple[int, ...]:
    if axes is None:  # only dims known to be 1: the result's rank is fixed at build time
        return tuple(i for i, d in enumerate(shape) if d == 1)
    if axes and not shape:
        raise ShapeError(f"cannot squeeze axes {list(axes)} of a scalar")
    axes = normalize_axes(list(axes), len(shape))
    for a in axes:
        if shape[a] is not None and shape[a] != 1:
            raise ShapeError(f"cannot squeeze axis {a} of size {shape[a]}: only size-1 axes "
                             "can be squeezed")
    return axes


def _squeeze_infer(specs, attrs):
    (shape, dtype), = specs
    axes = _squeeze_axes(shape, attrs["axes"])
    return tuple(d for i, d in enumerate(shape) if i not in axes), dtype


def _concat_infer(specs, attrs):
    if not specs:
        raise ShapeError("concat needs at least one tensor")
    dtype = same_dtype(specs, "values")
    shapes = [s for s, _ in specs]
    rank = len(shapes[0])
    if rank == 0:
        raise ShapeError("cannot concatenate scalars (stack them instead)")
    if any(len(s) != rank for s in shapes):
        raise ShapeError("values must have the same rank, got shapes " +
                         ", ".join(_fmt(s) for s in shapes))
    axis = normalize_axis(attrs["axis"], rank)
    out = []
    for i in builtins.range(rank):
        dims = [s[i] for s in shapes]
        if i == axis:
            out.append(None if None in dims else sum(dims))
            continue
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            raise ShapeError(f"shapes {', '.join(_fmt(s) for s in shapes)} differ in "
                             f"dimension {i}; only axis {axis} may differ")
        out.append(known.pop() if known else None)
    return tuple(out), dtype


def _tile_infer(specs, attrs):
    (shape, dtype), = specs
    multiples = tuple(attrs["multiples"])
    if len(multiples) != len(shape) or any(m < 0 for m in multiples):
        raise ShapeError(f"multiples {list(multiples)} must hold one count >= 0 per dimension "
                         f"of the input (rank {len(shape)})")
    return tuple(0 if m == 0 else None if d is None else d * m
                 for d, m in zip(shape, multiples)), dtype


def _broadcast_to_infer(specs, attrs):
    (shape, dtype), = specs
    target = tuple(attrs["shape"])
    lead = len(target) - len(shape)
    if lead < 0 or any(d < 0 for d in target) or any(
            d is not None and d != 1 and d != t for d, t in zip(shape, target[lead:])):
        raise ShapeError(f"shape {_fmt(shape)} cannot be broadcast to {list(target)}")
    return target, dtype


_PAD_MODES = ("CONSTANT", "REFLECT", "SYMMETRIC")


def _pad_infer(specs, attrs):
    (shape, dtype), = specs
    paddings, mode = attrs["paddings"], attrs["mode"]
    if mode not in _PAD_MODES:
        raise GraphError(f"mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    if len(paddings) != len(shape):
        raise ShapeError(f"paddings need one (before, after) pair per dimension: got "
                         f"{len(paddings)} for rank {len(shape)}")
    out = []
    for axis, ((before, after), n) in enumerate(zip(paddings, shape)):
        limit = None if n is None or mode == "CONSTANT" else n - (mode == "REFLECT")
        if min(before, after) < 0 or (limit is not None and max(before, after) > limit):
            raise ShapeError(f"{mode} padding ({before}, {after}) does not fit axis {axis} "
                             f"of size {'?' if n is None else n}")
        out.append(None if n is None else n + before + after)
    return tuple(out), dtype


def _range_length(start, limit, delta) -> int:
    if delta == 0:
        raise ShapeError("delta must not be zero")
    if (delta > 0 and start > limit) or (delta < 0 and start < limit):
        raise ShapeError(f"start {start} cannot reach limit {limit} with delta {delta}")
    if all(isinstance(v, int) for v in (start, limit, delta)):
        return len(builtins.range(start, limit, delta))
    return math.ceil((limit - start) / delta)


def _range_infer(specs, attrs):
    check_dtype(attrs["dtype"], NUMERIC, "Range")
    return (_range_length(attrs["start"], attrs["limit"], attrs["delta"]),), attrs["dtype"]


def _range_reference(*, start, limit, delta, dtype):
    n = _range_length(start, limit, delta)
    if dtype.is_integer:
        return np.arange(start, limit, delta, dtype=dtype.np)
    return (start + delta * np.arange(n, dtype=np.float64)).astype(dtype.np)


def _fill_infer(specs, attrs):
    shape = tuple(attrs["shape"])
    if any(d < 0 for d in shape):
        raise ShapeError(f"shape {list(shape)} has a negative dimension")
    return shape, _fill_dtype(attrs["dtype"])


def _fill_dtype(dtype):
    if dtype.is_string:  # (its value attr is a number)
        raise DTypeError("a fill makes numbers or bools, not strings; build a string tensor "
                         "with graphjit.constant")
    return dtype


def _shape_infer(specs, attrs):
    (shape, _), = specs
    check_dtype(attrs["out_type"], INDEX_DTYPES, "out_type")
    return (len(shape),), attrs["out_type"]


def _squeeze_reference(x, *, axes):
    if axes is None:
        return copy(np.squeeze(x))
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"Squeeze: axis {a} has size {x.shape[a]} at run time; only "
                             "size-1 axes can be squeezed")
    return copy(np.squeeze(x, axis=tuple(axes)))


def _pad_reference(x, *, paddings, mode, constant_value):
    if x.ndim == 0:
        return copy(x)  # np.pad rejects the empty paddings of a scalar
    if mode == "CONSTANT":
        return np.pad(x, paddings, mode="constant", constant_values=constant_value)
    return np.pad(x, paddings, mode=mode.lower())


def _reshape_like_infer(specs, attrs):
    (shape, dtype), (like, _) = specs
    size, target = TensorShape(shape).num_elements(), TensorShape(like).num_elements()
    if size is not None and target is not None and size != target:
        raise ShapeError(f"cannot reshape {size} elements into the shape {_fmt(like)} of "
                         f"{target} elements")
    return tuple(like), dtype


def _reshape_like_reference(x, like):
    if x.size != like.size:
        raise ShapeError(f"ReshapeLike: cannot reshape {x.size} elements into shape "
                         f"{list(like.shape)} at run time")
    return copy(x.reshape(like.shape))


# -- gradient rules ---------------------------------------------------------------

def _reshape_grad(op, grads):
    return [_grad.reshape_like(grads[0], op.inputs[0])]


def _reshape_like_grad(op, grads):
    return [_grad.reshape_like(grads[0], op.inputs[0]), None]


def _transpose_grad(op, grads):
    perm = op.attrs["perm"]
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return [transpose(grads[0], inverse)]


def _expand_dims_grad(op, grads):
    return [squeeze(grads[0], [op.attrs["axis"]])]


def _squeeze_grad(op, grads):
    x = op.inputs[0]
    axes = _squeeze_axes(x.shape, op.attrs["axes"])
    dy = grads[0]
    for a in sorted(axes):
        dy = expand_dims(dy, a)
    return [dy]


def _concat_grad(op, grads):
    """Each input's gradient is its slice of the output's gradient along `axis`; the
    slices are static, so at most one input may have an unknown size there."""
    axis, dy = op.attrs["axis"], grads[0]
    sizes = [x.shape[axis] for x in op.inputs]
    if sizes.count(None) > 1:
        from graphjit.ops.run_time_range import concat_grad_by_gather
        return concat_grad_by_gather(op, dy)
    from graphjit.ops.indexing import _split_bounds
    full = [(None, None, 1)] * dy.ndim
    return [make("StridedSlice", [dy], {"slices": tuple(
        full[:axis] + [(start, stop, 1)] + full[axis + 1:])})
        for start, stop in _split_bounds([-1 if n is None else n for n in sizes])]


def _tile_grad(op, grads):
    """Tile's output, reshaped to (multiple, size) pairs, summed over the multiples."""
    x, dy, multiples = op.inputs[0], grads[0], op.attrs["multiples"]
    if all(m == 1 for m in multiples):
        return [dy]
    if 0 in multiples or 0 in x.shape:
        return [zeros_like(x)]
    target, summed = [], []
    for n, m in zip(x.shape, multiples):
        if m != 1:
            summed.append(len(target))
            target.append(m)
        target.append(-1 if n is None else n)
    if target.count(-1) > 1:
        raise UnsupportedError(
            f"the gradient of {op.describe()} needs the sizes of the tiled input at build "
            "time (at most one may be unknown)")
    from graphjit.ops.reductions import reduce_sum
    return [reduce_sum(reshape(dy, target), summed)]


def _broadcast_to_grad(op, grads):
    return [_grad.sum_to(grads[0], op.inputs[0], [op.attrs["shape"]])]


def _pad_grad(op, grads):
    """CONSTANT: the interior slice. REFLECT/SYMMETRIC: the interior plus the mirrored
    borders folded back, axis by axis. Every slice counts from an end of the axis, so
    its size need not be known when the gradient is built."""
    x, dy = op.inputs[0], grads[0]
    paddings, mode = op.attrs["paddings"], op.attrs["mode"]
    full = [(None, None, 1)] * x.ndim

    def cut(t, axis, s):
        return make("StridedSlice", [t], {"slices": tuple(full[:axis] + [s] + full[axis + 1:])})

    def add_at(t, axis, start, stop, piece):
        """t with `piece` added to t[start:stop] along `axis` (None: an open end)."""
        parts = [cut(t, axis, (None, start, 1))] if start not in (0, None) else []
        parts.append(make("Add", [cut(t, axis, (start, stop, 1)), piece]))
        if stop is not None:
            parts.append(cut(t, axis, (stop, None, 1)))
        return parts[0] if len(parts) == 1 else concat(parts, axis, name=None)

    if mode == "CONSTANT":
        return [make("StridedSlice", [dy], {"slices": tuple(
            (b, -a if a else None, 1) for b, a in paddings)})] if x.ndim else [dy]
    shift = 1 if mode == "REFLECT" else 0
    for axis, (b, a) in enumerate(paddings):
        if not b and not a:
            continue
        folded = cut(dy, axis, (b, -a if a else None, 1))  # the interior: x's own cells
        if b:  # dy[b-1], ..., dy[0] land on x[shift], ..., x[shift + b - 1]
            folded = add_at(folded, axis, shift, shift + b, cut(dy, axis, (b - 1, None, -1)))
        if a:  # dy[-1], ..., dy[-a] land on x[-a-shift], ..., x[-1-shift]
            tail = cut(dy, axis, (None, -a - 1, -1))
            folded = add_at(folded, axis, -a - shift, -shift if shift else None, tail)
        dy = folded
    return [dy]


def _no_gradient(op, grads):
    """The output depends on the input's shape only: its gradient is zero (None)."""
    return [None] * len(op.inputs)


_GRADS = {"Reshape": _reshape_grad, "ReshapeLike": _reshape_like_grad,
          "Transpose": _transpose_grad, "ExpandDims": _expand_dims_grad,
          "Squeeze": _squeeze_grad, "ConcatV2": _concat_grad, "Tile": _tile_grad,
          "BroadcastTo": _broadcast_to_grad, "Pad": _pad_grad, "FillLike": _no_gradient}

_VIEW, _INDEX = Fusion.VIEW, Fusion.INDEX
_UNIT_RESHAPE = ElementRule(rules.unit_reshape)  # fused only where size-1 dims change

# (type, infer, reference, differentiable, fusion, lowering)
_PRIMITIVES = [
    ("Reshape", _reshape_infer, lambda x, *, shape: copy(x.reshape(shape)), True,
     _VIEW, _UNIT_RESHAPE),
    # x reshaped to the run-time shape of `like` (read for its shape only): the gradient
    # of a reshape whose input has several dims unknown at build time.
    ("ReshapeLike", _reshape_like_infer, _reshape_like_reference, True, _VIEW, _UNIT_RESHAPE),
    ("Transpose", _transpose_infer, lambda x, *, perm: copy(np.transpose(x, perm)), True,
     _INDEX, ElementRule(rules.transpose)),
    ("ExpandDims", _expand_dims_infer, lambda x, *, axis: copy(np.expand_dims(x, axis)), True,
     _VIEW, _UNIT_RESHAPE),
    ("Squeeze", _squeeze_infer, _squeeze_reference, True, _VIEW, _UNIT_RESHAPE),
    ("ConcatV2", _concat_infer, lambda *xs, axis: np.concatenate(xs, axis=axis), True,
     _INDEX, ElementRule(rules.concat)),
    ("Tile", _tile_infer, lambda x, *, multiples: np.tile(x, multiples), True,
     _INDEX, ElementRule(rules.tile)),
    ("BroadcastTo", _broadcast_to_infer,
     lambda x, *, shape: copy(np.broadcast_to(x, shape)), True,
     _INDEX, ElementRule(rules.broadcast_to)),
    ("Pad", _pad_infer, _pad_reference, True, _INDEX, ElementRule(rules.pad)),
    ("Range", _range_infer, _range_reference, False, _INDEX, ElementRule(rules.range_)),
    ("Fill", _fill_infer, lambda *, shape, value, dtype: np.full(shape, value, dtype.np), False,
     _INDEX, ElementRule(rules.fill)),
    ("FillLike", lambda specs, attrs: (specs[0][0], _fill_dtype(attrs["dtype"])),
     lambda x, *, value, dtype: np.full(x.shape, value, dtype.np), True,
     _INDEX, ElementRule(rules.fill)),
    ("Shape", _shape_infer, lambda x, *, out_type: np.array(x.shape, out_type.np), False,
     Fusion.STANDALONE, KernelBuilder("shape", standalone.shape_value, shape_only=True)),
]

_INT, _INTS, _DTYPE = Attr(AttrKind.INT), Attr(AttrKind.INTS), Attr(AttrKind.DTYPE)
_NUMBER, _SHAPE = Attr(AttrKind.NUMBER), Attr(AttrKind.SHAPE)
_ATTRS = {
    "Reshape": {"shape": _SHAPE}, "Transpose": {"perm": _INTS}, "ExpandDims": {"axis": _INT},
    "Squeeze": {"axes": _INTS}, "ConcatV2": {"axis": _INT}, "Tile": {"multiples": _INTS},
    "BroadcastTo": {"shape": _SHAPE},
    "Pad": {"paddings": Attr(AttrKind.INT_PAIRS), "mode": Attr(AttrKind.STR),
            "constant_value": _NUMBER},
    "Range": {"start": _NUMBER, "limit": _NUMBER, "delta": _NUMBER, "dtype": _DTYPE},
    "Fill": {"shape": _SHAPE, "value": _NUMBER, "dtype": _DTYPE},
    "FillLike": {"value": _NUMBER, "dtype": _DTYPE}, "Shape": {"out_type": _DTYPE},
}

_ONNX = {
    "Reshape": Onnx("Reshape"), "ReshapeLike": Onnx(None), "Transpose": Onnx("Transpose"),
    "ExpandDims": Onnx("Unsqueeze"), "Squeeze": Onnx("Squeeze"), "ConcatV2": Onnx("Concat"),
    "Tile": Onnx("Tile"), "BroadcastTo": Onnx("Expand"), "Pad": Onnx("Pad"),
    "Range": Onnx("Range"), "Fill": Onnx("ConstantOfShape"), "FillLike": Onnx(None),
    "Shape": Onnx("Shape"),
}

# Where an input's rank is unknown: reshaping gives the target's rank all the same (its
# -1 unknown); the shape of a tensor is a vector of unknown length.
_UNKNOWN_RANK_INFERS = {
    "Reshape": lambda specs, attrs: _reshape_infer([((None,), specs[0][1])], attrs),
    "Shape": lambda specs, attrs: ((None,), _shape_infer([((), specs[0][1])], attrs)[1]),
}

for _type, _infer, _ref, _diff, _fusion, _lowering in _PRIMITIVES:
    register(OpDef(_type, _infer, _ref, _fusion, _lowering, differentiable=_diff,
                   grad=_GRADS.get(_type), attrs=_ATTRS.get(_type, {}), onnx=_ONNX[_type],
                   infer_unknown_rank=_UNKNOWN_RANK_INFERS.get(_type)))


# -- public functions ------------------------------------------------------------

def reshape(tensor, shape, name: str | None = None) -> Tensor:
    """`tensor` with a new static shape; one dimension may be -1 (inferred)."""
    x = convert_to_tensor(tensor)
    with op_errors("Reshape", name, "Reshape", [x]):
        shape = static_ints(shape, "shape")
    return make("Reshape", [x], {"shape": shape}, name=name, default_name="Reshape")


def transpose(a, perm=None, name: str | None = "transpose", conjugate: bool = False) -> Tensor:
    """Permute the axes; perm=None reverses them. (Real dtypes only: conjugate is a no-op.)"""
    x = convert_to_tensor(a)
    with op_errors("Transpose", name, "transpose", [x]):
        perm = tuple(builtins.range(x.ndim))[::-1] if perm is None else static_ints(perm, "perm")
    return make("Transpose", [x], {"perm": tuple(canonical_axis(p, x.ndim) for p in perm)},
                name=name, default_name="transpose")


def expand_dims(input, axis=None, name: str | None = None, dim=None) -> Tensor:
    """Insert a size-1 axis at `axis` (TF1's deprecated `dim` is accepted too)."""
    x = convert_to_tensor(input)
    axis = dim if axis is None else axis
    with op_errors("ExpandDims", name, "ExpandDims", [x]):
        if axis is None:
            raise ShapeError("axis is required")
        axis = canonical_axis(static_int(axis, "axis"), x.ndim + 1)
    return make("ExpandDims", [x], {"axis": axis}, name=name, default_name="ExpandDims")


def squeeze(input, axis=None, name: str | None = None, squeeze_dims=None) -> Tensor:
    """Remove size-1 axes: the given ones, or all those known to be 1 at build time."""
    x = convert_to_tensor(input)
    axis = squeeze_dims if axis is None else axis
    if axis is None:
        axes = _squeeze_axes(x.shape, None)
    else:
        with op_errors("Squeeze", name, "Squeeze", [x]):
            axes = tuple(sorted(canonical_axis(a, x.ndim) for a in static_ints(axis, "axis")))
    return make("Squeeze", [x], {"axes": axes}, name=name, default_name="Squeeze")


def concat(values, axis, name: str | None = "concat") -> Tensor:
    """Join tensors along an existing axis; the others must match."""
    values = convert_operands(list(values) if isinstance(values, (list, tuple)) else [values])
    with op_errors("ConcatV2", name, "concat", values):
        axis = static_int(axis, "axis")
    if values:
        axis = canonical_axis(axis, values[0].ndim)
    return make("ConcatV2", values, {"axis": axis}, name=name, default_name="concat")


def stack(values, axis=0, name: str | None = "stack") -> Tensor:
    """Join same-shape tensors along a new axis (ExpandDims each, then ConcatV2)."""
    values = convert_operands(list(values))
    if not values:
        raise op_error(ShapeError, "ConcatV2", name, "stack", [], "stack needs a tensor")
    with op_errors("ConcatV2", name, "stack", values):
        axis = canonical_axis(static_int(axis, "axis"), values[0].ndim + 1)
    with values[0].graph.name_scope(name or "stack") as scope:
        expanded = [make("ExpandDims", [v], {"axis": axis}) for v in values]
        return make("ConcatV2", expanded, {"axis": axis}, name=scope)


def tile(input, multiples, name: str | None = None) -> Tensor:
    """Repeat the tensor `multiples[i]` times along axis i."""
    x = convert_to_tensor(input)
    with op_errors("Tile", name, "Tile", [x]):
        multiples = static_ints(multiples, "multiples")
    return make("Tile", [x], {"multiples": multiples}, name=name, default_name="Tile")


def broadcast_to(input, shape, name: str | None = None) -> Tensor:
    """Broadcast to a static shape with NumPy's rules."""
    x = convert_to_tensor(input)
    with op_errors("BroadcastTo", name, "BroadcastTo", [x]):
        shape = static_ints(shape, "shape")
    return make("BroadcastTo", [x], {"shape": shape}, name=name, default_name="BroadcastTo")


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name: str | None = None) -> Tensor:
    """Pad each axis by (before, after): with a constant, or mirrored (REFLECT, SYMMETRIC)."""
    x = convert_to_tensor(tensor)
    with op_errors("Pad", name, "Pad", [x]):
        p = static_value(paddings, "paddings")
        if p.size == 0 and x.ndim == 0:
            p = np.zeros((0, 2), np.int64)
        if p.ndim != 2 or p.shape[1] != 2 or p.dtype.kind not in "iu":
            raise ShapeError(f"paddings must be integer (before, after) pairs, one per "
                             f"dimension; got {paddings!r}")
        value = constant_array(static_value(constant_values, "constant_values"), x.dtype)[0]
    return make("Pad", [x], {"paddings": tuple((int(b), int(a)) for b, a in p),
                             "mode": str(mode).upper(), "constant_value": value.item()},
                name=name, default_name="Pad")


def _filled(shape, value, dtype: dtypes.DType, name, default_name) -> Tensor:
    if (isinstance(shape, Tensor) and shape.op.type == "Shape"
            and not shape.op.inputs[0].shape.is_fully_defined()):
        # zeros(shape(x)), the TF1 idiom for a run-time shape, is zeros_like(x).
        return make("FillLike", [shape.op.inputs[0]], {"value": value, "dtype": dtype},
                    name=name, default_name=default_name)
    with op_errors("Fill", name, default_name, ()):
        shape = static_ints(shape, "shape")
    return make("Fill", [], {"shape": shape, "value": value, "dtype": dtype}, name=name,
                default_name=default_name)


def zeros(shape, dtype=dtypes.float32, name: str | None = None) -> Tensor:
    """Zeros of a static shape, or of `shape(x)` for a tensor x of unknown dims."""
    dtype = dtypes.as_dtype(dtype)
    with graph_of(shape).as_default():
        return _filled(shape, np.zeros((), dtype.np).item(), dtype, name, "zeros")


def ones(shape, dtype=dtypes.float32, name: str | None = None) -> Tensor:
    """Ones of a static shape, or of `shape(x)` for a tensor x of unknown dims."""
    dtype = dtypes.as_dtype(dtype)
    with graph_of(shape).as_default():
        return _filled(shape, np.ones((), dtype.np).item(), dtype, name, "ones")


def fill(dims, value, name: str | None = None) -> Tensor:
    """A tensor of shape `dims` filled with the scalar `value` (dtype from the value)."""
    graph = graph_of(dims, value)
    if isinstance(value, Tensor) and value.op.type != "Const":
        with op_errors("BroadcastTo", name, "Fill", [value]):
            dims = static_ints(dims, "dims")
        return make("BroadcastTo", [value], {"shape": dims}, name=name,
                    default_name="Fill")  # a run-time scalar: broadcast it
    if isinstance(value, Tensor):
        array, dtype = value.op.attrs["value"], value.dtype
    else:
        array, dtype = constant_array(value)
    if np.ndim(array) != 0:
        raise op_error(ShapeError, "Fill", name, "Fill", [], f"value must be a scalar, got "
                       f"shape {list(np.shape(array))}")
    with graph.as_default():
        return _filled(dims, np.asarray(array).item(), dtype, name, "Fill")


def _filled_like(tensor, value, dtype, name, default_name) -> Tensor:
    x = convert_to_tensor(tensor)
    dtype = x.dtype if dtype is None else dtypes.as_dtype(dtype)
    return make("FillLike", [x], {"value": np.array(value, dtype.np).item(), "dtype": dtype},
                name=name, default_name=default_name)


def zeros_like(tensor, dtype=None, name: str | None = None, optimize: bool = True) -> Tensor:
    """Zeros with the (run-time) shape of `tensor`; `optimize` is accepted for TF1 code."""
    return _filled_like(tensor, 0, dtype, name, "zeros_like")


def ones_like(tensor, dtype=None, name: str | None = None, optimize: bool = True) -> Tensor:
    """Ones with the (run-time) shape of `tensor`."""
    return _filled_like(tensor, 1, dtype, name, "ones_like")


_RANGE_ORDER = (dtypes.int32, dtypes.int64, dtypes.float32, dtypes.float64)


def _is_static(t: Tensor) -> bool:
    try:
        static_value(t, "range bound")
    except UnsupportedError:
        return False
    return True


def range(start, limit=None, delta=1, dtype=None, name: str | None = "range") -> Tensor:  # noqa: A001
    """[start, limit) by delta; range(n) counts from 0 (TF: int32, or float32 if any
    argument is a float)."""
    args = [start, limit, delta] if limit is not None else [0, start, delta]
    if isinstance(args[1], Tensor) and not _is_static(args[1]):
        from graphjit.ops.run_time_range import range_to_dim
        counted = range_to_dim(args[0], args[1], args[2], dtype or args[1].dtype)
        if counted is not None:
            return counted
    values = []
    with op_errors("Range", name, "range", [a for a in args if isinstance(a, Tensor)]):
        for v in args:
            if isinstance(v, Tensor):
                values.append((static_value(v, "range bound").item(), v.dtype))
            else:
                array, dt = constant_array(v)
                values.append((array.item(), dt))
        if dtype is None:
            found = [dt for _, dt in values]
            dtype = max(found, key=lambda d: _RANGE_ORDER.index(d) if d in _RANGE_ORDER else -1)
        dtype = dtypes.as_dtype(dtype)
        if not dtype.is_numeric:
            raise DTypeError(f"dtype must be numeric, got {dtype}")
    kind = int if dtype.is_integer else float
    start, limit, delta = (kind(v) for v, _ in values)
    return make("Range", [], {"start": start, "limit": limit, "delta": delta, "dtype": dtype},
                name=name, default_name="range")


def shape(input, name: str | None = None, out_type=dtypes.int32) -> Tensor:
    """The run-time shape of `input` as a vector (its static shape is `input.shape`)."""
    x = convert_to_tensor(input)
    return make("Shape", [x], {"out_type": dtypes.as_dtype(out_type)}, name=name,
                default_name="Shape")


def size(input, name: str | None = None, out_type=dtypes.int32) -> Tensor:
    """The number of elements: a constant when the shape is static, else a product of Shape."""
    from graphjit.ops.core import constant
    x = convert_to_tensor(input)
    out_type = dtypes.as_dtype(out_type)
    with graph_of(x).as_default():
        n = x.shape.num_elements()
        if n is not None:
            return constant(n, dtype=out_type, name=name or "Size")
        with x.graph.name_scope(name or "Size") as scope:
            dims = shape(x, out_type=out_type)
            if x.shape.unknown_rank:
                from graphjit.ops.reductions import reduce_prod
                return reduce_prod(dims, name=scope)
            result = getitem(dims, 0, name=scope if x.ndim == 1 else None)
            for i in builtins.range(1, x.ndim):
                last = i == x.ndim - 1
                result = make("Mul", [result, getitem(dims, i)], name=scope if last else None)
            return result


def rank(input, name: str | None = None) -> Tensor:
    """The rank: an int32 constant, or where it is unknown until a value is fed the
    size of the tensor's shape."""
    from graphjit.ops.core import constant
    x = convert_to_tensor(input)
    with graph_of(x).as_default():
        if x.shape.unknown_rank:
            return size(shape(x), name=name or "Rank")
        return constant(x.ndim, dtype=dtypes.int32, name=name or "Rank")


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None,
            name: str | None = None) -> Tensor:
    """One-hot rows along a new `axis` (default last): Equal(indices, Range) then Select.
    Negative or too-large indices give rows of off_value, as in TF."""
    graph = graph_of(indices, on_value, off_value)
    idx = convert_to_tensor(indices, graph=graph)
    if idx.dtype not in INT:
        raise op_error(DTypeError, "OneHot", name, "one_hot", [idx],
                       f"indices must be integers, got {idx.dtype}")
    with op_errors("OneHot", name, "one_hot", [idx]):
        depth = static_int(depth, "depth")
        if depth < 0:
            raise ShapeError(f"depth must be >= 0, got {depth}")
    if dtype is None:
        given = [v for v in (on_value, off_value) if v is not None]
        dtype = (given[0].dtype if isinstance(given[0], Tensor) else constant_array(given[0])[1]
                 ) if given else dtypes.float32
    dtype = dtypes.as_dtype(dtype)
    out_rank = idx.ndim + 1
    with op_errors("OneHot", name, "one_hot", [idx]):
        axis = canonical_axis(-1 if axis is None else static_int(axis, "axis"), out_rank)
        normalize_axis(axis, out_rank)
    with graph.as_default(), graph.name_scope(name or "one_hot") as scope:
        if idx.dtype not in INDEX_DTYPES:
            idx = make("Cast", [idx], {"dtype": dtypes.int32})
        classes = make("Range", [], {"start": 0, "limit": depth, "delta": 1, "dtype": idx.dtype})
        trailing = out_rank - 1 - axis
        if trailing:
            classes = make("Reshape", [classes], {"shape": (depth,) + (1,) * trailing})
        hit = make("Equal", [make("ExpandDims", [idx], {"axis": axis}), classes])
        if on_value is None and off_value is None:
            return make("Cast", [hit], {"dtype": dtype}, name=scope)
        on = convert_to_tensor(1 if on_value is None else on_value, dtype=dtype, graph=graph)
        off = convert_to_tensor(0 if off_value is None else off_value, dtype=dtype, graph=graph)
        return make("Select", [hit, on, off], name=scope)


__all__ = [
    "reshape", "transpose", "expand_dims", "squeeze", "concat", "stack", "tile",
    "broadcast_to", "pad", "zeros", "ones", "fill", "zeros_like", "ones_like", "range",
    "shape", "size", "rank", "one_hot", "newaxis",
    # from graphjit.ops.indexing
    "getitem", "strided_slice", "slice", "split", "unstack", "gather",
]
