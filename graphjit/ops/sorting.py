"""top_k, sort and argsort.

One primitive, TopKV2: the k largest values along the last axis and their int32
indices, largest first, equal values in index order (TF's rule, which makes sort
stable). `k=None` takes the whole axis, so sort works where its size is unknown until
run time (TF passes shape(x)[-1]). sort and argsort are TF's own composites: the axis
moved last, the values negated for ascending order (for integers ~x, i.e. -x - 1,
which reverses the order without overflowing at the most negative value), TopKV2.

TopKV2 runs on the host (NumPy's stable argsort): a per-row sort is no loop the kernel
generator fuses, and NumPy's is as fast as one would be.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import GraphError, ShapeError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    NUMERIC,
    check_dtype,
    convert_operands,
    graph_of,
    normalize_axis,
    op_errors,
    static_value,
)
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register


def _top_k_infer(specs, attrs):
    (shape, dtype), = specs
    check_dtype(dtype, NUMERIC)
    if not shape:
        raise ShapeError("needs a tensor of rank >= 1, got a scalar")
    k, n = attrs["k"], shape[-1]
    if k is not None and (k < 0 or (n is not None and k > n)):
        raise ShapeError(f"k = {k} must be in [0, {'?' if n is None else n}] (the size of "
                         "the last axis)")
    out = tuple(shape[:-1]) + (n if k is None else k,)
    return [(out, dtype), (out, dtypes.int32)]


def _descending_keys(x: np.ndarray) -> np.ndarray:
    """Keys whose ascending order is x's descending order (equal values stay equal, so a
    stable sort keeps them in index order)."""
    return -x if x.dtype.kind == "f" else ~x


def _top_k_reference(x, *, k, sorted):
    order = np.argsort(_descending_keys(x), axis=-1, kind="stable")
    if k is not None:
        order = order[..., :k]
    return np.take_along_axis(x, order, -1), order.astype(np.int32)


def _top_k_grad(op, grads):
    """The values' gradient goes back to the positions they came from: an [..., k, n]
    match of each index against the positions along the axis, summed over k."""
    from graphjit.ops.reductions import reduce_sum
    from graphjit.ops.scan import cumsum
    from graphjit.ops.shape_ops import expand_dims, ones_like
    dy = grads[0]
    if dy is None:
        return [None]
    x, indices = op.inputs[0], op.outputs[1]
    positions = cumsum(ones_like(x, dtype=dtypes.int32), axis=x.ndim - 1, exclusive=True)
    hit = ew.equal(expand_dims(indices, -1), expand_dims(positions, -2))
    return [reduce_sum(ew.where(hit, expand_dims(dy, -1), 0.0 if dy.dtype.is_floating else 0),
                       axis=x.ndim - 1)]


register(OpDef("TopKV2", _top_k_infer, _top_k_reference, Fusion.HOST,
               Host("a per-row sort: NumPy's stable argsort on the host"),
               attrs={"k": Attr(AttrKind.INT_OR_NONE), "sorted": Attr(AttrKind.BOOL)},
               grad=_top_k_grad, onnx=Onnx("TopK", imported=False)))


def top_k(input, k=1, sorted=True, name: str | None = None):  # noqa: A002 - TF's names
    """(values, indices): the k largest entries of each row (last axis) of `input`,
    largest first, and their int32 positions; equal values keep index order."""
    (x,) = convert_operands([input])
    with op_errors("TopKV2", name, "TopKV2", [x]):
        if isinstance(k, Tensor):
            k = static_value(k, "k")
            k = k.item() if k.ndim == 0 else k
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise GraphError(f"k must be an int, got {k!r}")
        attrs = {"k": int(k), "sorted": bool(sorted)}
    op = graph_of(x).create_op("TopKV2", [x], attrs, name=name, default_name="TopKV2")
    return op.outputs[0], op.outputs[1]


def _sort(values, axis, direction: str, name, default_name: str, argsort: bool) -> Tensor:
    from graphjit.ops.shape_ops import transpose
    (x,) = convert_operands([values])
    with op_errors("TopKV2", name, default_name, [x]):
        if direction not in ("ASCENDING", "DESCENDING"):
            raise GraphError(f"direction must be 'ASCENDING' or 'DESCENDING', got "
                             f"{direction!r}")
        check_dtype(x.dtype, NUMERIC)
        if isinstance(axis, Tensor):
            axis = static_value(axis, "axis").item()
        if x.ndim == 0:
            raise ShapeError("needs a tensor of rank >= 1, got a scalar")
        axis = normalize_axis(axis, x.ndim)
    with x.graph.name_scope(name or default_name) as scope:
        perm = list(range(x.ndim))
        perm[axis], perm[-1] = perm[-1], perm[axis]  # a swap: its own inverse
        moved = x if axis == x.ndim - 1 else transpose(x, perm)
        ascending = direction == "ASCENDING"
        flip = (lambda t: -t) if x.dtype.is_floating else (lambda t: -t - 1)
        op = x.graph.create_op("TopKV2", [flip(moved) if ascending else moved],
                               {"k": None, "sorted": True})
        result = op.outputs[1] if argsort else op.outputs[0]
        if ascending and not argsort:
            result = flip(result)
        if axis != x.ndim - 1:
            result = transpose(result, perm)
        return _named(result, scope)


def _named(t: Tensor, scope: str) -> Tensor:
    from graphjit.ops.core import identity
    return identity(t, name=scope)


def sort(values, axis=-1, direction="ASCENDING", name: str | None = None) -> Tensor:
    """`values` sorted along `axis` (TF's tf.sort; stable)."""
    return _sort(values, axis, direction, name, "sort", argsort=False)


def argsort(values, axis=-1, direction="ASCENDING", stable=False,
            name: str | None = None) -> Tensor:
    """The int32 indices that sort `values` along `axis` (TF's tf.argsort; always
    stable: equal values keep their order)."""
    return _sort(values, axis, direction, name, "argsort", argsort=True)


__all__ = ["top_k", "sort", "argsort"]
