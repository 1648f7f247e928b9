"""Helpers shared by the op modules: converting values to tensors, broadcasting
static shapes, normalizing axes, and creating ops on the right graph."""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from codegen.record import Record
from graphjit import dtypes
from graphjit.errors import (
    DTypeError,
    Error,
    GraphError,
    ShapeError,
    UnsupportedError,
    user_source_line,
)
from graphjit.graph import (
    Graph,
    Operation,
    Tensor,
    TensorShape,
    building_graph,
    format_spec,
    get_default_graph,
)
from graphjit.registry import RankDependent

FLOAT = frozenset(d for d in dtypes.ALL if d.is_floating)
INT = frozenset(d for d in dtypes.ALL if d.is_integer)
NUMERIC = FLOAT | INT
ALL = frozenset(dtypes.ALL)
BOOL = frozenset({dtypes.bool_})


def graph_of(*values) -> Graph:
    """The graph of the first Tensor among `values` (nested lists looked into), else the
    default; inside a cond branch or loop body, that function's graph (`building_graph`)."""
    for v in values:
        if isinstance(v, Tensor):
            return building_graph(v.graph)
        if isinstance(v, (list, tuple)):
            for item in v:
                if isinstance(item, Tensor):
                    return building_graph(item.graph)
    return get_default_graph()


def _is_weak(value) -> bool:
    """Python scalars and lists of them take the dtype of the tensor they meet (TF/JAX rule)."""
    if isinstance(value, (bool, numbers.Number)) and not isinstance(value, np.generic):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_weak(v) for v in value)
    return False


def _default_dtype(array: np.ndarray) -> dtypes.DType:
    # TF: Python floats become float32 and ints int32 unless a dtype is given.
    if array.dtype == np.float64:
        return dtypes.float32
    if array.dtype == np.int64:
        return dtypes.int32
    return dtypes.as_dtype(array.dtype)


def _cast_value(value, array: np.ndarray, dtype: dtypes.DType) -> np.ndarray:
    src = array.dtype
    ok = (src == dtype.np
          or (dtype.is_floating and src.kind in "iuf")
          or (dtype.is_integer and src.kind in "iu")
          or (dtype.is_bool and src.kind == "b"))
    if not ok:
        raise DTypeError(f"cannot convert {value!r} ({src}) to {dtype}")
    converted = array.astype(dtype.np)
    if dtype.is_integer and src.kind in "iu" and not np.array_equal(converted, array):
        raise DTypeError(f"value {value!r} does not fit in {dtype}")
    return converted


def string_array(value, empty_ok: bool = False) -> np.ndarray | None:
    """`value` as TF's string dtype holds it, an object array of bytes (str encoded as
    UTF-8), when it is a str or bytes, or an array or nested lists of them; else None.
    (Items are taken as given: NumPy's fixed-width strings would drop trailing NULs.)"""
    if isinstance(value, (str, bytes)):
        items, shape = [value], ()
    elif isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        items, shape = value.reshape(-1).tolist(), value.shape
    elif isinstance(value, (list, tuple)):
        try:
            array = np.asarray(value)  # (its dtype tells strings from numbers)
        except (ValueError, TypeError):  # ragged
            return None
        if array.dtype.kind not in "OSU":
            return None
        items, shape = _flat_items(value), array.shape
    else:
        return None
    if (not items and not empty_ok) or len(items) != int(np.prod(shape)) \
            or not all(isinstance(v, (str, bytes)) for v in items):
        return None
    out = np.empty(shape, object)
    out.reshape(-1)[:] = [v.encode() if isinstance(v, str) else bytes(v) for v in items]
    return out


def _flat_items(value) -> list:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flat_items(item)]
    return value.reshape(-1).tolist() if isinstance(value, np.ndarray) else [value]


def constant_array(value, dtype=None) -> tuple[np.ndarray, dtypes.DType]:
    """A NumPy array for a constant, with TF's default dtypes (float32, int32)."""
    if isinstance(value, Tensor):
        raise GraphError("constant() takes a Python or NumPy value, not a Tensor")
    wants_string = dtype is not None and dtypes.as_dtype(dtype).is_string
    strings = string_array(value, empty_ok=wants_string)
    if strings is not None and (dtype is None or wants_string):
        return strings, dtypes.string
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        array = np.empty((), object)
    if strings is not None or wants_string or array.dtype.kind in "SU":
        target = "one dtype" if dtype is None else dtypes.as_dtype(dtype)
        raise DTypeError(f"cannot convert {value!r:.60} to {target}: strings and numbers "
                         "do not convert into each other")
    if array.dtype == object:
        raise DTypeError(f"cannot make a constant from {value!r}: ragged or non-numeric")
    if dtype is None:
        if isinstance(value, (np.ndarray, np.generic)):
            dtype = dtypes.as_dtype(array.dtype)  # NumPy values keep their dtype, as in TF
        else:
            dtype = _default_dtype(array)
            if dtype == dtypes.int32 and array.size and (array.max() > 2**31 - 1
                                                         or array.min() < -2**31):
                dtype = dtypes.int64
        return array.astype(dtype.np), dtype
    dtype = dtypes.as_dtype(dtype)
    return _cast_value(value, array, dtype), dtype


