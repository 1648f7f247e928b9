"""Shape vectors known in part at build time: `Shape` of a tensor with free dims.

Exporters write `x.view(x.size(0), -1)` as Shape -> Gather -> Unsqueeze -> Concat ->
Reshape. With x's batch dim free, the target is [Dim(x, 0), -1]: not a static value,
but enough to reshape, since Dim(x, 0) cancels against x's own free dim. The
importer keeps such partial values (object arrays of ints and `Dim`s) through the
few index ops shape code uses, and Reshape resolves them (`reshape_target`).

Attention code also multiplies such sizes (`view(seq, batch * heads, head_dim)`): a
product of free dims and an integer is a `Sym`, enough for a Reshape whose target
has one entry unknown, and an exact division by an integer stays one.
"""

from __future__ import annotations

import math

import numpy as np

from graphjit.graph import Tensor


class Dim:
    """Axis `axis` of tensor `tensor`, whose size is known only at run time."""

    __slots__ = ("tensor", "axis")

    def __init__(self, tensor: Tensor, axis: int):
        self.tensor, self.axis = tensor, axis

    def __eq__(self, other) -> bool:
        return isinstance(other, Dim) and other.tensor is self.tensor and other.axis == self.axis

    def __hash__(self) -> int:
        return hash((id(self.tensor), self.axis))

    def __repr__(self) -> str:
        return f"Dim({self.tensor.name}, {self.axis})"


class Sym:
    """`coef` times the product of free dims `dims` (at least one, sorted by identity)."""

    __slots__ = ("coef", "dims")

    def __init__(self, coef: int, dims: tuple):
        self.coef, self.dims = coef, dims

    def __eq__(self, other) -> bool:
        return isinstance(other, Sym) and (other.coef, other.dims) == (self.coef, self.dims)

    def __hash__(self) -> int:
        return hash((self.coef, self.dims))

    def __repr__(self) -> str:
        return "*".join([str(self.coef)] + [repr(d) for d in self.dims])


def _factors(v) -> tuple[int, tuple]:
    if isinstance(v, Dim):
        return 1, (v,)
    if isinstance(v, Sym):
        return v.coef, v.dims
    return int(v), ()


def _make(coef: int, dims: tuple):
    """The simplest form of coef * prod(dims): an int, a Dim or a Sym."""
    if not dims or coef == 0:
        return coef
    dims = tuple(sorted(dims, key=lambda d: (id(d.tensor), d.axis)))
    return dims[0] if coef == 1 and len(dims) == 1 else Sym(coef, dims)


def _times(a, b):
    (ca, da), (cb, db) = _factors(a), _factors(b)
    return _make(ca * cb, da + db)


