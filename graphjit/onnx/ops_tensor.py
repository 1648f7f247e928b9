"""ONNX converters for tensor plumbing: constants, shapes, reshapes, slicing, gathering,
casts, where/expand, splitting and ranges.

graphjit takes shapes, axes and slice bounds as static arguments, so these read
them with `ctx.require_static` (the backend specializes on inputs they come
from). A dimension unknown at build time is written as graphjit's -1 where a
single one is; more than one needs the input's shape (`ctx.require_shape`).
"""

from __future__ import annotations

import math

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.free_reshape import reshape_free
from graphjit.onnx.ops_math import axis_of, static_ints
from graphjit.onnx.symbolic import Dim, Sym, reshape_target
from graphjit.onnx.types import np_dtype

_BIG = 2**62  # |bound| beyond any real dimension: ONNX's INT64_MAX/INT_MIN sentinels


def _const(ctx: NodeContext, value: np.ndarray) -> Tensor:
    value = np.asarray(value)
    np_dtype(value.dtype, f"ONNX {ctx.op_type} '{ctx.name}' value")
    return gj.constant(value, dtype=value.dtype, name=ctx.name)


# value_string(s): refused (graphjit has no string dtype)
@converter("Constant", attrs=("value", "value_float", "value_floats", "value_int",
                              "value_ints", "sparse_value"))
def _constant(ctx: NodeContext) -> Tensor:
    attrs = ctx.attrs
    if "value" in attrs:
        return _const(ctx, attrs["value"])
    if "value_float" in attrs:
        return _const(ctx, np.array(attrs["value_float"], np.float32))
    if "value_floats" in attrs:
        return _const(ctx, np.array(attrs["value_floats"], np.float32))
    if "value_int" in attrs:
        return _const(ctx, np.array(attrs["value_int"], np.int64))
    if "value_ints" in attrs:
        return _const(ctx, np.array(attrs["value_ints"], np.int64))
    if "sparse_value" in attrs:
        return _const(ctx, _dense(ctx, attrs["sparse_value"]))
    raise ctx.unsupported(f"attribute {sorted(attrs)} (string constants: graphjit has no "
                          "string dtype)")


def _dense(ctx: NodeContext, sparse) -> np.ndarray:
    """The dense value of a SparseTensorProto, its declared dims and indices checked first
    (a few values may declare any size)."""
    from graphjit.onnx.importer import tensor_value
    what = f"ONNX Constant '{ctx.name}' sparse_value"
    values = tensor_value(sparse.values, what + " values").reshape(-1)
    indices = tensor_value(sparse.indices, what + " indices").astype(np.int64)
    dims = tuple(int(d) for d in sparse.dims)
    if any(d < 0 for d in dims):
        raise ctx.invalid(f"sparse_value has negative dims {list(dims)}")
    count = math.prod(dims)
    ctx.check_size(count, values.dtype.itemsize, f"sparse_value of dims {list(dims)}")
    coords = indices.ndim == 2 and indices.shape[1] == len(dims)  # [NNZ, rank], else linear
    limit = np.array(dims, np.int64) if coords else count
    if not (coords or indices.ndim == 1) or len(indices) != len(values) \
            or (indices < 0).any() or (indices >= limit).any():
        raise ctx.invalid(f"sparse_value's {len(values)} values and indices of shape "
                          f"{list(indices.shape)} do not fit dims {list(dims)}")
    if coords:
        indices = np.ravel_multi_index(tuple(indices.T), dims)
    dense = np.zeros(dims, values.dtype)
    dense.reshape(-1)[indices] = values
    return dense


@converter("Identity")
def _identity(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]  # (a sequence or optional, graphjit.onnx.values, passes as it is)
    return gj.identity(x, name=ctx.name) if isinstance(x, Tensor) else x


# -- shapes --------------------------------------------------------------------

