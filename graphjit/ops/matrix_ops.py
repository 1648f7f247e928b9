"""Matrix structure: eye, diagonals (matrix_diag, matrix_diag_part, TF1's diag and
diag_part), matrix_transpose, trace and band_part, as composites.

Each is a mask built from two position grids (row == column, row - column <= k) and a
Select, so it fuses into one loop kernel, works on batches, and passes gradients
through the Select; dims unknown at build time get their positions at run time
(nd_indexing.iota_along).
"""

from __future__ import annotations

import math

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor, graph_of, op_errors
from graphjit.ops.indexing import getitem, static_int, static_ints
from graphjit.ops.nd_indexing import iota_along
from graphjit.ops.reductions import reduce_sum
from graphjit.ops.shape_ops import broadcast_to, expand_dims, reshape, transpose
from graphjit.ops.shape_ops import range as range_


def eye(num_rows, num_columns=None, batch_shape=None, dtype=dtypes.float32,
        name: str | None = None) -> Tensor:
    """The identity matrix [num_rows, num_columns] (square by default), repeated over
    `batch_shape`, as TF's tf.eye. Sizes are static; the graph folds to a constant."""
    with op_errors("Equal", name, "eye", ()):
        rows = static_int(num_rows, "num_rows")
        cols = rows if num_columns is None else static_int(num_columns, "num_columns")
        batch = () if batch_shape is None else static_ints(batch_shape, "batch_shape")
        if rows < 0 or cols < 0 or any(b < 0 for b in batch):
            raise ShapeError(f"sizes must be >= 0, got {rows}, {cols} and batch {batch}")
        dtype = dtypes.as_dtype(dtype)
    with graph_of(num_rows, num_columns).name_scope(name or "eye") as scope:
        on_diagonal = ew.equal(reshape(range_(rows), [rows, 1]), range_(cols))
        if not batch:
            return ew.cast(on_diagonal, dtype, name=scope)
        return broadcast_to(ew.cast(on_diagonal, dtype), list(batch) + [rows, cols],
                            name=scope)


def _matrix(x, op_type: str, name, min_rank: int = 2) -> Tensor:
    x = convert_to_tensor(x)
    with op_errors(op_type, name, op_type, [x]):
        if x.ndim < min_rank:
            raise ShapeError(f"needs a tensor of rank >= {min_rank}, got shape {x.shape}")
    return x


def _on_band(x: Tensor, lower: int = 0, upper: int = 0) -> Tensor:
    """True where x's last two axes' positions (i, j) have -lower <= j - i <= upper (a
    negative bound: no limit on that side); broadcastable against x."""
    i, j = iota_along(x, -2), iota_along(x, -1)
    inside = None
    if lower >= 0:
        inside = ew.less_equal(ew.subtract(i, j), lower)
    if upper >= 0:
        above = ew.less_equal(ew.subtract(j, i), upper)
        inside = above if inside is None else ew.logical_and(inside, above)
    return inside


def matrix_diag(diagonal, name: str | None = None) -> Tensor:
    """[..., N] -> [..., N, N] with `diagonal` on the diagonal and zeros elsewhere, as
    TF1's tf.matrix_diag (tf.linalg.diag)."""
    d = _matrix(diagonal, "MatrixDiag", name, 1)
    with d.graph.name_scope(name or "MatrixDiag") as scope:
        i = iota_along(d, -1)
        on_diagonal = ew.equal(expand_dims(i, -1), expand_dims(i, -2))
        return ew.where(on_diagonal, expand_dims(d, -1), np.zeros((), d.dtype.np), name=scope)


