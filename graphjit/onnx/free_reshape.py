"""ONNX Reshape to a target with free dims: exact, or refused, never a guessed -1.

A target like [Dim(x, 0), Dim(x, 1), 6] (PyTorch's bidirectional LSTM writes
Reshape(y, [0, 0, -1]) with both the sequence and the batch free) names more than one
dim unknown at build time, which graphjit's static reshape cannot hold. When the
target's free dims are exactly x's own, its element count is checked at import and one
free entry is written as -1; otherwise x is reshaped to the run-time shape of a
`like` tensor built from the dims it names (ReshapeLike, which checks the element
count when it runs), so a wrong target is an error, not a silent -1.
"""

from __future__ import annotations

import math

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext
from graphjit.onnx.symbolic import Dim, Sym, own_free_dims, sorted_factors
from graphjit.ops._util import make


def reshape_free(ctx: NodeContext, x: Tensor, dims: list, target) -> Tensor:
    """x reshaped to `dims` (ints, `Dim`s and `Sym`s, from symbolic.reshape_target)."""
    free = [i for i, d in enumerate(dims) if isinstance(d, (Dim, Sym))]
    if any((d.coef if isinstance(d, Sym) else d) < 0 for d in dims if not isinstance(d, Dim)):
        raise ctx.invalid(f"shape {target} has a negative size other than one -1")
    if not free and x.shape.is_fully_defined():
        return gj.reshape(x, dims, name=ctx.name)  # static: gj.reshape checks the sizes
    if sorted_factors(dims) == own_free_dims(x):
        known = math.prod(d for d in x.shape if d is not None)
        wanted = math.prod(d if isinstance(d, int) else d.coef if isinstance(d, Sym) else 1
                           for d in dims)
        if wanted != known:
            raise ctx.invalid(f"shape {target} does not hold the elements of input "
                              f"'{x.name}' of shape {x.shape.as_list()} (its known dims "
                              f"give {known}, the target's {wanted}, times the free dims)")
        if len(free) <= 1:
            return gj.reshape(x, [-1 if i in free else d for i, d in enumerate(dims)],
                              name=ctx.name)
    return make("ReshapeLike", [x, _like(dims)], name=ctx.name, default_name="Reshape")


def _like(dims: list) -> Tensor:
    """A tensor of shape `dims` at run time (zeros, read for their shape only)."""
    n = len(dims)
    static = [d if isinstance(d, int) else 1 for d in dims]
    like = gj.constant(np.zeros(static, np.int8), dtype=dtypes.int8)
    for i, d in enumerate(dims):
        if isinstance(d, (Dim, Sym)):
            like = like + gj.reshape(_vector(d), [1] * i + [-1] + [1] * (n - i - 1))
    return like


def _vector(d) -> Tensor:
    """Zeros of length d (a Dim, or a Sym: a product of Dims times an int)."""
    dims, coef = (d,) if isinstance(d, Dim) else d.dims, 1 if isinstance(d, Dim) else d.coef
    grid = gj.constant(np.zeros([coef], np.int8), dtype=dtypes.int8)
    for dim in dims:
        grid = gj.expand_dims(grid, 0) + gj.reshape(_along(dim), [-1] + [1] * grid.ndim)
    return grid if grid.ndim == 1 else gj.reshape(grid, [-1])


def _along(d: Dim) -> Tensor:
    """Zeros as long as tensor d.tensor along d.axis."""
    t = d.tensor
    line = make("StridedSlice", [t], {"slices": tuple(
        (None, None, 1) if a == d.axis else (0, 1, 1) for a in range(t.ndim))})
    return gj.zeros_like(gj.reshape(line, [-1]), dtype=dtypes.int8)