def convert_to_tensor(value, dtype=None, name=None, graph: Graph | None = None) -> Tensor:
    """A Tensor for `value`; Python and NumPy values become constants of `dtype`."""
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != dtypes.as_dtype(dtype):
            raise DTypeError(f"tensor '{value.name}' has dtype {value.dtype}, expected {dtype}")
        return value
    if isinstance(value, Operation):
        raise GraphError(f"expected a Tensor, got the operation '{value.name}' "
                         "(use op.outputs[0])")
    from graphjit.ops.core import constant
    graph = graph or get_default_graph()
    with graph.as_default():
        return constant(value, dtype=dtype, name=name)


def convert_operands(values, graph: Graph | None = None) -> list[Tensor]:
    """Convert the operands of an elementwise op: non-Tensors adopt the dtype of the Tensors."""
    graph = graph or graph_of(*values)
    anchor = next((v for v in values if isinstance(v, Tensor)), None)
    out = []
    for v in values:
        if isinstance(v, Tensor) or anchor is None:
            out.append(convert_to_tensor(v, graph=graph))
        else:
            out.append(convert_to_tensor(v, dtype=anchor.dtype, graph=graph))
    return out


def broadcast_shapes(*shapes) -> tuple:
    """NumPy broadcasting of static shapes; an unknown dim (None) stays None unless known."""
    rank = max((len(s) for s in shapes), default=0)
    result = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError("incompatible shapes for broadcasting: " +
                             " vs ".join(_fmt(s) for s in shapes))
        if known:
            result.append(known.pop())
        elif any(d is None for d in dims):
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


def check_sizes(shape) -> None:
    """Static dims are sizes >= 0, or None where unknown (a -1 became None already)."""
    bad = [d for d in shape if d is not None and d < 0]
    if bad:
        raise ShapeError(f"shape {list(shape)} has a negative dimension {bad[0]}: dimensions "
                         "are sizes >= 0, or None (-1) where unknown")


def _fmt(shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ShapeError(f"{what} must be an int, got {axis!r}")
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return int(axis) % max(rank, 1)


def normalize_axes(axis, rank: int) -> tuple[int, ...]:
    """None -> all axes; an int or a list -> sorted unique non-negative axes."""
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, Tensor):
        raise GraphError("axis must be a Python int or list, not a Tensor")
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(np.ravel(axis))
    out = sorted({normalize_axis(a, rank) for a in axes})
    if len(out) != len(axes):
        raise ShapeError(f"axis {axis} repeats an axis")
    return tuple(out)


@dataclass(frozen=True, eq=False, repr=False)
class AxesOfRank(RankDependent, Record):
    """The axes `axis` (None: all) of a tensor of unknown rank, normalized as
    normalize_axes does once the rank is known (graphjit.specialize)."""

    axis: tuple | None

    def resolve(self, rank: int) -> tuple[int, ...]:
        return normalize_axes(None if self.axis is None else list(self.axis), rank)


@dataclass(frozen=True, eq=False, repr=False)
class UnknownDims(RankDependent, Record):
    """A shape attr of as many unknown dims as the rank of the op's first input, which
    is unknown when the op is built (dropout's mask shape)."""

    def resolve(self, rank: int) -> TensorShape:
        return TensorShape([None] * rank)


@dataclass(frozen=True, eq=False, repr=False)
class AxisOfRank(RankDependent, Record):
    """One axis of a tensor of unknown rank, normalized once the rank is known."""

    axis: int

    def resolve(self, rank: int) -> int:
        return normalize_axis(self.axis, rank)