def matrix_diag_part(input, name: str | None = None) -> Tensor:  # noqa: A002
    """[..., M, N] -> [..., min(M, N)], the main diagonal, as TF1's tf.matrix_diag_part
    (tf.linalg.diag_part). Each row's diagonal element is picked by a mask and a sum;
    of M and N, one must be known at build time."""
    x = _matrix(input, "MatrixDiagPart", name)
    m, n = x.shape[-2], x.shape[-1]
    if m is None and n is None:
        raise _unsupported("MatrixDiagPart", name, x, "needs the number of rows or of "
                           "columns known at build time")
    with x.graph.name_scope(name or "MatrixDiagPart") as scope:
        masked = ew.where(_on_band(x), x, np.zeros((), x.dtype.np))
        if n is not None and (m is None or m >= n):  # rows past n hold no diagonal
            rows = reduce_sum(masked, -1)
            keep = n
        else:
            rows = reduce_sum(masked, -2)
            keep = m
        size = rows.shape[-1]
        if size is not None and size <= keep:
            return _named(rows, scope)
        return getitem(rows, (Ellipsis, slice(0, keep)), name=scope)


def _named(t: Tensor, scope: str) -> Tensor:
    from graphjit.ops.core import identity
    return identity(t, name=scope)


def _unsupported(op_type, name, x, message):
    from graphjit.ops._util import op_error
    return op_error(UnsupportedError, op_type, name, op_type, [x], message)


def diag(diagonal, name: str | None = None) -> Tensor:
    """TF1's tf.diag: a tensor of shape s gives shape s + s, the values where the two
    index halves agree: for a vector, the diagonal matrix. Shapes are static."""
    d = _matrix(diagonal, "Diag", name, 1)
    with op_errors("Diag", name, "Diag", [d]):
        if not d.shape.is_fully_defined():
            raise UnsupportedError(f"needs a shape known at build time, got {d.shape}")
    dims = list(d.shape)
    with d.graph.name_scope(name or "Diag") as scope:
        square = matrix_diag(reshape(d, [-1]) if d.ndim != 1 else d)
        return reshape(square, dims + dims, name=scope)


def diag_part(input, name: str | None = None) -> Tensor:  # noqa: A002
    """TF1's tf.diag_part, the inverse of diag: shape s + s gives shape s."""
    x = _matrix(input, "DiagPart", name, 2)
    with op_errors("DiagPart", name, "DiagPart", [x]):
        half = x.ndim // 2
        if x.ndim % 2 or not x.shape.is_fully_defined() \
                or list(x.shape[:half]) != list(x.shape[half:]):
            raise ShapeError(f"needs a shape s + s of even rank known at build time, got "
                             f"{x.shape}")
    dims = list(x.shape[:half])
    with x.graph.name_scope(name or "DiagPart") as scope:
        n = math.prod(dims)
        return reshape(matrix_diag_part(reshape(x, [n, n])), dims, name=scope)


def matrix_transpose(a, name: str = "matrix_transpose", conjugate: bool = False) -> Tensor:
    """The last two axes swapped, as tf.linalg.matrix_transpose (real dtypes: conjugate
    changes nothing)."""
    x = _matrix(a, "Transpose", name)
    perm = list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2]
    return transpose(x, perm, name=name)


def trace(x, name: str | None = None) -> Tensor:
    """The sum of the main diagonal of each matrix in x's last two axes, as tf.trace."""
    x = _matrix(x, "Trace", name)
    with x.graph.name_scope(name or "Trace") as scope:
        return reduce_sum(matrix_diag_part(x), -1, name=scope)


def matrix_band_part(input, num_lower, num_upper, name: str | None = None) -> Tensor:  # noqa: A002
    """x with zeros outside the band of `num_lower` subdiagonals and `num_upper`
    superdiagonals (a negative count: the whole triangle), as tf.linalg.band_part.
    The counts are static."""
    x = _matrix(input, "MatrixBandPart", name)
    with op_errors("MatrixBandPart", name, "MatrixBandPart", [x]):
        lower, upper = static_int(num_lower, "num_lower"), static_int(num_upper, "num_upper")
    with x.graph.name_scope(name or "MatrixBandPart") as scope:
        band = _on_band(x, lower, upper)
        if band is None:
            return _named(x, scope)
        return ew.where(band, x, np.zeros((), x.dtype.np), name=scope)


band_part = matrix_band_part

__all__ = ["eye", "matrix_diag", "matrix_diag_part", "diag", "diag_part",
           "matrix_transpose", "trace", "matrix_band_part"]
