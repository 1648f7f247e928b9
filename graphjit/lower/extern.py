"""Loop-IR kernels of extern calls: the matrix products that BLAS runs.

A MatMul op and the GEMM half of a convolution (forward, input gradient, filter
gradient) become kernels whose body is one `ExternCall("matmul", ...)`; the
im2col/col2im halves are loop kernels (graphjit.lower.kernels). The views flatten
the (N, OH, OW) and (KH, KW, Cin) axes of the columns buffer into a matrix; the
spatial and channel extents are constants, as in im2col, and only the batch is read
from the arrays at run time, so a new batch size compiles nothing.
"""

from __future__ import annotations

from functools import reduce

from codegen.loopir import ArrayView, Dim, ExternCall, Kernel, Param
from graphjit.lower.emit import int_mul


def _rows(param: str, cells: int, width: int, per_image: bool = False,
          transposed: bool = False) -> ArrayView:
    """`param`, batch first, as a (N * cells, width) matrix, or per image as N matrices
    (cells, width). Only the batch is read at run time: a reshape by constants costs
    ~0.4 us, one by products of `.shape` reads ~1.3 us (a batch-1 conv paid it thrice)."""
    n = Dim(param, 0)
    shape = (n, cells, width) if per_image else (int_mul(n, cells), width)
    return ArrayView(param, shape, transposed)


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
    if a.ndim > 2 and b.ndim == 2 and not ta:
        # batch and row axes as one matrix: one GEMM, not one per batch entry (NumPy's
        # batched loop measured 12-20% slower at 32 x 64 rows)
        return _gemm(name, a.dtype.name, (a.ndim, 2, op.outputs[0].ndim),
                     _matrix("in0", a.ndim, a.ndim - 1), ArrayView("in1", None, tb),
                     _matrix("out0", a.ndim, a.ndim - 1))
    return _gemm(name, a.dtype.name, (a.ndim, b.ndim, op.outputs[0].ndim),
                 ArrayView("in0", None, ta), ArrayView("in1", None, tb), ArrayView("out0"))


def conv_gemm_kernel(name: str, op, cols_shape: tuple, cout: int,
                     per_image: bool = False, cols_rank: int = 6) -> Kernel:
    """Conv2D: columns (N, OH, OW, KH, KW, Cin) as (rows, depth) times the HWIO filter
    as (depth, Cout), into the NHWC output as (rows, Cout); `per_image`: one GEMM per
    image (NumPy's matmul over a stack), rows OH*OW each. A pointwise conv passes its
    NHWC input (`cols_rank` 4) as the columns."""
    _, oh, ow, kh, kw, cin = cols_shape
    cells, depth = oh * ow, kh * kw * cin
    return _gemm(name, op.inputs[0].dtype.name, (cols_rank, 4, 4),
                 _rows("in0", cells, depth, per_image), ArrayView("in1", (depth, cout)),
                 _rows("out0", cells, cout, per_image))


def conv_input_grad_gemm_kernel(name: str, op, cols_shape: tuple, cout: int) -> Kernel:
    """Conv2DBackpropInput: dy as (rows, Cout) times the filter's transpose, into the
    (rows, depth) columns that col2im then sums."""
    _, oh, ow, kh, kw, cin = cols_shape
    cells, depth = oh * ow, kh * kw * cin
    return _gemm(name, op.inputs[0].dtype.name, (4, 4, 6),
                 _rows("in0", cells, cout), ArrayView("in1", (depth, cout), True),
                 _rows("out0", cells, depth))


def conv_filter_grad_gemm_kernel(name: str, op, cols_shape: tuple, cout: int) -> Kernel:
    """Conv2DBackpropFilter: the columns' transpose times dy as (rows, Cout), into the
    filter as (depth, Cout)."""
    _, oh, ow, kh, kw, cin = cols_shape
    cells, depth = oh * ow, kh * kw * cin
    return _gemm(name, op.inputs[0].dtype.name, (6, 4, 4),
                 _rows("in0", cells, depth, transposed=True), _rows("in1", cells, cout),
                 ArrayView("out0", (depth, cout)))
