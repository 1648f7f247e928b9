"""Indexing: `Tensor.__getitem__`, strided_slice, slice, split, unstack and gather.

Every slice is one StridedSlice whose attrs are Python slices, so a dimension
unknown at build time is resolved by the slice at run time; integer indices
and newaxis become a Squeeze and ExpandDims after it. Also home of the helpers
that read shape-like arguments at build time, shared with shape_ops.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, Error, ShapeError, UnsupportedError
from graphjit.graph import Tensor, TensorShape
from graphjit.lower import rules, standalone
from graphjit.ops._util import (
    check_gather_indices,
    convert_to_tensor,
    graph_of,
    make,
    normalize_axis,
    op_error,
    op_errors,
    static_value,
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

INDEX_DTYPES = frozenset({dtypes.int32, dtypes.int64})


# -- build-time arguments ------------------------------------------------------

def static_ints(value, what: str) -> tuple[int, ...]:
    """A shape-like argument as a tuple of Python ints (a scalar becomes a 1-tuple)."""
    array = static_value(value, what)
    if array.size == 0:
        return ()
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{what} must be integers, got {value!r}")
    if array.ndim > 1:
        raise ShapeError(f"{what} must be a scalar or a vector, got shape {list(array.shape)}")
    return tuple(int(v) for v in array.ravel())


def static_int(value, what: str) -> int:
    array = static_value(value, what)
    if array.ndim != 0 or array.dtype.kind not in "iu":
        raise DTypeError(f"{what} must be a Python int, got {value!r}")
    return int(array)


def canonical_axis(axis: int, rank: int) -> int:
    """A negative axis made non-negative; an out-of-range one is kept for infer to report."""
    return axis + rank if -rank <= axis < 0 else axis


def check_axis(axis: int, rank: int, what: str = "axis") -> int:
    if rank == 0:
        raise ShapeError(f"{what} {axis} is out of range for a scalar (rank 0)")
    return normalize_axis(axis, rank, what)


def copy(array: np.ndarray) -> np.ndarray:
    """References return fresh arrays: a view would alias a fed array with a fetched one."""
    return np.array(array, copy=True)


# -- primitives ----------------------------------------------------------------

def _slice_length(s: tuple, n: int) -> int:
    return len(builtins.range(*builtins.slice(*s).indices(n)))


def _strided_slice_infer(specs, attrs):
    (shape, dtype), = specs
    slices = attrs["slices"]
    if len(slices) != len(shape):
        raise ShapeError(f"{len(slices)} slices given for a tensor of rank {len(shape)}")
    for s in slices:
        if len(s) != 3 or s[2] == 0:
            raise ShapeError(f"each slice is (start, stop, step) with a non-zero step, got {s}")
    for axis in attrs.get("shrink", ()):  # integer indices into dims unknown at build time
        index, n = slices[axis][0], shape[axis]
        if n is not None and not -n <= index < n:
            raise ShapeError(f"index {index} is out of range for axis {axis} with size {n}")
    return tuple(None if n is None else _slice_length(s, n) for s, n in zip(slices, shape)), dtype


def _strided_slice_reference(x, *, slices, shrink=()):
    return copy(x[tuple(builtins.slice(*s) for s in slices)])


def _gather_infer(specs, attrs):
    (pshape, pdtype), (ishape, idtype) = specs
    if idtype not in INDEX_DTYPES:
        raise DTypeError(f"indices have dtype {idtype}; gather takes int32 or int64 indices")
    axis = check_axis(attrs["axis"], len(pshape))
    return tuple(pshape[:axis]) + tuple(ishape) + tuple(pshape[axis + 1:]), pdtype


def _gather_reference(params, indices, *, axis):
    check_gather_indices(None, indices, params.shape[axis], axis)
    return np.take(params, indices, axis=axis)


def _strided_slice_grad_infer(specs, attrs):
    (dshape, dtype), (like, _) = specs
    sliced, _ = _strided_slice_infer([(like, dtype)], attrs)
    if not TensorShape(dshape).is_compatible_with(sliced):
        raise ShapeError(f"gradient of shape {list(dshape)} does not match the slice "
                         f"{list(sliced)} of shape {list(like)}")
    return tuple(like), dtype


def _strided_slice_grad_reference(dy, like, *, slices):
    out = np.zeros(like.shape, dy.dtype)
    out[tuple(builtins.slice(*s) for s in slices)] = dy
    return out


def _scatter_add_like_infer(specs, attrs):
    (ushape, dtype), (ishape, idtype), (like, _) = specs
    if idtype not in INDEX_DTYPES:
        raise DTypeError(f"indices have dtype {idtype}; expected int32 or int64")
    axis = check_axis(attrs["axis"], len(like))
    expected = tuple(like[:axis]) + tuple(ishape) + tuple(like[axis + 1:])
    if not TensorShape(ushape).is_compatible_with(expected):
        raise ShapeError(f"updates of shape {list(ushape)} do not match {list(expected)}, "
                         f"the gather of indices {list(ishape)} from {list(like)} on axis {axis}")
    return tuple(like), dtype


def _scatter_add_like_reference(updates, indices, like, *, axis):
    n = like.shape[axis]
    bad = indices[(indices < 0) | (indices >= n)]
    if bad.size:
        raise ShapeError(f"ScatterAddLike: index {bad.ravel()[0]} is out of range [0, {n}) "
                         f"for axis {axis} at run time")
    out = np.zeros(like.shape, updates.dtype)
    np.add.at(out, (builtins.slice(None),) * axis + (indices,), updates)
    return out


# -- gradient rules ------------------------------------------------------------

def _strided_slice_grad(op, grads):
    return [make("StridedSliceGrad", [grads[0], op.inputs[0]], {"slices": op.attrs["slices"]})]


def _strided_slice_grad_grad(op, grads):
    return [make("StridedSlice", [grads[0]], {"slices": op.attrs["slices"]}), None]


def _gather_grad(op, grads):
    params, indices = op.inputs
    return [make("ScatterAddLike", [grads[0], indices, params], {"axis": op.attrs["axis"]}),
            None]


def _scatter_add_like_grad(op, grads):
    _, indices, _ = op.inputs
    return [gather(grads[0], indices, axis=op.attrs["axis"]), None, None]


register(OpDef("StridedSlice", _strided_slice_infer, _strided_slice_reference, Fusion.INDEX,
               ElementRule(rules.strided_slice), grad=_strided_slice_grad,
               attrs={"slices": Attr(AttrKind.SLICES),
                      "shrink": Attr(AttrKind.INTS, required=False)}, onnx=Onnx("Slice")))
register(OpDef("GatherV2", _gather_infer, _gather_reference, Fusion.INDEX,
               ElementRule(rules.gather, check=standalone.gather_index_check, checked_input=1),
               grad=_gather_grad,
               attrs={"axis": Attr(AttrKind.INT)}, onnx=Onnx("Gather")))
# The gradients of StridedSlice and GatherV2: zeros shaped like `like` (the sliced or
# gathered tensor, read for its shape only) with the gradient put back at the slice,
# or added at the gathered indices (repeated indices accumulate).
register(OpDef("StridedSliceGrad", _strided_slice_grad_infer, _strided_slice_grad_reference,
               Fusion.INDEX, ElementRule(rules.strided_slice_grad),
               attrs={"slices": Attr(AttrKind.SLICES)}, grad=_strided_slice_grad_grad,
               onnx=Onnx(None)))
register(OpDef("ScatterAddLike", _scatter_add_like_infer, _scatter_add_like_reference,
               Fusion.STANDALONE, KernelBuilder("scatter", standalone.scatter),
               attrs={"axis": Attr(AttrKind.INT)}, grad=_scatter_add_like_grad,
               onnx=Onnx(None)))


# -- getitem and strided_slice -------------------------------------------------

def _chain(x: Tensor, steps, name, default_name) -> Tensor:
    """Apply single-input ops in turn; the last carries the composite's name exactly."""
    if len(steps) == 1:
        (op_type, attrs), = steps
        return make(op_type, [x], attrs, name=name, default_name=default_name)
    with x.graph.name_scope(name or default_name) as scope:
        for i, (op_type, attrs) in enumerate(steps):
            x = make(op_type, [x], attrs, name=scope if i == len(steps) - 1 else None)
    return x


