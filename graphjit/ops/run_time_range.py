"""Index vectors whose length is a dim known only at run time, built from existing ops.

TF1 programs count along a batch they learn at run time: `tf.range(0, tf.shape(x)[0])`
to index a flattened batch, the gradient of a `tf.concat` of two batches of unknown size,
`tf.split(x, 28, 0)` of a `reshape(x, [-1, 28])`. Buffers are planned from shapes, never
from values, so such a vector is built to have the traced dim as its shape: ones
shaped as x's first line along `axis`, counted by an exclusive cumsum, give 0..n-1 for
n = x's size along `axis` (exact in int32). Everything else is static slicing,
gathering and reshaping, so both engines, gradients and the compiler need nothing new.
"""

from __future__ import annotations

import builtins

from graphjit import dtypes
from graphjit.errors import UnsupportedError
from graphjit.graph import Tensor


def arange_along(x: Tensor, axis: int, dtype=dtypes.int32) -> Tensor:
    """0, 1, ..., n-1 where n is x's run-time size along `axis`."""
    from graphjit.ops._util import make
    from graphjit.ops.scan import cumsum
    from graphjit.ops.shape_ops import ones_like
    if x.ndim != 1:
        x = make("StridedSlice", [x], {"slices": tuple(
            (None, None, 1) if a == axis else (0, 1, 1) for a in builtins.range(x.ndim))})
        x = make("Reshape", [x], {"shape": (-1,)})
    counts = cumsum(ones_like(x, dtype=dtypes.int32), axis=0, exclusive=True)
    dtype = dtypes.as_dtype(dtype)
    if dtype != dtypes.int32:
        from graphjit.ops.elementwise import cast
        counts = cast(counts, dtype)
    return counts


def range_to_dim(start, limit: Tensor, delta, dtype) -> Tensor | None:
    """`tf.range(start, limit, delta)` for a limit that is a dim of some tensor
    (`tf.shape(x)[0]`), start >= 0 and delta > 0 Python numbers; None where the limit
    is not such a dim (the caller then reports it)."""
    from graphjit.ops.random_like import _scalar_dim
    try:
        dim = _scalar_dim(limit)
    except UnsupportedError:
        return None
    if not isinstance(dim, tuple) or isinstance(start, Tensor) or isinstance(delta, Tensor):
        return None
    if int(start) != start or int(delta) != delta or start < 0 or delta <= 0:
        return None
    x, axis = dim
    counts = arange_along(x, axis, dtype)
    if start == 0 and delta == 1:
        return counts
    from graphjit.ops._util import make
    return make("StridedSlice", [counts], {"slices": ((int(start), None, int(delta)),)})


def concat_grad_by_gather(op, dy: Tensor) -> list[Tensor]:
    """Each input's rows of a concat's gradient, gathered at run-time offsets: for
    concats where more than one input's size along the axis is unknown."""
    from graphjit.ops.core import constant
    from graphjit.ops.elementwise import add
    from graphjit.ops.indexing import gather
    from graphjit.ops.shape_ops import shape
    axis, grads, offset = op.attrs["axis"], [], None
    for x in op.inputs:
        index = arange_along(x, axis)
        if offset is not None:
            index = add(index, offset)
        grads.append(gather(dy, index, axis=axis))
        size = constant(x.shape[axis], dtype=dtypes.int32) if x.shape[axis] is not None \
            else shape(x)[axis]
        offset = size if offset is None else add(offset, size)
    return grads
