"""Matrix products by constant weights with few rows: a loop kernel, not a BLAS call.

An inference MLP multiplies a small batch (M of 1 to a few dozen rows) by constant
weights. BLAS repacks the weights into its panels on every call (800 KB for a 784x256
layer) and the extern step pays a Python wrapper and the thread site (codegen.blas)
around it; ONNX Runtime packs once. Here the weights are packed once, at plan time, as
their transpose (N, K): each output element is then a dot product of two contiguous
rows, which LLVM vectorizes along K. Register blocking does the rest: a tile of
ROWS x COLS output elements keeps ROWS x COLS vector accumulators, so each loaded vector
of the input and of the weights feeds several FMAs. Tiles walk the weights' columns
outermost, so a tile's weight rows stay in cache while every input row passes them.

The kernel is plain loop IR (codegen compiles, caches and calls it as any other
kernel), shape-generic in M; K and N are the constant's and appear as literals.
"""

from __future__ import annotations

import numpy as np

from codegen.loopir import Assign, Call, Const, Dim, Fn, Kernel, Load, Loop, Param, Store, Var
from graphjit.lower.exprs import const, int_op
from runtime.plan import SlotSpec

# 4 rows x 4 columns: 16 vector accumulators plus 8 loaded vectors fit AVX-512's 32
# registers (AVX2's 16 spill some: compiled for Haswell it still ran at 0.9x the speed
# of a 4x6 tile, 1.1x that of 3x4).
ROWS, COLS = 4, 4


def _int(v: int) -> Const:
    return Const(v, "int64")


def _tile(dtype: str, ks: tuple, rows: int, cols: int, i0, j0, first: bool) -> tuple:
    """Statements computing out[i0:i0+rows, j0:j0+cols] over k in range(*ks) from in0
    (M, K) and the packed weights in1 (N, K), adding to what out holds unless `first`."""
    acc = {(r, c): f"acc{r}_{c}" for r in range(rows) for c in range(cols)}
    ii = [int_op(Fn.ADD, i0, _int(r)) if r else i0 for r in range(rows)]
    jj = [int_op(Fn.ADD, j0, _int(c)) if c else j0 for c in range(cols)]
    init = tuple(Assign(name, const(0, dtype) if first else Load("out0", (ii[r], jj[c])),
                        dtype) for (r, c), name in acc.items())
    body = []
    for r in range(rows):
        body.append(Assign(f"a{r}", Load("in0", (ii[r], Var("k"))), dtype))
    for c in range(cols):
        body.append(Assign(f"b{c}", Load("in1", (jj[c], Var("k"))), dtype))
    for (r, c), name in acc.items():
        body.append(Assign(name, Call(Fn.REDUCE_MULADD, (Var(name), Var(f"a{r}"),
                                                         Var(f"b{c}")), dtype), dtype))
    stores = tuple(Store("out0", (ii[r], jj[c]), Var(name)) for (r, c), name in acc.items())
    return init + (Loop("k", ks[0], ks[1], tuple(body)),) + stores


def _columns(dtype: str, ks: tuple, cols: int, j0, first: bool) -> tuple:
    """All rows of the output for the columns j0 .. j0+cols: whole tiles of ROWS rows,
    then the M % ROWS rows left one at a time."""
    m = Dim("in0", 0)
    whole = int_op(Fn.FLOORDIV, m, _int(ROWS))
    tiles = Loop("ib", 0, whole, _tile(dtype, ks, ROWS, cols,
                                       int_op(Fn.MUL, Var("ib"), _int(ROWS)), j0, first))
    rest = Loop("ir", int_op(Fn.MUL, whole, _int(ROWS)), m,
                _tile(dtype, ks, 1, cols, Var("ir"), j0, first))
    return tiles, rest


def _pass(dtype: str, ks: tuple, n: int, first: bool) -> tuple:
    """Every column of the output over k in range(*ks)."""
    body = []
    if n // COLS:
        body.append(Loop("jb", 0, n // COLS, _columns(
            dtype, ks, COLS, int_op(Fn.MUL, Var("jb"), _int(COLS)), first)))
    if n % COLS:
        body.extend(_columns(dtype, ks, n % COLS, _int(n - n % COLS), first))
    return tuple(body)


def packed_matmul_kernel(name: str, dtype: str, k: int, n: int) -> Kernel:
    """out0 (M, n) = in0 (M, k) @ in1.T, in1 the (n, k) packed weights."""
    params = (Param("in0", dtype, 2, False), Param("in1", dtype, 2, False),
              Param("out0", dtype, 2, True))
    return Kernel(name, params, _pass(dtype, (0, k), n, True))


# The rule: the packed kernel replaces BLAS for a 2-D MatMul whose right operand is a
# constant (weights, packed once per plan) and whose left operand has at most MAX_ROWS
# rows. Whole ONNX MLPs on one thread (AVX-512 Xeon, OpenBLAS; min of interleaved
# bursts, process time, per call), BLAS -> packed: 784-256-256-10 at batch 1 28 -> 17 us,
# 16 123 -> 91 us, 32 200 -> 164 us, but 64 308 -> 353 us and 128 574 -> 694 us; a
# 64-32-10 MLP at batch 1 10 -> 6 us, 64 14 -> 12 us, 128 19 -> 18 us. BLAS's kernel wins
# once the product is large and has enough rows; below, packing once and calling a plain
# kernel (no Python wrapper, no thread site) win.
MAX_ROWS = 32
DTYPES = ("float32", "float64")


def use_packed(lw, op) -> bool:
    """Whether `op` (a MatMul) becomes a packed kernel under this plan's shapes: see
    MAX_ROWS."""
    a, b = op.inputs
    if b not in lw.const_values or op.attrs.get("transpose_a") \
            or a.dtype.name not in DTYPES or b.dtype != a.dtype:
        return False
    a_shape, b_shape = lw.shapes[a], lw.shapes[b]
    return len(a_shape) == 2 and len(b_shape) == 2 and a_shape[0] <= MAX_ROWS


def packed_weights(lw, op) -> int:
    """The slot of `op`'s constant right operand packed as (N, K), C-contiguous; made
    once and shared by every plan of the function (as its constants are)."""
    b = op.inputs[1]
    key = (b, "packed_transposed" if not op.attrs.get("transpose_b") else "packed")
    value = lw.constants.get(key)
    if value is None:
        w = np.asarray(lw.const_values[b])
        value = lw.constants[key] = np.ascontiguousarray(w if op.attrs.get("transpose_b")
                                                         else w.T)
    lw.slots.append(SlotSpec(value.shape, value.dtype, "const", value))
    return len(lw.slots) - 1