@converter("Shape", attrs=("start", "end"))
def _shape(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    start, end = ctx.attr("start", 0), ctx.attr("end", x.ndim)
    dims = x.shape[start:end]
    if dims.is_fully_defined():
        return gj.constant(np.array(dims, np.int64), dtype=dtypes.int64, name=ctx.name)
    key = slice(*slice(start, end).indices(x.ndim))
    return gj.getitem(gj.shape(x, out_type=dtypes.int64), key, name=ctx.name)


@converter("Size")
def _size(ctx: NodeContext) -> Tensor:
    return gj.size(ctx.inputs[0], out_type=dtypes.int64, name=ctx.name)


def _with_unknown(ctx: NodeContext, dims: list, what: str) -> list[int]:
    """A target shape with at most one dim unknown at build time (None) written as -1."""
    unknown = [i for i, d in enumerate(dims) if d is None or d == -1]
    if len(unknown) > 1:
        ctx.require_shape(0, what)
    return [-1 if d is None else int(d) for d in dims]


@converter("Reshape", attrs=("allowzero",))
def _reshape(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    allowzero = ctx.attr("allowzero", 0)
    partial = ctx.partial(1)  # e.g. [Dim(x, 0), -1]: x's free dim cancels out of the -1
    if partial is not None:
        dims = reshape_target(partial, x, allowzero)
        if dims is not None:
            return reshape_free(ctx, x, dims, partial.tolist())
    target = static_ints(ctx, 1, "shape")
    dims = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= x.ndim:
                raise ctx.unsupported(f"shape {target} copies dim {i} (a 0) of an input of "
                                      f"rank {x.ndim}")
            dims.append(x.shape[i])
        else:
            dims.append(d)
    return gj.reshape(x, _with_unknown(ctx, dims, f"Reshape to {target}"), name=ctx.name)


@converter("Flatten", attrs=("axis",))
def _flatten(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    axis = ctx.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    if not 0 <= axis <= x.ndim:
        raise ctx.unsupported(f"axis {ctx.attr('axis')} is out of range for rank {x.ndim}")
    outer, inner = x.shape[:axis], x.shape[axis:]
    dims = [outer.num_elements() if outer.is_fully_defined() else None,
            inner.num_elements() if inner.is_fully_defined() else None]
    return gj.reshape(x, _with_unknown(ctx, dims, "Flatten"), name=ctx.name)


@converter("Transpose", attrs=("perm",))
def _transpose(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    perm = ctx.attr("perm")
    perm = list(range(x.ndim))[::-1] if perm is None else list(perm)
    return gj.transpose(x, perm, name=ctx.name)


def _axes(ctx: NodeContext) -> list[int] | None:
    """Unsqueeze/Squeeze axes: an input from opset 13, else an attribute."""
    if ctx.opset >= 13:
        return static_ints(ctx, 1, "axes") if ctx.input(1) is not None else None
    return ctx.attr("axes")


@converter("Unsqueeze", attrs=("axes",))
def _unsqueeze(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    axes = _axes(ctx) or []
    rank = x.ndim + len(axes)
    axes = sorted(axis_of(ctx, a, rank) for a in axes)
    if len(set(axes)) != len(axes):
        raise ctx.unsupported(f"axes {axes} repeat an axis")
    for i, a in enumerate(axes):
        x = gj.expand_dims(x, a, name=ctx.name if i == len(axes) - 1 else None)
    return x


@converter("Squeeze", attrs=("axes",))
def _squeeze(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    axes = _axes(ctx)
    if axes is None:  # every size-1 dim: which ones must be known
        shape = ctx.require_shape(0, "Squeeze without axes")
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = sorted({axis_of(ctx, a, x.ndim) for a in axes})
    return gj.squeeze(x, axes, name=ctx.name) if axes else gj.identity(x, name=ctx.name)


@converter("Concat", attrs=("axis",))
def _concat(ctx: NodeContext) -> Tensor:
    xs = [t for t in ctx.inputs if t is not None]
    axis = axis_of(ctx, int(ctx.attr("axis")), xs[0].ndim)
    return gj.concat(xs, axis, name=ctx.name)


# -- slicing and gathering -----------------------------------------------------

def _slice_bounds(start: int, end: int, step: int, n: int | None) -> slice:
    """ONNX Slice's bounds on an axis of size n as a Python slice (the same elements)."""
    if n is None:  # Python's clamping is ONNX's but for the sentinels, mapped to None
        if step > 0:
            return slice(None if start <= -_BIG else start, None if end >= _BIG else end, step)
        return slice(None if start >= _BIG else start, None if end <= -_BIG else end, step)
    start = start + n if start < 0 else start
    end = end + n if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), n), min(max(end, 0), n), step)
    start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    if n == 0 or start < 0:
        return slice(0, 0, step)
    return slice(start, None if end < 0 else end, step)


@converter("Slice")
def _slice(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    starts, ends = static_ints(ctx, 1, "starts"), static_ints(ctx, 2, "ends")
    axes = (static_ints(ctx, 3, "axes") if ctx.input(3) is not None
            else list(range(len(starts))))
    steps = static_ints(ctx, 4, "steps") if ctx.input(4) is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.unsupported(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                              "differ in length")
    key = [slice(None)] * x.ndim
    seen = set()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = axis_of(ctx, axis, x.ndim)
        if axis in seen or step == 0:
            raise ctx.unsupported(f"axes {axes} repeat an axis, or steps {steps} hold a 0")
        seen.add(axis)
        key[axis] = _slice_bounds(start, end, step, x.shape[axis])
    return gj.getitem(x, tuple(key), name=ctx.name)


@converter("Gather", attrs=("axis",))
def _gather(ctx: NodeContext) -> Tensor:
    x, indices = ctx.inputs
    axis = axis_of(ctx, int(ctx.attr("axis", 0)), x.ndim)
    n = x.shape[axis]
    known = ctx.static(1)
    if known is not None and (n is not None or (known >= 0).all()):
        # ONNX counts negative indices from the end; graphjit's GatherV2 does not.
        fixed = np.where(known < 0, known + (n or 0), known).astype(known.dtype)
        indices = gj.constant(fixed, dtype=fixed.dtype)
    else:
        size = n if n is not None else gj.getitem(gj.shape(x, out_type=indices.dtype), axis)
        indices = gj.where(gj.less(indices, 0), gj.add(indices, size), indices)
    return gj.gather(x, indices, axis=axis, name=ctx.name)


@converter("Split", attrs=("axis", "num_outputs", "split"))
def _split(ctx: NodeContext) -> list[Tensor]:
    x = ctx.inputs[0]
    axis = axis_of(ctx, int(ctx.attr("axis", 0)), x.ndim)
    if ctx.opset >= 13:
        sizes = static_ints(ctx, 1, "split") if ctx.input(1) is not None else None
    else:
        sizes = ctx.attr("split")
    if not sizes:
        count = ctx.attr("num_outputs", ctx.num_outputs)
        n = x.shape[axis]
        if n is None:
            n = ctx.require_shape(0, f"Split into {count} pieces")[axis]
        chunk = -(-n // count)  # the last piece is smaller when n does not divide evenly
        sizes = [chunk] * (count - 1) + [n - chunk * (count - 1)]
    if len(sizes) == 1:
        return [gj.identity(x, name=ctx.name)]
    return gj.split(x, sizes, axis=axis, name=ctx.name)


# -- filling and broadcasting --------------------------------------------------

@converter("Expand")
def _expand(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    shape = static_ints(ctx, 1, "shape")
    if x.shape.is_fully_defined():  # ONNX broadcasts both ways: the target may be smaller
        target = np.broadcast_shapes(tuple(x.shape), tuple(shape))
        if target == tuple(x.shape):
            return gj.identity(x, name=ctx.name)
        return gj.broadcast_to(x, list(target), name=ctx.name)
    ones = gj.fill(shape, True)  # Select broadcasts x against the target, both ways
    return gj.where(ones, x, x, name=ctx.name)


@converter("ConstantOfShape", attrs=("value",))
def _constant_of_shape(ctx: NodeContext) -> Tensor:
    value = ctx.attr("value")
    value = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
    np_dtype(value.dtype, f"ONNX ConstantOfShape '{ctx.name}' value")
    partial = None if ctx.static(0) is not None else ctx.partial(0)
    if partial is not None and partial.ndim == 1:
        filled = _fill_free(ctx, list(partial), value)
        if filled is not None:
            return filled
    return gj.fill(static_ints(ctx, 0, "shape"), value[()], name=ctx.name)


def _fill_free(ctx: NodeContext, dims: list, value: np.ndarray) -> Tensor | None:
    """`value` in a shape with one free dim, Dim(t, a): torch's LSTM initial states,
    zeros([layers, x.size(0), hidden]). t's axis a, its other axes cut to one element
    and reshaped into place, gives the run-time size to zeros_like; adding `value` in
    the static shape broadcasts it out. None where the dims are not of that form."""
    free = [i for i, d in enumerate(dims) if isinstance(d, Dim)]
    if len(free) != 1 or any(isinstance(d, Sym) for d in dims):
        return None
    (pos,), d = free, dims[free[0]]
    t, a = d.tensor, d.axis
    if any(n is None or n < 1 for i, n in enumerate(t.shape) if i != a) \
            or any(int(n) < 0 for i, n in enumerate(dims) if i != pos):
        return None
    edge = gj.slice(t, [0] * t.ndim, [-1 if i == a else 1 for i in range(t.ndim)])
    edge = gj.reshape(edge, [-1 if i == pos else 1 for i in range(len(dims))])
    dtype = dtypes.as_dtype(value.dtype)
    rest = np.full([1 if i == pos else int(n) for i, n in enumerate(dims)], value[()],
                   dtype=value.dtype)
    return gj.add(gj.zeros_like(edge, dtype=dtype), gj.constant(rest, dtype=dtype),
                  name=ctx.name)


@converter("Tile")
def _tile(ctx: NodeContext) -> Tensor:
    return gj.tile(ctx.inputs[0], static_ints(ctx, 1, "repeats"), name=ctx.name)


@converter("Range", attrs=("stash_type",))
def _range(ctx: NodeContext) -> Tensor:
    start, limit, delta = (ctx.require_static(i, what).reshape(())
                           for i, what in enumerate(("start", "limit", "delta")))
    if delta == 0:
        raise ctx.unsupported("delta is 0")
    # ONNX: max(ceil((limit - start) / delta), 0) elements start + i * delta
    length = (float(limit) - float(start)) / float(delta)
    if not math.isfinite(length):
        raise ctx.unsupported(f"start {start}, limit {limit} and delta {delta} give no finite "
                              "number of elements")
    n = max(math.ceil(length), 0)
    dtype = start.dtype
    ctx.check_size(n, dtype.itemsize, f"a Range of {n} elements")
    # From opset 27, float16 is computed in stash_type (1: float32, 11: float64).
    stash = {1: np.float32, 11: np.float64}.get(ctx.attr("stash_type", 1), np.float32) \
        if ctx.opset >= 27 and dtype == np.float16 else dtype
    value = (start.astype(stash) + delta.astype(stash) * np.arange(n, dtype=stash)).astype(dtype)
    return _const(ctx, value)
