"""A convolution of few filter taps and the max pooling after it, as one loop kernel.

A CNN's first layer convolves 1-3 input channels: im2col + GEMM then writes a columns
buffer of KH*KW*Cin values per cell for a GEMM whose depth (9 for 3x3 on one channel)
is too short for BLAS's blocking to pay, and writes the full-resolution conv output
for the pool to read back and shrink 4x. In the cnn benchmark (1x28x28 images, 16
filters, 2x2 pool; one thread, batch 32) im2col, GEMM and pool took 86 + 100 + 96 us.

Here each pooled cell is computed where it is stored: read the input patch its window
of conv cells sees, once (as scalars, zero in the conv's padding), then sweep the output
channels in the innermost loop, each conv cell of the window a chain of fused
multiply-adds of patch value x filter row (the HWIO filter is contiguous along the
output channels, as is the NHWC output, so LLVM vectorizes the sweep), their maximum,
then the pool's epilogue (graphjit.lower.pool_epilogue: channel bias, relu). Neither the
columns nor the conv output exist.

The patch's values are written out one statement each: the source, and Numba's compile
time, grow with it, and per-cell scalar work grows with Cin while the vector work grows
with Cout; MAX_PATCH bounds it. Spatial sizes, strides and padding are constants (as in
im2col); the batch is read from the arrays at run time.
"""

from __future__ import annotations

from codegen.loopir import (
    PARALLEL,
    SERIAL,
    Assign,
    Call,
    Dim,
    Fn,
    Kernel,
    Load,
    Loop,
    Param,
    Store,
    Var,
)
from graphjit.lower.exprs import const, int_add, int_mul, int_op
from graphjit.lower.packed_matmul import Epilogue
from graphjit.ops._util import pad_amounts

# Input values one pooled cell reads at most (a 2x2 pool of 3x3 convs at stride 1 reads a
# 4x4 patch: 16 per input channel). Beyond a few channels the GEMM's depth is long enough
# for BLAS, and the unrolled patch makes long sources.
MAX_PATCH = 48
DTYPES = ("float32", "float64")


def _pool_inside(pool, shapes: dict) -> bool:
    """Every pooling window lies inside the conv output (no padded cell to skip)."""
    _, h, w, _ = shapes[pool.inputs[0]]
    _, oh, ow, _ = shapes[pool.outputs[0]]
    (_, kh, kw, _), (_, sh, sw, _) = pool.attrs["ksize"], pool.attrs["strides"]
    _, top, _ = pad_amounts(h, kh, sh, pool.attrs["padding"])
    _, left, _ = pad_amounts(w, kw, sw, pool.attrs["padding"])
    return top == 0 and left == 0 and (oh - 1) * sh + kh <= h and (ow - 1) * sw + kw <= w


def _patch(conv, pool, shapes: dict) -> tuple[list, list]:
    """Row and column offsets of the input cells one pooled cell reads, from the first
    conv cell of its window's first tap."""
    kh, kw, _, _ = shapes[conv.inputs[1]]
    (_, sh, sw, _), (_, dh, dw, _) = conv.attrs["strides"], conv.attrs["dilations"]
    (_, pkh, pkw, _) = pool.attrs["ksize"]
    rows = sorted({a * sh + i * dh for a in range(pkh) for i in range(kh)})
    cols = sorted({b * sw + j * dw for b in range(pkw) for j in range(kw)})
    return rows, cols


def fuses_with_pool(conv, pool, shapes: dict) -> bool:
    """Whether Conv2D `conv` and the MaxPool `pool` reading it become one kernel: float,
    known spatial shapes, windows inside the conv output, a patch of at most MAX_PATCH
    values."""
    x, f = conv.inputs
    if conv.type != "Conv2D" or pool.type != "MaxPool" or x.dtype.name not in DTYPES \
            or f.dtype != x.dtype or any(d is None for d in (*shapes[x][1:], *shapes[f])):
        return False
    rows, cols = _patch(conv, pool, shapes)
    return _pool_inside(pool, shapes) and len(rows) * len(cols) * shapes[f][2] <= MAX_PATCH


def _inside(i, n: int):
    return Call(Fn.LOGICALAND, (int_op(Fn.GREATEREQUAL, i, 0), int_op(Fn.LESS, i, n)),
                "bool")


def _clamp(i, n: int):
    return int_op(Fn.MINIMUM, int_op(Fn.MAXIMUM, i, 0), n - 1)


