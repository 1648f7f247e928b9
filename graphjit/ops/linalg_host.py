"""Matrix inverse and determinant (tf.linalg.inv / tf.matrix_inverse, tf.linalg.det /
tf.matrix_determinant): primitives that NumPy's LAPACK runs on the host.

A loop kernel would have to carry its own pivoting LU factorization; LAPACK already
is the fast and careful one, and these are small, rare ops beside the matmuls around
them. The gradients are TF's, built from matmul and the inverse itself:
d inv(A) = -inv(A)^T dY inv(A)^T and d det(A) = dy det(A) inv(A)^T.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import InvalidArgumentError, ShapeError
from graphjit.graph import Tensor
from graphjit.ops._util import FLOAT, check_dtype, convert_operands, make, op_errors
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, Onnx, OpDef, register


def _square_infer(specs, what: str):
    (shape, dtype), = specs
    check_dtype(dtype, FLOAT)
    if len(shape) < 2:
        raise ShapeError(f"{what} needs a tensor of rank >= 2 (a batch of square "
                         f"matrices), got rank {len(shape)}")
    m, n = shape[-2:]
    if m is not None and n is not None and m != n:
        raise ShapeError(f"{what} needs square matrices, got {m}x{n}")
    return tuple(shape), dtype


def _inverse_infer(specs, attrs):
    return _square_infer(specs, "matrix_inverse")


def _determinant_infer(specs, attrs):
    shape, dtype = _square_infer(specs, "matrix_determinant")
    return shape[:-2], dtype


def _inverse_reference(x, *, adjoint):
    if adjoint:
        x = np.swapaxes(x, -1, -2)
    try:
        return np.linalg.inv(x).astype(x.dtype, copy=False)
    except np.linalg.LinAlgError:
        raise InvalidArgumentError("Input is not invertible.") from None  # TF's words


def _determinant_reference(x):
    return np.asarray(np.linalg.det(x), x.dtype)


def _inverse_grad(op, grads):
    from graphjit.ops.linalg import matmul
    inverse, dy = op.outputs[0], grads[0]
    if op.attrs["adjoint"]:
        return [-matmul(inverse, matmul(dy, inverse, transpose_a=True))]
    return [-matmul(inverse, matmul(dy, inverse, transpose_b=True), transpose_a=True)]


def _determinant_grad(op, grads):
    from graphjit.ops.shape_ops import expand_dims
    det, dy = op.outputs[0], grads[0]
    scale = expand_dims(expand_dims(dy * det, -1), -1)
    return [scale * matrix_inverse(op.inputs[0], adjoint=True)]


_HOST = Host("LAPACK's LU factorization through NumPy: a loop kernel would need its own "
             "pivoting")
register(OpDef("MatrixInverse", _inverse_infer, _inverse_reference, Fusion.HOST, _HOST,
               attrs={"adjoint": Attr(AttrKind.BOOL)}, grad=_inverse_grad,
               onnx=NoOnnx("ONNX's standard operators have no matrix inverse")))
register(OpDef("MatrixDeterminant", _determinant_infer, _determinant_reference, Fusion.HOST,
               _HOST, grad=_determinant_grad, onnx=Onnx("Det")))


def matrix_inverse(input, adjoint: bool = False, name: str | None = None) -> Tensor:  # noqa: A002
    """The inverse of each square matrix in the last two axes (adjoint=True: of its
    transpose), as TF's tf.linalg.inv; a singular matrix fails the run as in TF."""
    (x,) = convert_operands([input])
    with op_errors("MatrixInverse", name, "MatrixInverse", [x]):
        attrs = {"adjoint": bool(adjoint)}
    return make("MatrixInverse", [x], attrs, name=name, default_name="MatrixInverse")


def matrix_determinant(input, name: str | None = None) -> Tensor:  # noqa: A002
    """The determinant of each square matrix in the last two axes, as TF's
    tf.linalg.det."""
    (x,) = convert_operands([input])
    return make("MatrixDeterminant", [x], name=name, default_name="MatrixDeterminant")


__all__ = ["matrix_inverse", "matrix_determinant"]
