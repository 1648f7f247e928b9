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

A bias add (a constant row or scalar) and a relu after the product join its kernel as
an epilogue on each tile (the partitioner puts them in the MatMul's region:
epilogue_ops), so a dense layer is one step. The kernel is plain loop IR (codegen
compiles, caches and calls it as any other kernel), shape-generic in M; K and N are
the constant's and appear as literals. Weights that are Variables (an ONNX model
imported with `trainable=`, a TF1 training graph) change between runs, so their
matmuls are not packed here: they go through BLAS.

Compile time: a packed kernel is the biggest source graphjit hands Numba, and Numba's
typing and lowering of it, not LLVM's optimization (a quarter to a third), take most of
its cold compile. So the source is kept small: two tile shapes (ROWS rows and 1 row;
the last columns' tile overlaps the one before), index and bias locals computed once per
tile, one zero constant. That took a kernel from 0.6-1.0 s to about 0.3 s of CPU
(Numba's one-time set-up apart); a bias+relu kernel of the BLAS path takes about 0.1 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from codegen.loopir import Assign, Call, Dim, Fn, Kernel, Load, Loop, Param, Store, Var
from graphjit.lower.exprs import const, int_add, int_op
from runtime.plan import SlotSpec

# 4 rows x 4 columns: 16 vector accumulators plus 8 loaded vectors fit AVX-512's 32
# registers (AVX2's 16 spill some: compiled for Haswell it still ran at 0.9x the speed
# of a 4x6 tile, 1.1x that of 3x4).
ROWS, COLS = 4, 4


def _tile(dtype: str, ks: tuple, rows: int, cols: int, i0, j0, epi: Epilogue) -> tuple:
    """Statements computing out[i0:i0+rows, j0:j0+cols] from in0 (M, K) and the packed
    weights in1 (N, K) over k in range(*ks), then the epilogue on each element.

    Each row and column index is a local, computed once per tile: Numba's typing and
    lowering, not LLVM, take most of a packed kernel's compile time, and their cost
    follows the number of expressions in the source."""
    acc = {(r, c): f"acc{r}_{c}" for r in range(rows) for c in range(cols)}
    index = tuple(Assign(f"i{r}", int_add(Var("i0"), r) if r else i0, "int64")
                  for r in range(rows)) + tuple(
        Assign(f"j{c}", int_add(Var("j0"), c) if c else j0, "int64") for c in range(cols))
    init = tuple(Assign(name, Var("zero"), dtype) for name in acc.values())
    body = []
    for r in range(rows):
        body.append(Assign(f"a{r}", Load("in0", (Var(f"i{r}"), Var("k"))), dtype))
    for c in range(cols):
        body.append(Assign(f"b{c}", Load("in1", (Var(f"j{c}"), Var("k"))), dtype))
    for (r, c), name in acc.items():
        body.append(Assign(name, Call(Fn.REDUCE_MULADD, (Var(name), Var(f"a{r}"),
                                                         Var(f"b{c}")), dtype), dtype))
    stores = [Assign(f"bias{c}", Load("in2", (Var(f"j{c}"),)), dtype)
              for c in range(cols)] if epi.bias else []
    for (r, c), name in acc.items():
        stages = [Var(name)]
        if epi.bias:
            stages.append(Call(Fn.ADD, (stages[-1], Var(f"bias{c}")), dtype))
            if len(epi.stores) > 1:  # (computed once for both stores)
                stores.append(Assign(f"{name}_b", stages[-1], dtype))
                stages[-1] = Var(f"{name}_b")
        if epi.relu:
            # relu as max(x, 0), as Fn.RELU renders it, with the kernel's one zero
            stages.append(Call(Fn.MAXIMUM, (stages[-1], Var("zero")), dtype))
        stores += [Store(f"out{o}", (Var(f"i{r}"), Var(f"j{c}")), stages[s])
                   for o, s in enumerate(epi.stores)]
    return index + init + (Loop("k", ks[0], ks[1], tuple(body)),) + tuple(stores)


def _columns(dtype: str, ks: tuple, cols: int, j0, epi: Epilogue) -> tuple:
    """All rows of the output for the columns j0 .. j0+cols: whole tiles of ROWS rows,
    then the M % ROWS rows left one at a time."""
    m = Dim("in0", 0)
    whole = int_op(Fn.FLOORDIV, m, ROWS)
    tiles = Loop("ib", 0, whole, _tile(dtype, ks, ROWS, cols,
                                       int_op(Fn.MUL, Var("ib"), ROWS), j0, epi))
    rest = Loop("ir", int_op(Fn.MUL, whole, ROWS), m,
                _tile(dtype, ks, 1, cols, Var("ir"), j0, epi))
    return tiles, rest


def _pass(dtype: str, ks: tuple, n: int, epi: Epilogue) -> tuple:
    """Every column of the output over k in range(*ks).

    With N % COLS columns left over, the last tile overlaps the one before (it starts at
    N - COLS and writes some columns again, with the same values): one tile shape for
    all columns, so the kernel has two tile variants to compile (ROWS and 1 row), not
    four. Only N < COLS needs a narrower tile."""
    if n < COLS:
        return _columns(dtype, ks, n, 0, epi)
    stop = -(-n // COLS)
    j0 = int_op(Fn.MUL, Var("jb"), COLS)
    if n % COLS:  # the last block starts at n - COLS
        j0 = int_op(Fn.MINIMUM, j0, n - COLS)
    return (Loop("jb", 0, stop, _columns(dtype, ks, COLS, j0, epi)),)


@dataclass(frozen=True)
class Epilogue:
    """What the kernel does with each product before storing it: add a bias row (the
    input in2, shape (N,)), then relu; `stores` names the stage each output out0, out1,
    ... receives, counting the stages present (0 the product, then after the bias if
    any, then after relu if any)."""

    bias: bool = False
    relu: bool = False
    stores: tuple = (0,)


def packed_matmul_kernel(name: str, dtype: str, k: int, n: int,
                         epi: Epilogue = Epilogue()) -> Kernel:
    """out0 (M, n) = in0 (M, k) @ in1.T, in1 the (n, k) packed weights, through `epi`."""
    params = (Param("in0", dtype, 2, False), Param("in1", dtype, 2, False)) + (
        (Param("in2", dtype, 1, False),) if epi.bias else ()) + tuple(
        Param(f"out{o}", dtype, 2, True) for o in range(len(epi.stores)))
    zero = Assign("zero", const(0, dtype), dtype)  # one constant, typed once
    return Kernel(name, params, (zero,) + _pass(dtype, (0, k), n, epi))


# The rule: the packed kernel replaces BLAS for a 2-D MatMul whose right operand is a
# constant (weights, packed once per plan) and whose left operand has at most MAX_ROWS
# rows. Whole ONNX MLPs on one thread (AVX-512 Xeon, OpenBLAS; min of interleaved
# bursts, process time, per call), BLAS -> packed: 784-256-256-10 at batch 1 28 -> 17 us,
# 16 123 -> 91 us, 32 200 -> 164..193 us (three runs), but 64 308 -> 353 us and 128
# 574 -> 694 us; a
# 64-32-10 MLP at batch 1 10 -> 6 us, 64 14 -> 12 us, 128 19 -> 18 us. BLAS's kernel wins
# once the product is large and has enough rows; below, packing once and calling a plain
# kernel (no Python wrapper, no thread site) win.
MAX_ROWS = 32
DTYPES = ("float32", "float64")

# The tier: a packed kernel costs about 0.3 s of cold compile (0.03 s from a warm
# on-disk cache), a BLAS call and its plain epilogue kernels far less, and a packed
# kernel saves some microseconds per call (784-256-256-10 at batch 1: 27 -> 16 us). So a
# plan is first made with BLAS for these products, and re-planned with packed kernels
# once it has served PACKED_AFTER_CALLS calls at its signature (graphjit.api), as a
# while loop gets its native driver after 64 iterations (graphjit.lower.while_loop): a
# function called a few times (a script, a test, a one-off evaluation) never pays the
# packed compile; one called over and over (serving, a training or evaluation loop) is
# likely to be called many more times, and switches after a few milliseconds of BLAS
# calls. 0: packed from the first call (no tier).
PACKED_AFTER_CALLS = 64


class Deferred:
    """What planning under `blas_first` found: whether some product would have been
    packed (then the plan is worth re-planning once it is hot)."""

    __slots__ = ("found",)

    def __init__(self):
        self.found = False


_deferring: ContextVar[Deferred | None] = ContextVar("packed_deferring", default=None)


@contextmanager
def blas_first() -> Iterator[Deferred]:
    """Plan (in this thread or task) every product the packed rule takes as a BLAS call
    instead; the Deferred yielded says whether there was one."""
    deferred = Deferred()
    token = _deferring.set(deferred)
    try:
        yield deferred
    finally:
        _deferring.reset(token)


def use_packed(op, shapes: dict) -> bool:
    """Whether `op` becomes a packed kernel under a plan's `shapes`: see MAX_ROWS; not
    while planning under `blas_first`, which notes that it deferred one."""
    if not fits_packed(op, shapes):
        return False
    deferred = _deferring.get()
    if deferred is None:
        return True
    deferred.found = True
    return False


def fits_packed(op, shapes: dict) -> bool:
    """Whether the packed rule (MAX_ROWS) takes `op` under a plan's `shapes`."""
    if op.type != "MatMul":
        return False
    a, b = op.inputs
    if b.op.type != "Const" or op.attrs.get("transpose_a") or a.dtype.name not in DTYPES \
            or b.dtype != a.dtype:
        return False
    a_shape, b_shape = shapes[a], shapes[b]
    return len(a_shape) == 2 and len(b_shape) == 2 and a_shape[0] is not None \
        and a_shape[0] <= MAX_ROWS


def epilogue_ops(op, shapes: dict, consumers: dict) -> list:
    """The ops a packed MatMul's kernel computes besides: an Add of a constant bias row
    (N,) or (1, N), or scalar, that alone reads the product, then a Relu that alone
    reads the sum (or the product), as far as the graph has them (`consumers`: tensor ->
    the plan's ops reading it)."""
    t = op.outputs[0]
    users = consumers.get(t, [])
    if len(users) == 1 and users[0].type == "Relu":
        return users  # (a zero bias was folded away: ONNX Gemm with C = 0)
    if len(users) != 1 or users[0].type != "Add" or len(set(users[0].inputs)) != 2:
        return []
    add = users[0]
    bias = add.inputs[1] if add.inputs[0] is t else add.inputs[0]
    n = shapes[t][1]
    if bias.op.type != "Const" or bias.dtype != t.dtype \
            or tuple(shapes[bias]) not in ((), (1,), (1, 1), (n,), (1, n)) \
            or tuple(shapes[add.outputs[0]]) != tuple(shapes[t]):
        return []
    users = consumers.get(add.outputs[0], [])
    return [add] + ([users[0]] if len(users) == 1 and users[0].type == "Relu" else [])


def packed_bias(lw, add, product) -> int:
    """The slot of the epilogue Add's bias as a contiguous (N,) row (a scalar repeated)."""
    bias = add.inputs[1] if add.inputs[0] is product else add.inputs[0]
    n = lw.shapes[product][1]
    key = (bias, "bias_row", n)
    value = lw.constants.get(key)
    if value is None:
        value = lw.constants[key] = np.ascontiguousarray(np.broadcast_to(
            np.asarray(lw.const_values[bias]).reshape(-1), (n,)))
    lw.slots.append(SlotSpec(value.shape, value.dtype, "const", value))
    return len(lw.slots) - 1


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
