"""Clipping (TF1's clip_ops): clip_by_value, clip_by_norm, global_norm and
clip_by_global_norm, composed of primitives exactly as TF composes them, so the
results and gradients (including NaN and inf norms) are TF's.
"""

from __future__ import annotations

from graphjit.errors import DTypeError, GraphError, ShapeError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    FLOAT,
    NUMERIC,
    broadcast_shapes,
    check_dtype,
    convert_operands,
    convert_to_tensor,
    graph_of,
    op_error,
    op_errors,
)
from graphjit.ops.core import identity
from graphjit.ops.reductions import reduce_sum
from graphjit.ops.shape_ops import ones_like, stack


def clip_by_value(t, clip_value_min, clip_value_max, name: str | None = None) -> Tensor:
    """min(max(t, clip_value_min), clip_value_max) elementwise; the bounds may be scalars
    or tensors that broadcast to t's shape but never enlarge it (as TF refuses)."""
    t, lo, hi = convert_operands([t, clip_value_min, clip_value_max])
    with op_errors("Maximum", name, "clip_by_value", [t, lo, hi]):
        check_dtype(t.dtype, NUMERIC, "t")
        shape = broadcast_shapes(tuple(t.shape), tuple(lo.shape), tuple(hi.shape))
        if len(shape) != t.ndim or any(s is not None and d is not None and s != d
                                       for s, d in zip(shape, t.shape)):
            raise ShapeError(f"the bounds would broadcast t of shape {list(t.shape)} to "
                             f"{list(shape)}: clip_by_value keeps t's shape")
    with t.graph.name_scope(name or "clip_by_value") as scope:
        return ew.maximum(ew.minimum(t, hi), lo, name=scope)


def clip_by_norm(t, clip_norm, axes=None, name: str | None = None) -> Tensor:
    """t * clip_norm / max(l2norm(t), clip_norm), the norm over `axes` (all by default):
    t unchanged where its norm is at most clip_norm. A zero norm gives no NaN gradient
    (TF's safe sqrt)."""
    t, clip_norm = convert_operands([t, clip_norm])
    with op_errors("Mul", name, "clip_by_norm", [t, clip_norm]):
        check_dtype(t.dtype, FLOAT, "t")
    with t.graph.name_scope(name or "clip_by_norm") as scope:
        l2sum = reduce_sum(t * t, axes, keepdims=True)
        positive = l2sum > 0
        safe = ew.where(positive, l2sum, ones_like(l2sum))
        l2norm = ew.where(positive, ew.sqrt(safe), l2sum)
        return ew.realdiv(t * clip_norm, ew.maximum(l2norm, clip_norm), name=scope)


def _tensor_list(t_list, what: str, name: str | None) -> list:
    if isinstance(t_list, (Tensor, str, bytes)) or not hasattr(t_list, "__iter__"):
        raise op_error(GraphError, "Sqrt", name, what, [], f"t_list should be a sequence of "
                       f"tensors (None allowed), got {type(t_list).__name__}")
    t_list = list(t_list)
    graph = graph_of(t_list)
    return [None if t is None else convert_to_tensor(t, graph=graph) for t in t_list]


def global_norm(t_list, name: str | None = None) -> Tensor:
    """sqrt(sum of squared elements of every tensor of t_list); None entries are skipped."""
    tensors = [t for t in _tensor_list(t_list, "global_norm", name) if t is not None]
    with op_errors("Sqrt", name, "global_norm", tensors):
        if not tensors:
            raise GraphError("t_list has no tensors (only None)")
        for t in tensors:
            check_dtype(t.dtype, FLOAT, f"tensor '{t.name}'")
        if len({t.dtype for t in tensors}) > 1:
            raise DTypeError("the tensors of t_list must have one dtype, got " +
                             ", ".join(str(t.dtype) for t in tensors))
    with tensors[0].graph.name_scope(name or "global_norm") as scope:
        squares = stack([reduce_sum(t * t) for t in tensors])
        return ew.sqrt(reduce_sum(squares), name=scope)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name: str | None = None):
    """(t_list scaled by clip_norm / max(global_norm, clip_norm), global_norm): TF's
    gradient clipping. None entries stay None; an inf or NaN norm makes every value NaN,
    as in TF. `use_norm` gives the norm instead of computing it."""
    tensors = _tensor_list(t_list, "clip_by_global_norm", name)
    present = [t for t in tensors if t is not None]
    graph = graph_of(present)
    with graph.name_scope(name or "clip_by_global_norm"):
        norm = global_norm(present, "global_norm") if use_norm is None \
            else convert_to_tensor(use_norm, graph=graph)
        (clip_norm,) = convert_operands([clip_norm])
        clip_norm = ew.cast(clip_norm, norm.dtype)
        # clip_norm * min(1 / norm, 1 / clip_norm); + (norm - norm) makes inf/NaN NaN
        scale = clip_norm * ew.minimum(1.0 / norm, 1.0 / clip_norm) + (norm - norm)
        clipped = [None if t is None else
                   identity(t * ew.cast(scale, t.dtype), name=f"clipped_{i}")
                   for i, t in enumerate(tensors)]
    return clipped, norm


__all__ = ["clip_by_value", "clip_by_norm", "global_norm", "clip_by_global_norm"]
