"""Helpers shared by the gradient rules of the op modules (the `grad=` of each OpDef).

The hard part of reverse mode in a graph with unknown dims is undoing
broadcasting: the gradient of an input is the output's gradient summed over the
axes the input was broadcast along, and with a dim unknown at build time
(None) it may not be known whether that dim was 1 and broadcast or not.
`sum_to` decides from the static shapes where it can (the common cases: a bias
against a batch, a scalar against anything) and otherwise emits the
`SumToShapeOf` primitive, whose axes the planner resolves from the concrete
shapes of each plan. Imports of the op modules are local: this module is
imported while they load.
"""

from __future__ import annotations

from graphjit.errors import InternalError
from graphjit.graph import Tensor


def _other_dim(shape, rank: int, j: int):
    """Axis j of a rank-`rank` tensor, right-aligned in `shape`: "absent" when shape is shorter."""
    k = len(shape) - rank + j
    return shape[k] if k >= 0 else "absent"


def sum_to(grad: Tensor, x: Tensor, others=None) -> Tensor:
    """`grad` (shape: x broadcast against `others`) summed back to the shape of `x`.

    `others` are the static shapes of the tensors x was broadcast against; None means
    unknown. An axis of x that is unknown (None) needs no sum when every other operand
    is 1 or absent there; when another could be larger, whether x was broadcast is
    known only at run time and the reduction is left to `SumToShapeOf`.
    """
    from graphjit.ops._util import make
    from graphjit.ops.reductions import reduce_sum
    from graphjit.ops.shape_ops import squeeze

    gshape, xshape = tuple(grad.shape), tuple(x.shape)
    lead = len(gshape) - len(xshape)
    if lead < 0:
        raise InternalError(f"gradient of shape {grad.shape} cannot be summed to the larger "
                            f"rank of '{x.name}' {x.shape}")
    kept, ambiguous = [], False
    for j, xd in enumerate(xshape):
        gd = gshape[lead + j]
        if xd == 1:
            if gd != 1:
                kept.append(lead + j)
        elif xd is None and gd != 1:
            dims = None if others is None else [_other_dim(s, len(xshape), j) for s in others]
            if dims is None or any(d not in (1, "absent") for d in dims):
                ambiguous = True
    if ambiguous:
        return make("SumToShapeOf", [grad, x], default_name="SumToShapeOf")
    axes = list(range(lead)) + kept
    if not axes:
        return grad
    if not kept:
        return reduce_sum(grad, axes)
    summed = reduce_sum(grad, axes, keepdims=True)
    return squeeze(summed, list(range(lead))) if lead else summed


def broadcast_like(grad: Tensor, x: Tensor) -> Tensor:
    """`grad` (broadcastable to x) broadcast to x's run-time shape."""
    from graphjit.ops import elementwise as ew
    from graphjit.ops.shape_ops import broadcast_to, zeros_like

    if x.shape.is_fully_defined():
        if tuple(grad.shape) == tuple(x.shape):
            return grad
        return broadcast_to(grad, list(x.shape))
    # x + 0 broadcasts at run time and fuses into the consumer's loop.
    return ew.add(grad, zeros_like(x, dtype=grad.dtype))


def reshape_like(grad: Tensor, x: Tensor) -> Tensor:
    """`grad` (as many elements as x) reshaped to x's run-time shape."""
    from graphjit.ops._util import make
    from graphjit.ops.shape_ops import reshape

    if sum(d is None for d in x.shape) <= 1:
        if tuple(grad.shape) == tuple(x.shape) and None not in x.shape:
            return grad
        return reshape(grad, [-1 if d is None else d for d in x.shape])
    return make("ReshapeLike", [grad, x], default_name="ReshapeLike")


def unreduce(grad: Tensor, axes, keepdims: bool) -> Tensor:
    """A reduction's output gradient with the reduced axes back as size-1 dims."""
    from graphjit.ops.shape_ops import expand_dims

    if not keepdims:
        for a in sorted(axes):
            grad = expand_dims(grad, a)
    return grad


def count(x: Tensor, axes, dtype):
    """The number of elements of x over `axes`: an int, or a tensor of `dtype` when a
    reduced dim is unknown at build time."""
    from graphjit import dtypes
    from graphjit.ops import elementwise as ew
    from graphjit.ops.shape_ops import shape

    dims = [x.shape[a] for a in axes]
    if None not in dims:
        n = 1
        for d in dims:
            n *= d
        return n
    sizes = shape(x, out_type=dtypes.int64)
    n = None
    for a in axes:
        d = sizes[a]
        n = d if n is None else ew.multiply(n, d)
    return ew.cast(n, dtype)


def add_all(grads: list[Tensor]) -> Tensor:
    """The sum of the gradients one tensor received (one per consumer)."""
    from graphjit.ops import elementwise as ew

    total = grads[0]
    for g in grads[1:]:
        total = ew.add(total, g)
    return total