def _index(value) -> int | None:
    """One bound of a slice, or an integer index: a static int."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return static_int(value, "an index")
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    raise TypeError(value)


def _run_time_index(x: Tensor, key, name) -> Tensor | None:
    """`x[i]` for an integer scalar `i` computed at run time (TF1 loops index so), with
    only `:` and `...` beside it: a gather along i's axis, a negative i counting from the
    end as in TF. None for any other key."""
    keys = key if isinstance(key, tuple) else (key,)
    found = [j for j, k in enumerate(keys) if isinstance(k, Tensor) and not _is_static(k)]
    if len(found) != 1 or not all(k is Ellipsis or k == builtins.slice(None)
                                  for j, k in enumerate(keys) if j != found[0]):
        return None
    i = keys[found[0]]
    if not i.dtype.is_integer or i.ndim != 0 or sum(k is Ellipsis for k in keys) > 1:
        return None
    after = keys[found[0] + 1:]
    axis = x.ndim - len(after) - 1 if Ellipsis in after else found[0]
    if not 0 <= axis < x.ndim or len(keys) - (Ellipsis in keys) > x.ndim:
        return None
    from graphjit.ops.elementwise import add, cast, less, where
    from graphjit.ops.shape_ops import shape
    with graph_of(x, i).name_scope(name or "strided_slice"):
        size = cast(shape(x)[axis], i.dtype)
        return gather(x, where(less(i, 0), add(i, size), i), axis=axis)


def _is_static(t: Tensor) -> bool:
    try:
        static_value(t, "an index")
    except UnsupportedError:
        return False
    return True


def _getitem(x: Tensor, key, name, default_name) -> Tensor:
    gathered = _run_time_index(x, key, name)
    if gathered is not None:
        return gathered

    def fail(cls, message):
        return op_error(cls, "StridedSlice", name, default_name, [x], message)

    items = []  # None, Ellipsis, ("int", i) or ("slice", (start, stop, step))
    for k in key if isinstance(key, tuple) else (key,):
        try:
            if k is None or k is Ellipsis:
                items.append(k)
            elif isinstance(k, builtins.slice):
                step = _index(k.step)
                step = 1 if step is None else step
                items.append(("slice", (_index(k.start), _index(k.stop), step)))
            else:
                items.append(("int", _index(k)))
        except UnsupportedError:
            raise fail(UnsupportedError, f"index {k!r} is computed at run time; graphjit "
                       "indexes with static ints and slices, or one run-time integer "
                       "scalar with only ':' and '...' beside it (use gather for tensor "
                       "indices)") from None
        except (TypeError, Error):
            raise fail(UnsupportedError, f"cannot index with {k!r}: graphjit supports ints, "
                       "slices, None (newaxis) and ... (use gather for lists of indices)") from None

    rank = x.ndim
    consumed = sum(1 for it in items if it is not None and it is not Ellipsis)
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise fail(ShapeError, "an index can have only one ellipsis ('...')")
    if consumed > rank:
        raise fail(ShapeError, f"too many indices: {consumed} for a tensor of rank {rank}")
    fill = [("slice", (None, None, 1))] * (rank - consumed)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = fill
    else:
        items += fill

    # `shrink`: the integer indices into dims unknown until run time, which inference
    # checks then (a slice of one element past the end would be empty, not an error).
    slices, squeeze, new_axes, out_pos, shrink = [], [], [], 0, []
    for it in items:
        if it is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        kind, value = it
        dim, n = len(slices), x.shape[len(slices)]
        if kind == "int":
            if n is not None and not -n <= value < n:
                raise fail(ShapeError, f"index {value} is out of range for axis {dim} "
                           f"with size {n}")
            slices.append((value, None if value == -1 else value + 1, 1))
            squeeze.append(dim)
            if n is None:
                shrink.append(dim)
        else:
            if value[2] == 0:
                raise fail(ShapeError, f"slice step cannot be zero (axis {dim})")
            slices.append(value)
            out_pos += 1

    steps = []
    if any(s != (None, None, 1) for s in slices) or not (squeeze or new_axes):
        attrs = {"slices": tuple(slices)}
        if shrink:
            attrs["shrink"] = tuple(shrink)
        steps.append(("StridedSlice", attrs))
    if squeeze:
        steps.append(("Squeeze", {"axes": tuple(squeeze)}))
    steps += [("ExpandDims", {"axis": p}) for p in new_axes]
    return _chain(x, steps, name, default_name)


def getitem(tensor, key, name: str | None = None) -> Tensor:
    """`tensor[key]` with NumPy basic indexing: ints, slices, None/newaxis and `...`."""
    return _getitem(convert_to_tensor(tensor), key, name, "strided_slice")


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0,
                  ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0,
                  name: str | None = None) -> Tensor:
    """TF's strided_slice, translated bit by bit into the getitem key it stands for."""
    x = convert_to_tensor(input_)
    with op_errors("StridedSlice", name, "StridedSlice", [x]):
        begin, end = static_ints(begin, "begin"), static_ints(end, "end")
        strides = (1,) * len(begin) if strides is None else static_ints(strides, "strides")
        if not len(begin) == len(end) == len(strides):
            raise ShapeError(f"begin, end and strides must have the same length, got "
                             f"{list(begin)}, {list(end)} and {list(strides)}")
    key = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(b)
        else:
            key.append(builtins.slice(None if begin_mask & bit else b,
                                      None if end_mask & bit else e, s))
    return _getitem(x, tuple(key), name, "StridedSlice")