def _divided(a, b):
    """a / b for a symbolic a and an int b dividing its coefficient; None otherwise (ONNX
    integer Div truncates, which only an exact division keeps symbolic)."""
    (ca, da), (cb, db) = _factors(a), _factors(b)
    if db or cb == 0:
        return None
    if not da:  # both known: C's truncating division, as ONNX's
        q = abs(ca) // abs(cb)
        return q if (ca < 0) == (cb < 0) else -q
    return None if ca % cb else _make(ca // cb, da)


def _elementwise(fn, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    try:
        x, y = np.broadcast_arrays(x, y)
    except ValueError:
        return None
    flat = [fn(a, b) for a, b in zip(x.ravel(), y.ravel())]
    if any(v is None for v in flat):
        return None
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(x.shape)


def as_partial(value) -> np.ndarray | None:
    """An object array of ints (and Dims) for a static integer value or a partial one."""
    if value is None:
        return None
    array = np.asarray(value)
    if array.dtype == object:
        return array
    if array.dtype.kind not in "iu":
        return None
    return np.array([int(v) for v in array.ravel()], dtype=object).reshape(array.shape)


def _scalar(value) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def is_partial(value) -> bool:
    return value is not None and any(isinstance(v, (Dim, Sym)) for v in np.ravel(value))


def shape_of(x: Tensor, start: int, end: int) -> np.ndarray:
    dims = [Dim(x, i) if d is None else d for i, d in enumerate(x.shape)]
    out = np.empty(len(dims), dtype=object)
    out[:] = dims
    return out[start:end]


_MAX_ARITHMETIC = 64  # shape vectors are short: larger integer tensors are data, not shapes


def is_partial_any(values: list) -> bool:
    return any(is_partial(v) for v in values)


RULES = frozenset({"Shape", "Identity", "Cast", "Gather", "Unsqueeze", "Squeeze", "Concat",
                   "Slice", "Mul", "Div"})


def evaluate(op_type: str, values: list, attrs: dict, inputs: list,
             out: Tensor) -> np.ndarray | None:
    """The partial value of a node's output `out` from its inputs' (None: unknown)."""
    if op_type == "Shape":
        x = inputs[0]
        return shape_of(x, attrs.get("start", 0), attrs.get("end", x.ndim))
    if any(v is None for v in values[:1]):
        return None
    data = values[0]
    if op_type in ("Identity", "Cast"):
        return data if op_type == "Identity" or attrs.get("to") in (6, 7) else None
    if op_type == "Gather" and data.ndim == 1 and len(values) > 1 and values[1] is not None \
            and not is_partial(values[1]):
        indices = np.asarray(values[1], dtype=np.int64)
        picked = np.take(data, np.where(indices < 0, indices + len(data), indices))
        return picked if isinstance(picked, np.ndarray) else _scalar(picked)
    if op_type in ("Unsqueeze", "Squeeze") and data.ndim <= 1 and out.shape.is_fully_defined():
        return np.array(list(data.ravel()) + [None], dtype=object)[:-1].reshape(out.shape)
    if op_type in ("Mul", "Div") and len(values) == 2 and values[1] is not None \
            and max(data.size, values[1].size) <= _MAX_ARITHMETIC and is_partial_any(values):
        return _elementwise(_times if op_type == "Mul" else _divided, data, values[1])
    if op_type == "Concat" and all(v is not None for v in values):
        return np.concatenate([v.reshape(-1) for v in values])
    if op_type == "Slice" and data.ndim == 1 and all(v is not None and not is_partial(v)
                                                     for v in values[1:]):
        from graphjit.onnx.ops_tensor import _slice_bounds
        starts, ends = values[1], values[2]
        steps = values[4] if len(values) > 4 else [1] * len(starts)
        if len(starts) != 1:
            return None
        return data[_slice_bounds(int(starts[0]), int(ends[0]), int(steps[0]), len(data))]
    return None


def reshape_target(target: np.ndarray, x: Tensor, allowzero: bool) -> list | None:
    """An ONNX Reshape target with its 0s and -1 resolved: ints, `Dim`s and `Sym`s; None
    when the -1 stands for free dims of x the target does not name (unknown at import)."""
    dims = []
    for i, d in enumerate(target.ravel()):
        if not isinstance(d, (Dim, Sym)) and d == 0 and not allowzero:
            d = x.shape[i] if i < x.ndim and x.shape[i] is not None else Dim(x, i)
        dims.append(d if isinstance(d, (Dim, Sym)) else int(d))
    if -1 in [d for d in dims if isinstance(d, int)]:
        # -1 is known when x's free dims all appear in the target, where they cancel.
        if sorted_factors(dims) != own_free_dims(x):
            return None
        known = math.prod(d for d in x.shape if d is not None)
        rest = math.prod(_factors(d)[0] for d in dims if d != -1)
        if rest == 0 or known % rest:
            return None
        dims = [known // rest if (isinstance(d, int) and d == -1) else d for d in dims]
    return dims


def _key(d: Dim) -> tuple:
    return id(d.tensor), d.axis


def sorted_factors(dims: list) -> list:
    """The free dims of a target's entries, with repeats, in a canonical order."""
    return sorted((f for d in dims for f in _factors(d)[1]), key=_key)


def own_free_dims(x: Tensor) -> list:
    return sorted((Dim(x, i) for i, d in enumerate(x.shape) if d is None), key=_key)
