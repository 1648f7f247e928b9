"""Loop-IR kernels of extern calls: the matrix products that BLAS runs.

A MatMul op and the GEMM half of a convolution (forward, input gradient, filter
gradient) become kernels whose body is one `ExternCall("matmul", ...)`; the
im2col/col2im halves are loop kernels (graphjit.lower.kernels). The views flatten
the (N, OH, OW) and (KH, KW, Cin) axes of the columns buffer into a matrix from
the arrays' run-time dims, so a new batch size compiles nothing.
"""

from __future__ import annotations

from functools import reduce

from codegen.loopir import ArrayView, Dim, ExternCall, Kernel, Param
from graphjit.lower.emit import int_mul


def _matrix(param: str, rank: int, split: int, transposed: bool = False) -> ArrayView:
    """`param` viewed as a matrix: axes [0, split) become rows, [split, rank) columns."""
    rows = reduce(int_mul, [Dim(param, a) for a in range(split)])
    cols = reduce(int_mul, [Dim(param, a) for a in range(split, rank)])
    return ArrayView(param, (rows, cols), transposed)


def _gemm(name: str, dtype: str, ranks: tuple, a: ArrayView, b: ArrayView,
          out: ArrayView) -> Kernel:
    params = (Param("in0", dtype, ranks[0], False), Param("in1", dtype, ranks[1], False),
              Param("out0", dtype, ranks[2], True))
    return Kernel(name, params, (ExternCall("matmul", (a, b), out),))


def matmul_kernel(name: str, op) -> Kernel:
    """MatMul (batched over leading axes), its transposes folded into the views."""
    a, b = op.inputs
    ta, tb = op.attrs.get("transpose_a", False), op.attrs.get("transpose_b", False)
    return _gemm(name, a.dtype.name, (a.ndim, b.ndim, op.outputs[0].ndim),
                 ArrayView("in0", None, ta), ArrayView("in1", None, tb), ArrayView("out0"))


def _per_image(param: str, rank: int, split: int) -> ArrayView:
    """`param` as a stack of matrices, one per image: axis 0, then [1, split) as rows
    and [split, rank) as columns."""
    matrix = _matrix(param, rank, split)
    rows = reduce(int_mul, [Dim(param, a) for a in range(1, split)])
    return ArrayView(param, (Dim(param, 0), rows, matrix.shape[1]))


def conv_gemm_kernel(name: str, op, per_image: bool = False) -> Kernel:
    """Conv2D: columns (N, OH, OW, KH, KW, Cin) as (rows, depth) times the HWIO filter
    as (depth, Cout), into the NHWC output as (rows, Cout); `per_image`: one GEMM per
    image (NumPy's matmul over a stack), rows OH*OW each."""
    if per_image:
        cols, out = _per_image("in0", 6, 3), _per_image("out0", 4, 3)
    else:
        cols, out = _matrix("in0", 6, 3), _matrix("out0", 4, 3)
    return _gemm(name, op.inputs[0].dtype.name, (6, 4, 4), cols, _matrix("in1", 4, 3), out)


def conv_input_grad_gemm_kernel(name: str, op) -> Kernel:
    """Conv2DBackpropInput: dy as (rows, Cout) times the filter's transpose, into the
    (rows, depth) columns that col2im then sums."""
    return _gemm(name, op.inputs[0].dtype.name, (4, 4, 6),
                 _matrix("in0", 4, 3), _matrix("in1", 4, 3, transposed=True),
                 _matrix("out0", 6, 3))


def conv_filter_grad_gemm_kernel(name: str, op) -> Kernel:
    """Conv2DBackpropFilter: the columns' transpose times dy as (rows, Cout), into the
    filter as (depth, Cout)."""
    return _gemm(name, op.inputs[0].dtype.name, (6, 4, 4),
                 _matrix("in0", 6, 3, transposed=True), _matrix("in1", 4, 3),
                 _matrix("out0", 4, 3))