def slice(input_, begin, size, name: str | None = None) -> Tensor:  # noqa: A001 - TF's name
    """`size[i]` elements from `begin[i]` on each axis; a size of -1 takes the rest."""
    x = convert_to_tensor(input_)

    def fail(message):
        return op_error(ShapeError, "StridedSlice", name, "Slice", [x], message)

    with op_errors("StridedSlice", name, "Slice", [x]):
        begin, size = static_ints(begin, "begin"), static_ints(size, "size")

    if not len(begin) == len(size) == x.ndim:
        raise fail(f"begin {list(begin)} and size {list(size)} need one entry per dimension "
                   f"of the input (rank {x.ndim})")
    slices = []
    for axis, (b, s, n) in enumerate(zip(begin, size, x.shape)):
        if b < 0 or s < -1 or (n is not None and (b > n or (s != -1 and b + s > n))):
            raise fail(f"slice of size {s} from {b} does not fit axis {axis} of size "
                       f"{'?' if n is None else n}")
        slices.append((b, None if s == -1 else b + s, 1))
    return make("StridedSlice", [x], {"slices": tuple(slices)}, name=name, default_name="Slice")


def _split_bounds(sizes: list[int]) -> list[tuple[int | None, int | None]]:
    """(start, stop) of each piece; pieces after a -1 count from the end, so the size of
    the axis may stay unknown until run time."""
    bounds, start = [], 0
    if -1 in sizes:
        j = sizes.index(-1)
        head = sizes[:j]
        for s in head:
            bounds.append((start, start + s))
            start += s
        tail = sum(sizes[j + 1:])
        bounds.append((start, -tail if tail else None))
        for k in builtins.range(j + 1, len(sizes)):
            rest = sum(sizes[k + 1:])
            if sizes[k] == 0:
                bounds.append((0, 0))  # -0 would mean the start
            else:
                bounds.append((-(sizes[k] + rest), -rest if rest else None))
        return bounds
    for s in sizes:
        bounds.append((start, start + s))
        start += s
    return bounds


