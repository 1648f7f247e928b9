"""Matrix products by constant weights with few rows: a loop kernel, not a BLAS call.

An inference MLP multiplies a small batch (M of 1 to a few dozen rows) by constant
weights. BLAS repacks the weights into its panels on every call (800 KB for a 784x256
layer) and the extern step pays a Python wrapper and the thread site (codegen.blas)
around it; ONNX Runtime packs once. Here the weights are packed once, at plan time, into
panels of a few vectors' width (P, K, width), and the kernel is a loop over panels and
row tiles around codegen.microkernel's register-blocked tile: per k, the panel's row is
a few contiguous vector loads and each input row one broadcast, every load feeding
several fused multiply-adds into accumulators that stay in registers. The loops around
it block for the caches: rows in blocks (BLOCK_ROWS, in L2), then panels, then K in
blocks whose panel rows stay in L1 (k_block) while the block's row tiles pass them.
The tile's shape (rows, the vector width) comes from the target CPU
(codegen.tile_shape).

A bias add (a constant row or scalar) and a relu after the product join its kernel as
an epilogue on each tile (the partitioner puts them in the MatMul's region:
epilogue_ops), so a dense layer is one step. The kernel is loop IR (codegen compiles,
caches and calls it as any other kernel), shape-generic in M and K. Weights that are
Variables (an ONNX model imported with `trainable=`, a TF1 training graph) change
between runs, so their matmuls are not packed here: they go through BLAS.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from codegen.loopir import PARALLEL, SERIAL, Assign, Dim, Fn, Kernel, Loop, MatmulTile, Param, Var
from codegen.record import Record
from codegen.tile_shape import tile_shape
from graphjit.lower.exprs import int_add, int_op
from runtime.plan import SlotSpec, aligned_zeros


@dataclass(frozen=True, eq=False, repr=False)
class Epilogue(Record):
    """What the kernel does with each product before storing it: add a bias row (the
    input in2, shape (N,)), then relu; `stores` names the stage each output out0, out1,
    ... receives, counting the stages present (0 the product, then after the bias if
    any, then after relu if any)."""

    bias: bool = False
    relu: bool = False
    stores: tuple = (0,)


def product_tile(dtype: str, n: int) -> tuple[int, int, int]:
    """The tile (rows, width, lanes) for a product of N columns: the CPU's, one vector
    wide when N fits in one (a 10-column layer in 32-column panels computed 22 zeros a
    row; in 16 it computes 6)."""
    rows, width, lanes = tile_shape(dtype)
    return (rows, lanes, lanes) if n <= lanes else (rows, width, lanes)


def packed_matmul_kernel(name: str, dtype: str, epi: Epilogue = Epilogue(),
                         shape: tuple[int, int, int] | None = None,
                         parallel: bool = False, rank: int = 2) -> Kernel:
    """out0 (M, N) = in0 (M, K) @ the weights packed as in1 (P, K, width) (packed_weights),
    through `epi`; `shape` (rows, width, lanes) of the tile, the CPU's by default;
    `parallel`: the row blocks (BLOCK_ROWS) split between threads (codegen.parallel runs
    the outer loop in chunks). `rank` > 2: in0 and the outputs are stacks of rows, M
    their leading dims (an RNN's inputs for every step, (T, B, K))."""
    rows_max, width, lanes = shape or tile_shape(dtype)
    params = (Param("in0", dtype, rank, False), Param("in1", dtype, 3, False)) + (
        (Param("in2", dtype, 1, False),) if epi.bias else ()) + tuple(
        Param(f"out{o}", dtype, rank, True) for o in range(len(epi.stores)))
    m, k = Dim("in0", 0), Dim("in0", rank - 1)
    for d in range(1, rank - 1):
        m = int_op(Fn.MUL, m, Dim("in0", d))
    depth = k_block(dtype, width)
    k0 = Assign("k0", int_op(Fn.MUL, Var("kb"), depth), "int64")
    k1 = Assign("k1", int_op(Fn.MINIMUM, int_add(Var("k0"), depth), k), "int64")
    row = Assign("i0", int_op(Fn.MUL, Var("ib"), rows_max), "int64")
    rows = Assign("rows", int_op(Fn.MINIMUM, int_op(Fn.SUB, m, Var("i0")), rows_max),
                  "int64")
    tile = MatmulTile("in0", "in1", "in2" if epi.bias else "",
                      tuple(f"out{o}" for o in range(len(epi.stores))), epi.stores,
                      epi.relu, Var("i0"), Var("p"), Var("rows"), Var("k0"), Var("k1"),
                      rows_max, width, lanes)
    # row tiles rb*per .. rb*per+per-1 of the row block rb, the last ones past M cut
    per = BLOCK_ROWS // rows_max
    tiles = int_op(Fn.FLOORDIV, int_add(m, rows_max - 1), rows_max)
    first = int_op(Fn.MUL, Var("rb"), per)
    row_tiles = Loop("ib", first, int_op(Fn.MINIMUM, int_add(first, per), tiles),
                     (row, rows, tile))
    # (K = 0: one block, of nothing, so the epilogue still runs)
    blocks = int_op(Fn.MAXIMUM, int_op(Fn.FLOORDIV, int_add(k, depth - 1), depth), 1)
    k_blocks = Loop("kb", 0, blocks, (k0, k1, row_tiles))
    panels = Loop("p", 0, Dim("in1", 0), (k_blocks,))
    row_blocks = int_op(Fn.FLOORDIV, int_add(m, BLOCK_ROWS - 1), BLOCK_ROWS)
    return Kernel(name, params, (Loop("rb", 0, row_blocks, (panels,),
                                      PARALLEL if parallel else SERIAL),))


# Rows in a block: the kernel walks the rows in blocks of these many (the unit split
# between threads), and within a block the panels, so a block's rows of the input stay
# in the L2 cache while every panel passes them.
BLOCK_ROWS = 64
# A block of K is as deep as fills about half an L1 data cache (32 KB, the smallest of
# recent x86 cores) with a panel's rows, so they stay there while every row tile passes.
L1_BYTES = 32 * 1024


def k_block(dtype: str, width: int) -> int:
    """The depth of a block of K (L1_BYTES)."""
    return max(16, L1_BYTES // 2 // (width * np.dtype(dtype).itemsize))


# The rule: the packed kernel replaces BLAS for a 2-D MatMul whose right operand is a
# constant (weights, packed once per plan) and whose left operand has at most MAX_ROWS
# rows. Whole ONNX MLPs on one thread (AVX-512 Xeon, OpenBLAS; min of interleaved
# bursts, process time, per call), BLAS -> packed: 784-256-256-10 at batch 1 28 -> 17 us,
# 16 123 -> 91 us, 32 200 -> 164..193 us (three runs), but 64 308 -> 353 us and 128
# 574 -> 694 us; a
# 64-32-10 MLP at batch 1 10 -> 6 us, 64 14 -> 12 us, 128 19 -> 18 us. BLAS's kernel wins
# once the product is large and has enough rows; below, packing once and calling a plain
# kernel (no Python wrapper, no thread site) win. (Those figures predate the tile of
# codegen.microkernel: with it, the same machine ran the 784-256-256-10 MLP packed at
# 105 / 204 / 410 / 857 / 1678 us at batch 32 / 64 / 128 / 256 / 512 against BLAS's
# 195 / 282 / 641 / 1175 / 2138, benchmarks/packed_matmul.py. Which wins beyond the rule
# is the machine's to say: the tier races the two plans there, graphjit.plan_race.)
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
    packed (then the plan is worth re-planning once it is hot), and whether some
    product the rule leaves to BLAS only for its rows would be packed in a race
    (`beyond`: graphjit.plan_race); `defer`: whether the rule's products are deferred."""

    __slots__ = ("found", "beyond", "defer")

    def __init__(self, defer: bool = True):
        self.found = self.beyond = False
        self.defer = defer


_deferring: ContextVar[Deferred | None] = ContextVar("packed_deferring", default=None)


@contextmanager
def blas_first(defer: bool = True) -> Iterator[Deferred]:
    """Plan (in this thread or task) every product the packed rule takes as a BLAS call
    instead (`defer`; else as the rule says); the Deferred yielded says whether there
    was one, and whether a race would pack more."""
    deferred = Deferred(defer)
    token = _deferring.set(deferred)
    try:
        yield deferred
    finally:
        _deferring.reset(token)


_racing: ContextVar[Deferred | None] = ContextVar("packed_racing", default=None)


@contextmanager
def racing() -> Iterator[Deferred]:
    """Plan (in this thread or task) every product by constant weights as a packed
    kernel, whatever its rows: the plan the tier races against the BLAS one
    (graphjit.plan_race); the Deferred yielded says whether one beyond the rule was."""
    race = Deferred()
    token = _racing.set(race)
    try:
        yield race
    finally:
        _racing.reset(token)


def use_packed(op, shapes: dict) -> bool:
    """Whether `op` becomes a packed kernel under a plan's `shapes`: see MAX_ROWS; not
    while planning under `blas_first`, which notes that it deferred one. A product the
    rule leaves to BLAS only for its rows is packed under `racing`, and noted by
    `blas_first` (the tier then races the two plans)."""
    if fits_packed(op, shapes):
        return not deferred_by_tier()
    if not fits_packed(op, shapes, any_rows=True):
        return False
    race = _racing.get()
    if race is not None:
        race.found = True
        return True
    deferred = _deferring.get()
    if deferred is not None:
        deferred.beyond = True
    return False


def deferred_by_tier() -> bool:
    """Whether a product the packed kernels would take is planned as a BLAS call for now
    (under `blas_first`, which then notes that it deferred one)."""
    deferred = _deferring.get()
    if deferred is None or not deferred.defer:
        return False
    deferred.found = True
    return True


# Or a left operand of at most SMALL_OPERAND elements, whatever its rows: a product
# whose work is a few microseconds, where the extern step's Python wrapper (~4 us) and
# BLAS's per-call packing of the weights are most of a BLAS call. An LSTM's input
# projection, 32 steps x 8 x 64 by 64 x 256 (a stack of rows, the left operand 3-D),
# took 47 us packed against 62 us in np.matmul (one thread, AVX-512 Xeon). Larger
# products stay BLAS calls, which use every thread where graphjit's pool may judge a
# shared machine busy and run one (graphjit.lower.fed_matmul.ENABLED).
SMALL_OPERAND = 1 << 14


def blas_rows(k: int = 1) -> int:
    """The fewest rows of a left operand of `k` columns (any, by default) whose products
    by constant weights stay BLAS calls (MAX_ROWS, SMALL_OPERAND)."""
    return max(MAX_ROWS, SMALL_OPERAND // max(k, 1)) + 1


def fits_packed(op, shapes: dict, any_rows: bool = False) -> bool:
    """Whether the packed rule (MAX_ROWS, SMALL_OPERAND) takes `op` under a plan's
    `shapes`: 2-D constant weights, a left operand of 2 or more dims (its leading ones
    the rows); `any_rows`: whatever the rows (the products the tier races)."""
    if op.type != "MatMul":
        return False
    a, b = op.inputs
    if b.op.type != "Const" or op.attrs.get("transpose_a") or a.dtype.name not in DTYPES \
            or b.dtype != a.dtype:
        return False
    a_shape, b_shape = shapes[a], shapes[b]
    if len(a_shape) < 2 or len(b_shape) != 2 or None in a_shape:
        return False
    rows = math.prod(a_shape[:-1])
    return any_rows or rows <= MAX_ROWS or rows * a_shape[-1] <= SMALL_OPERAND


def bias_relu_after(t, shapes: dict, consumers: dict, bias_fits) -> list:
    """[Add, Relu], [Add] or [Relu] after tensor `t`, as far as the graph has them: a
    Relu that alone reads `t`, or an Add that alone reads it, keeps its shape and whose
    other operand (of t's dtype) `bias_fits`, then a Relu that alone reads the sum
    (`consumers`: tensor -> the plan's ops reading it). The epilogue rule of packed
    MatMuls and of pooling kernels (graphjit.lower.pool_epilogue)."""
    users = consumers.get(t, [])
    if len(users) == 1 and users[0].type == "Relu":
        return users  # (a zero bias was folded away: ONNX Gemm with C = 0)
    if len(users) != 1 or users[0].type != "Add" or len(set(users[0].inputs)) != 2:
        return []
    add = users[0]
    bias = add.inputs[1] if add.inputs[0] is t else add.inputs[0]
    if bias.dtype != t.dtype or not bias_fits(bias) \
            or tuple(shapes[add.outputs[0]]) != tuple(shapes[t]):
        return []
    users = consumers.get(add.outputs[0], [])
    return [add] + ([users[0]] if len(users) == 1 and users[0].type == "Relu" else [])


def epilogue_ops(op, shapes: dict, consumers: dict) -> list:
    """The ops a packed MatMul's kernel computes besides (bias_relu_after): the Add's
    bias a constant row (N,) or (1, N), or scalar, or a fed (N,) row (a Placeholder:
    nothing computed from the product)."""
    t = op.outputs[0]
    n = shapes[t][-1]

    def fits(bias) -> bool:
        rows = ((), (1,), (1, 1), (n,), (1, n)) if bias.op.type == "Const" else (
            ((n,),) if bias.op.type == "Placeholder" else ())
        return tuple(shapes[bias]) in rows
    return bias_relu_after(t, shapes, consumers, fits)


def packed_bias(lw, add, product) -> int:
    """The slot of the epilogue Add's bias as a contiguous row: a fed one as it is (the
    tile reads no column past N), a constant one (a scalar repeated) padded to the
    packed weights' columns."""
    bias = add.inputs[1] if add.inputs[0] is product else add.inputs[0]
    if bias.op.type != "Const":
        return lw.input_or_const_slot(bias)
    n = lw.shapes[product][-1]
    width = product_tile(product.dtype.name, n)[1]
    key = (bias, "bias_row", n, width)
    value = lw.constants.get(key)
    if value is None:
        value = lw.constants[key] = aligned_zeros((-(-n // width) * width,), product.dtype.np)
        value[:n] = np.asarray(lw.const_values[bias]).reshape(-1)
    lw.slots.append(SlotSpec(value.shape, value.dtype, "const", value))
    return len(lw.slots) - 1


def pack_panels(w: np.ndarray, width: int) -> np.ndarray:
    """(K, N) weights as panels (P, K, width), P = ceil(N / width): panel p holds columns
    p*width .. p*width+width-1, zero past N; C-contiguous, on a cache line
    (runtime.plan.ALIGN_BYTES: the tile loads whole vectors of it)."""
    k, n = w.shape
    panels = aligned_zeros((-(-n // width), k, width), w.dtype)
    for p in range(panels.shape[0]):
        cols = w[:, p * width:(p + 1) * width]
        panels[p, :, :cols.shape[1]] = cols
    return panels


def packed_weights(lw, op) -> int:
    """The slot of `op`'s constant right operand packed as panels (pack_panels); made
    once and shared by every plan of the function (as its constants are)."""
    b = op.inputs[1]
    transposed = bool(op.attrs.get("transpose_b"))
    w = np.asarray(lw.const_values[b])
    width = product_tile(b.dtype.name, w.shape[0 if transposed else 1])[1]
    key = (b, "panels", transposed, width)
    value = lw.constants.get(key)
    if value is None:
        value = lw.constants[key] = pack_panels(w.T if transposed else w, width)
    lw.slots.append(SlotSpec(value.shape, value.dtype, "const", value))
    return len(lw.slots) - 1
