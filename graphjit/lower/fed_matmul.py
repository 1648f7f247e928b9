"""Matrix products by fed weights with many rows: packed per call, then the tile kernel
(off by default: ENABLED says why).

A product of hundreds of rows by weights that are fed or trained (W4's MLP: 512 x 784
by 784 x 256) is BLAS's territory, but OpenBLAS reached about 100 GFLOP/s per core
there (its generic x86 kernels, repacking both operands on every call), where
codegen.microkernel's tile runs at 160-180 on an AVX-512 core. So such a product is two
kernels: one copies the weights into panels (P, K, width) in a planned buffer (a pass
over K x N, a small fraction of the product's M x K x N work for M in the hundreds),
then graphjit.lower.packed_matmul's kernel with its panels split between threads.
Few rows (BLAS-like work is a few passes over the weights) or few columns (N of 10 is
a third of a panel) stay BLAS calls, and so does every product while a plan is young
(the tier of packed_matmul.PACKED_AFTER_CALLS: its kernels cost compile time).
"""

from __future__ import annotations

from codegen.loopir import PARALLEL, Const, Dim, Fn, Kernel, Load, Loop, Param, Store, Var
from graphjit.lower.exprs import int_add, int_op
from graphjit.lower.packed_matmul import DTYPES, deferred_by_tier, product_tile

# Off unless set: on a 2-core machine shared with other jobs, graphjit's thread pool
# judged the machine busy (codegen.wake_cost: helpers took ~1.3 ms to wake) and ran the
# tile kernels on one thread, while OpenBLAS split the same products over both cores:
# W4 (alone in its process, steady state) took 2.07 ms this way against 1.21 ms with
# BLAS calls. On one thread each the two were even (W4 2.08 and 2.02 ms of CPU, W5 4.84
# and 4.82; the fused bias and relu epilogues pay for the packing). Worth turning on
# where graphjit's threads get the cores (or once BLAS and the tiles share one budget).
ENABLED = False
# Rows from which a product by fed weights is packed per call: from 128, the pass over
# the weights costs under a fortieth of the product (W4's layers, 512 rows: a 784x256
# pack took 47 us, its product 1.25 ms on one core).
MIN_ROWS = 128
# Columns from which it is: fewer fill too little of the tile's panels (N of 10 is a
# third of a 32-column panel). A number, not a count of panels: the rule is checked
# when a first call plans, where asking the target's vector width would import Numba,
# which a warm process loads in the background (codegen.warm_start).
MIN_COLUMNS = 64


def use_fed_panels(op, shapes: dict) -> bool:
    """Whether `op` is a product of many rows by fed (not constant) weights that the
    panel kernels compute (MIN_ROWS, MIN_COLUMNS)."""
    if not ENABLED or op.type != "MatMul" or op.attrs.get("transpose_a"):
        return False
    a, b = op.inputs
    if b.op.type == "Const" or a.dtype.name not in DTYPES or b.dtype != a.dtype:
        return False
    a_shape, b_shape = shapes[a], shapes[b]
    if len(a_shape) != 2 or len(b_shape) != 2 or None in a_shape or None in b_shape:
        return False
    n = b_shape[0] if op.attrs.get("transpose_b") else b_shape[1]
    # (a BLAS call while the plan is young: the tier of packed_matmul.PACKED_AFTER_CALLS)
    return a_shape[0] >= MIN_ROWS and n >= MIN_COLUMNS and not deferred_by_tier()


def pack_kernel(name: str, dtype: str, width: int, transposed: bool) -> Kernel:
    """out0 (P, K, width) = in0's weights as panels (packed_matmul.pack_panels): in0 is
    (K, N), or (N, K) when `transposed`; columns past N are zero.

    A whole panel's rows are copies of `width` (a constant: LLVM makes each a few vector
    moves); only the last panel, when N is not a multiple of the width, copies fewer and
    writes the zeros after them. Which of the two loop nests runs is in their bounds
    (the loop IR has no branch): K rows for one, none for the other."""
    p, k, j = Var("p"), Var("k"), Var("j")
    n = Dim("in0", 0 if transposed else 1)
    start = int_op(Fn.MUL, p, width)
    inside = int_op(Fn.MINIMUM, int_op(Fn.SUB, n, start), width)
    col = int_add(start, j)

    def copy(stop):
        return Loop("j", 0, stop, (Store("out0", (p, k, j), Load(
            "in0", (col, k) if transposed else (k, col))),))

    whole = int_op(Fn.FLOORDIV, inside, width)  # 1 for a whole panel, else 0
    rows = Dim("out0", 1)
    whole_rows = Loop("k", 0, int_op(Fn.MUL, rows, whole), (copy(width),))
    zeros = Loop("jz", inside, width, (Store("out0", (p, k, Var("jz")), Const(0, dtype)),))
    last_rows = Loop("k", 0, int_op(Fn.MUL, rows, int_op(Fn.SUB, 1, whole)),
                     (copy(inside), zeros))
    return Kernel(name, (Param("in0", dtype, 2, False), Param("out0", dtype, 3, True)),
                  (Loop("p", 0, Dim("out0", 0), (whole_rows, last_rows), PARALLEL),))


def fed_weights(lw, op, names, identifier) -> int:
    """The planned buffer of `op`'s weights packed as panels, and the kernel packing
    them on each call (use_fed_panels). (Read in place, at a stride of N floats, the
    rows of a K block share a few L1 sets: 512x784x256 ran 15% slower than packed.)"""
    b = op.inputs[1]
    dtype = b.dtype.name
    transposed = bool(op.attrs.get("transpose_b"))
    k, n = lw.shapes[b][::-1] if transposed else lw.shapes[b]
    width = product_tile(dtype, n)[1]
    panels = lw.buffer((-(-n // width), k, width), b.dtype.np)
    lw.add_kernel(pack_kernel(identifier("pack", op), dtype, width, transposed),
                  (lw.input_or_const_slot(b),), (panels,), names, 0,
                  lw.bytes_of([b], []))
    return panels