def _split_unknown_axis(x: Tensor, k: int, axis: int, scope: str) -> list[Tensor]:
    """k equal pieces of an axis whose size is known only at run time (every other axis
    known): a reshape to (k, -1) at `axis`, row j of it reshaped back."""
    dims = list(x.shape)
    full = [(None, None, 1)] * (x.ndim + 1)
    with x.graph.name_scope(scope):
        rows = make("Reshape", [x], {"shape": tuple(dims[:axis] + [k, -1] + dims[axis + 1:])})
        return [make("Reshape", [make("StridedSlice", [rows], {"slices": tuple(
            full[:axis] + [(j, j + 1, 1)] + full[axis + 1:])})],
            {"shape": tuple(dims[:axis] + [-1] + dims[axis + 1:])}) for j in builtins.range(k)]


def split(value, num_or_size_splits, axis=0, num=None, name: str | None = "split") -> list[Tensor]:
    """Pieces along `axis`: N equal ones, or the given sizes (one may be -1)."""
    x = convert_to_tensor(value)
    graph, default = x.graph, "split"

    def fail(cls, message):
        return op_error(cls, "StridedSlice", name, default, [x], message)

    with op_errors("StridedSlice", name, default, [x]):
        axis = check_axis(canonical_axis(static_int(axis, "axis"), x.ndim), x.ndim)
        splits = static_value(num_or_size_splits, "num_or_size_splits")
    n = x.shape[axis]
    if splits.ndim == 0:
        k = int(splits)
        if k <= 0:
            raise fail(ShapeError, f"num_or_size_splits must be positive, got {k}")
        if n is None:
            others = x.shape[:axis] + x.shape[axis + 1:]
            if None in others or (num is not None and num != k):
                raise fail(UnsupportedError, f"splitting into {k} equal pieces needs the size "
                           f"of axis {axis} (or of every other axis) at build time; pass the "
                           "list of sizes instead")
            return _split_unknown_axis(x, k, axis, name or default)
        if n % k:
            raise fail(ShapeError, f"axis {axis} of size {n} cannot be split into {k} "
                       "equal pieces")
        sizes = [n // k] * k
    else:
        with op_errors("StridedSlice", name, default, [x]):
            sizes = list(static_ints(splits, "num_or_size_splits"))
        if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
            raise fail(ShapeError, f"sizes {sizes} may hold a single -1 and no other negative")
        known = sum(s for s in sizes if s != -1)
        if n is not None and -1 in sizes and known <= n:
            sizes[sizes.index(-1)] = n - known
        if n is not None and sum(sizes) != n:
            raise fail(ShapeError, f"sizes {sizes} do not add up to {n}, the size of axis {axis}")
    if num is not None and num != len(sizes):
        raise fail(ShapeError, f"num={num} but num_or_size_splits gives {len(sizes)} pieces")
    full = [(None, None, 1)] * x.ndim
    with graph.name_scope(name or default):
        return [make("StridedSlice", [x], {"slices": tuple(
            full[:axis] + [(start, stop, 1)] + full[axis + 1:])})
            for start, stop in _split_bounds(sizes)]


def unstack(value, num=None, axis=0, name: str | None = "unstack") -> list[Tensor]:
    """The slices of `value` along `axis`, that axis removed (the inverse of stack)."""
    x = convert_to_tensor(value)

    def fail(message):
        return op_error(ShapeError, "StridedSlice", name, "unstack", [x], message)

    with op_errors("StridedSlice", name, "unstack", [x]):
        axis = check_axis(canonical_axis(static_int(axis, "axis"), x.ndim), x.ndim)
    n = x.shape[axis]
    if num is None:
        if n is None:
            raise fail(f"cannot infer num: axis {axis} has unknown size; pass num")
        num = n
    elif n is not None and num != n:
        raise fail(f"num={num} but axis {axis} has size {n}")
    with x.graph.name_scope(name or "unstack"):
        lead = (builtins.slice(None),) * axis
        return [getitem(x, lead + (i,)) for i in builtins.range(num)]


def gather(params, indices, validate_indices=None, name: str | None = None, axis=None,
           batch_dims=0) -> Tensor:
    """Slices of `params` along `axis` at `indices` (int32/int64, in range)."""
    graph = graph_of(params, indices)
    params = convert_to_tensor(params, graph=graph)
    indices = convert_to_tensor(indices, graph=graph)
    if batch_dims != 0:
        raise op_error(UnsupportedError, "GatherV2", name, "GatherV2", [params, indices],
                       "batch_dims other than 0 is not supported")
    with op_errors("GatherV2", name, "GatherV2", [params, indices]):
        axis = canonical_axis(0 if axis is None else static_int(axis, "axis"), params.ndim)
    return make("GatherV2", [params, indices], {"axis": axis}, name=name,
                default_name="GatherV2")


__all__ = ["getitem", "strided_slice", "slice", "split", "unstack", "gather"]