def _read_patch(conv, pool, shapes: dict, dtype: str) -> list:
    """Assignments of p{r}_{c}_{ci}: the input value at row offset r, column offset c."""
    x, f = conv.inputs
    _, h, w, cin = shapes[x]
    kh, kw, _, _ = shapes[f]
    (_, sh, sw, _), (_, dh, dw, _) = conv.attrs["strides"], conv.attrs["dilations"]
    (_, psh, psw, _) = pool.attrs["strides"]
    _, top, _ = pad_amounts(h, (kh - 1) * dh + 1, sh, conv.attrs["padding"])
    _, left, _ = pad_amounts(w, (kw - 1) * dw + 1, sw, conv.attrs["padding"])
    rows, cols = _patch(conv, pool, shapes)
    n = Var("n")
    body = [Assign(f"r{r}", int_add(int_mul(Var("ph"), psh * sh), r - top), "int64")
            for r in rows]
    body += [Assign(f"c{c}", int_add(int_mul(Var("pw"), psw * sw), c - left), "int64")
             for c in cols]
    for r in rows:
        for c in cols:
            ih, iw = Var(f"r{r}"), Var(f"c{c}")
            inside = Call(Fn.LOGICALAND, (_inside(ih, h), _inside(iw, w)), "bool")
            for ci in range(cin):
                load = Load("in0", (n, _clamp(ih, h), _clamp(iw, w), const(ci, "int64")))
                body.append(Assign(f"p{r}_{c}_{ci}", Call(Fn.SELECT, (
                    inside, load, const(0, dtype)), dtype), dtype))
    return body


def conv_pool_kernel(name: str, conv, pool, shapes: dict, epi: Epilogue) -> Kernel:
    """out0, out1, ... (N, PH, PW, Cout) = MaxPool(Conv2D(in0, in1)) through `epi` (the
    bias, input in2 of shape (Cout,), and relu), storing the stages `epi.stores` names."""
    x, f = conv.inputs
    kh, kw, cin, cout = shapes[f]
    (_, sh, sw, _), (_, dh, dw, _) = conv.attrs["strides"], conv.attrs["dilations"]
    (_, pkh, pkw, _) = pool.attrs["ksize"]
    _, ph_n, pw_n, _ = shapes[pool.outputs[0]]
    dtype = x.dtype.name
    co = Var("co")
    cells = []
    for a in range(pkh):
        for b in range(pkw):
            acc = None
            for i in range(kh):
                for j in range(kw):
                    for ci in range(cin):
                        weight = Load("in1", (const(i, "int64"), const(j, "int64"),
                                              const(ci, "int64"), co))
                        value = Var(f"p{a * sh + i * dh}_{b * sw + j * dw}_{ci}")
                        acc = Call(Fn.MUL, (value, weight), dtype) if acc is None else \
                            Call(Fn.REDUCE_MULADD, (acc, value, weight), dtype)
            cells.append(acc)
    best = cells[0]
    for cell in cells[1:]:
        best = Call(Fn.MAXIMUM, (best, cell), dtype)
    stages = [best]
    if epi.bias:
        stages.append(Call(Fn.ADD, (Var("stage0"), Load("in2", (co,))), dtype))
    if epi.relu:
        stages.append(Call(Fn.RELU, (Var(f"stage{len(stages) - 1}"),), dtype))
    sweep = []
    for s, stage in enumerate(stages):
        sweep.append(Assign(f"stage{s}", stage, dtype))
        sweep += [Store(f"out{o}", (Var("n"), Var("ph"), Var("pw"), co), Var(f"stage{s}"))
                  for o, stored in enumerate(epi.stores) if stored == s]
    body = _read_patch(conv, pool, shapes, dtype) + [Loop("co", 0, cout, tuple(sweep))]
    params = (Param("in0", dtype, 4, False), Param("in1", dtype, 4, False)) + (
        (Param("in2", dtype, 1, False),) if epi.bias else ()) + tuple(
        Param(f"out{o}", dtype, 4, True) for o in range(len(epi.stores)))
    from graphjit.lower.emit import PARALLEL_MIN_ELEMENTS  # (emit imports the partitioner,
    # which imports this module's rule)
    # Counted as the pool kernel counts its work (outputs x window cells): the taps run
    # as vector FMAs across the channels, a few instructions per output. At batch 1
    # (14x14x16 outputs) the cnn's kernel took 3.3 us serial and 11-13 us chunked, the
    # chunked call path (codegen.parallel, from Python) costing more than the kernel.
    work = shapes[pool.outputs[0]][0] * ph_n * pw_n * cout * pkh * pkw
    kind = PARALLEL if work >= PARALLEL_MIN_ELEMENTS else SERIAL
    nest = Loop("ph", 0, ph_n, (Loop("pw", 0, pw_n, tuple(body)),))
    return Kernel(name, params, (Loop("n", 0, Dim("out0", 0), (nest,), kind),))
