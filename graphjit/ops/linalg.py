"""Matrix products: the MatMul primitive (2-D and batched) and tensordot built on it.

One MatMul covers TF's MatMul and BatchMatMulV2: rank >= 2 operands whose
leading (batch) dims broadcast as in NumPy's matmul, so the compiler has a
single contraction primitive to lower.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.lower import standalone
from graphjit.ops import _grad
from graphjit.ops._util import (
    NUMERIC,
    broadcast_shapes,
    check_dtype,
    convert_operands,
    make,
    normalize_axis,
    op_errors,
    same_dtype,
)
from graphjit.ops.reductions import reduce_sum
from graphjit.ops.shape_ops import expand_dims, reshape, transpose
from graphjit.registry import Attr, AttrKind, Fusion, KernelBuilder, Onnx, OpDef, register


def _matmul_infer(specs, attrs):
    (a_shape, _), (b_shape, _) = specs
    dtype = same_dtype(specs, "a and b")
    check_dtype(dtype, NUMERIC, "inputs")
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise ShapeError("both operands need rank >= 2 (use reshape or expand_dims for vectors)")
    m, ka = a_shape[-2:][::-1] if attrs["transpose_a"] else a_shape[-2:]
    kb, n = b_shape[-2:][::-1] if attrs["transpose_b"] else b_shape[-2:]
    if ka is not None and kb is not None and ka != kb:
        raise ShapeError(f"contraction dimensions differ: {ka} (a) vs {kb} (b)")
    return broadcast_shapes(a_shape[:-2], b_shape[:-2]) + (m, n), dtype


def _matmul_reference(a, b, *, transpose_a, transpose_b):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b).astype(a.dtype, copy=False)


def _matmul_grad(op, grads):
    """TF's four transpose cases; batch dims that were broadcast are summed back."""
    a, b = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    dy = grads[0]
    if not ta and not tb:
        ga, gb = matmul(dy, b, transpose_b=True), matmul(a, dy, transpose_a=True)
    elif not ta and tb:
        ga, gb = matmul(dy, b), matmul(dy, a, transpose_a=True)
    elif ta and not tb:
        ga, gb = matmul(b, dy, transpose_b=True), matmul(a, dy)
    else:
        ga = matmul(b, dy, transpose_a=True, transpose_b=True)
        gb = matmul(dy, a, transpose_a=True, transpose_b=True)
    # The matrix dims never broadcast: they count as 1 in the other operand.
    return [_grad.sum_to(ga, a, [tuple(b.shape[:-2]) + (1, 1)]),
            _grad.sum_to(gb, b, [tuple(a.shape[:-2]) + (1, 1)])]


register(OpDef("MatMul", _matmul_infer, _matmul_reference, Fusion.STANDALONE,
               KernelBuilder("extern", standalone.matmul), grad=_matmul_grad,
               attrs={"transpose_a": Attr(AttrKind.BOOL), "transpose_b": Attr(AttrKind.BOOL)},
               onnx=Onnx("MatMul")))


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False, adjoint_a: bool = False,
           adjoint_b: bool = False, a_is_sparse: bool = False, b_is_sparse: bool = False,
           name: str | None = None) -> Tensor:
    """a @ b over the last two dims, batch dims broadcast; adjoint = transpose for real dtypes.

    The *_is_sparse hints are accepted and ignored (they only pick a TF kernel).
    """
    a, b = convert_operands([a, b])
    return make("MatMul", [a, b],
                {"transpose_a": bool(transpose_a or adjoint_a),
                 "transpose_b": bool(transpose_b or adjoint_b)},
                name=name, default_name="MatMul")


def _tensordot_axes(axes, a_rank: int, b_rank: int) -> tuple[list[int], list[int]]:
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(a_rank, b_rank):
            raise ShapeError(f"axes={axes} must be in [0, {min(a_rank, b_rank)}] "
                             f"for ranks {a_rank} and {b_rank}")
        return list(range(a_rank - axes, a_rank)), list(range(axes))
    if isinstance(axes, Tensor):
        raise UnsupportedError("tensordot axes must be Python ints or lists, not a Tensor")
    if len(axes) != 2:
        raise ShapeError(f"axes must be an int or a pair of axis lists, got {axes!r}")
    a_axes, b_axes = axes
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    if len(a_axes) != len(b_axes):
        raise ShapeError(f"axes lists differ in length: {a_axes} vs {b_axes}")
    a_axes = [normalize_axis(x, a_rank) for x in a_axes]
    b_axes = [normalize_axis(x, b_rank) for x in b_axes]
    if len(set(a_axes)) != len(a_axes) or len(set(b_axes)) != len(b_axes):
        raise ShapeError(f"axes {axes} repeat an axis")
    return a_axes, b_axes


def _product(dims) -> int | None:
    """The number of elements over `dims`, or None if one is unknown."""
    out = 1
    for d in dims:
        if d is None:
            return None
        out *= d
    return out


def _static_target(dims: list) -> list[int] | None:
    """A reshape target for `dims` (ints or None): one unknown becomes -1, more cannot be."""
    if sum(d is None for d in dims) > 1:
        return None
    return [-1 if d is None else d for d in dims]


def tensordot(a, b, axes, name: str | None = None) -> Tensor:
    """Sum over `axes` of a and b (an int N: the last N of a with the first N of b).

    A composite. Each operand is transposed so its contracted axes are adjacent,
    reshaped to a matrix, multiplied with MatMul and the product reshaped to a's
    free dims followed by b's. Reshape targets are static, so when unknown dims
    make that impossible, the product is an outer broadcast Mul summed over the
    contracted axes instead (same result, more memory unless the compiler fuses it).
    """
    a, b = convert_operands([a, b])
    with op_errors("Tensordot", name, "Tensordot", [a, b]):
        a_axes, b_axes = _tensordot_axes(axes, a.ndim, b.ndim)
        for i, j in zip(a_axes, b_axes):
            da, db = a.shape[i], b.shape[j]
            if da is not None and db is not None and da != db:
                raise ShapeError(f"contracted dims differ: a axis {i} is {da}, "
                                 f"b axis {j} is {db}")
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [i for i in range(b.ndim) if i not in b_axes]
    free_dims = [a.shape[i] for i in a_free] + [b.shape[i] for i in b_free]
    m, k, n = (_product(a.shape[i] for i in a_free), _product(a.shape[i] for i in a_axes),
               _product(b.shape[i] for i in b_free))
    a_perm, b_perm = a_free + a_axes, b_axes + b_free
    with a.graph.name_scope(name or "Tensordot") as scope:
        out_target = _static_target(free_dims)
        if [m, k, n].count(None) <= 1 and out_target is not None:
            a_mat = reshape(_transposed(a, a_perm), _static_target([m, k]))
            b_mat = reshape(_transposed(b, b_perm), _static_target([k, n]))
            return reshape(matmul(a_mat, b_mat), out_target, name=scope)
        # [a_free..., 1 per b_free, contracted...] * [b_free..., contracted...]
        left = _transposed(a, a_perm)
        for _ in b_free:
            left = expand_dims(left, len(a_free))
        right = _transposed(b, b_free + b_axes)
        contracted = list(range(len(free_dims), len(free_dims) + len(a_axes)))
        return reduce_sum(left * right, contracted, name=scope)


def _transposed(x: Tensor, perm: list[int]) -> Tensor:
    return x if perm == list(range(x.ndim)) else transpose(x, perm)


__all__ = ["matmul", "tensordot"]