def axes_for(x: Tensor, axis) -> tuple[int, ...] | AxesOfRank:
    """normalize_axes over x's rank, or where x's rank is unknown the axes to find then."""
    if not x.shape.unknown_rank:
        return normalize_axes(axis, x.ndim)
    if isinstance(axis, Tensor):
        raise GraphError("axis must be a Python int or list, not a Tensor")
    return AxesOfRank(None if axis is None else tuple(int(a) for a in np.ravel(axis)))


def check_dtype(dtype, allowed, what: str = "input") -> None:
    if dtype not in allowed:
        names = ", ".join(sorted(d.name for d in allowed))
        raise DTypeError(f"{what} has dtype {dtype}; this op accepts {names}")


def same_dtype(specs, what="inputs"):
    first = specs[0][1]
    for _, d in specs[1:]:
        if d != first:
            raise DTypeError(f"{what} must have the same dtype, got " +
                             " and ".join(str(s[1]) for s in specs) +
                             " (use graphjit.cast to convert)")
    return first


def make(op_type: str, inputs, attrs=None, name=None, default_name=None) -> Tensor:
    """Create a single-output op on the inputs' graph and return its tensor."""
    graph = graph_of(*inputs)
    return graph.create_op(op_type, inputs, attrs, name=name,
                           default_name=default_name).outputs[0]


# -- build-time arguments and their errors ------------------------------------

def op_error(cls, op_type: str, name: str | None, default_name: str, inputs, message: str):
    """An error found before the op exists, worded as graph.create_op words infer errors:
    the op type, the name the op would get, its input specs and the user's line."""
    inputs = [t for t in inputs if isinstance(t, Tensor)]
    graph = graph_of(*inputs)
    if not isinstance(name, str):  # (create_op reports a name that is not a string)
        name = None
    if name and name.endswith("/"):
        full = name[:-1]
    else:
        full = graph.unique_name(name or default_name, mark_as_used=False)
    specs = ", ".join(format_spec(t.shape, t.dtype) for t in inputs)
    return cls(f"{op_type} '{full}' ({specs}) at {user_source_line()}: {message}")


def static_value(value, what: str) -> np.ndarray:
    """The build-time value of a shape-like argument: a Python/NumPy value or a constant.

    Buffers are planned from static shapes, so graphjit does not support shapes,
    axes or slice bounds computed at run time; a Const tensor is read from its attr.
    """
    if isinstance(value, Tensor):
        op = value.op
        if op.type == "Const":
            return np.asarray(op.attrs["value"])
        if op.type == "Shape" and op.inputs[0].shape.is_fully_defined():
            return np.array(op.inputs[0].shape, dtype=np.int64)
        raise UnsupportedError(
            f"{what} must be known when the graph is built (a Python value, NumPy array or "
            f"constant), but tensor '{value.name}' is computed at run time; graphjit does "
            f"not support dynamic {what} arguments")
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return np.array([static_value(v, what) for v in value])
    return np.asarray(value)


@contextlib.contextmanager
def op_errors(op_type: str, name: str | None, default_name: str, inputs) -> Iterator[None]:
    """Argument checks done before an op exists fail like infer does: naming the op
    type, the name the op would get, its input specs and the user's line."""
    try:
        yield
    except Error as exc:
        raise op_error(type(exc), op_type, name, default_name, inputs, str(exc)) from None


# -- shape arithmetic shared by references and lowering --------------------------

def pad_amounts(size: int, k: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(output size, pad before, pad after): TF's formula, the extra cell going after."""
    if padding == "VALID":
        if k > size:  # only reachable when the size was unknown at build time
            raise ShapeError(f"with padding 'VALID' the window ({k}) is larger than the "
                             f"input ({size})")
        return (size - k) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def sum_to_axes(shape, like_shape) -> tuple[tuple[int, ...], int]:
    """(summed axes, leading axes dropped) that reduce `shape` to `like_shape`, which
    broadcasts to it; with concrete shapes (plan time) or static ones (None: unknown)."""
    lead = len(shape) - len(like_shape)
    axes = list(range(lead))
    for j, d in enumerate(like_shape):
        if d == 1 and shape[lead + j] != 1:
            axes.append(lead + j)
    return tuple(axes), lead


def check_gather_indices(op, indices: np.ndarray, n: int, axis: int) -> None:
    """TF rejects indices outside [0, n) instead of wrapping as NumPy does; both engines
    raise this (`op`, when given, names the op and the user's line)."""
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices[(indices < 0) | (indices >= n)].ravel()[0]
        where = f"{op.describe()} at {op.source}: " if op is not None else ""
        raise ShapeError(f"{where}index {bad} is out of range [0, {n}) for axis {axis} "
                         "at run time")
