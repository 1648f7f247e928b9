"""Convolutions by constant filters as packed matrix-product tiles over the input itself.

im2col + GEMM writes a columns buffer KH*KW times the input's size and reads it back:
in the cnn benchmark's second conv (32x14x14x16 input, 3x3x16x32 filter, one thread)
im2col took 207 us beside the GEMM's 432. Here the filter, (KH*KW*Cin, Cout), is packed
once into panels (graphjit.lower.packed_matmul.pack_panels), and codegen.microkernel's
tile reads each output cell's row of the product straight from the NHWC input: per
filter tap, the cell's Cin input channels are contiguous, or a zero row where the tap
falls in the padding. No columns buffer exists, and the product's loops are the packed
MatMul's (row blocks, panels, row tiles), K summed whole.

Filters that change between runs (Variables of a training graph, fed tensors) keep
im2col + BLAS, as do convs under the packed tier's first calls (packed_matmul.
PACKED_AFTER_CALLS): the tile costs compile time a few calls do not repay.
"""

from __future__ import annotations

import numpy as np

from codegen.loopir import PARALLEL, SERIAL, Assign, Dim, Fn, Kernel, Loop, MatmulTile, Param, Var
from graphjit.lower.conv_pool import _pool_inside
from graphjit.lower.exprs import int_add, int_op
from graphjit.lower.packed_matmul import (
    BLOCK_ROWS,
    DTYPES,
    Epilogue,
    deferred_by_tier,
    pack_panels,
    product_tile,
)
from graphjit.lower.pool_epilogue import channel_bias_slot, pool_epilogue
from graphjit.ops._util import pad_amounts
from runtime.plan import SlotSpec


def fits_conv_tile(op, shapes: dict) -> bool:
    """Whether the tile takes Conv2D `op` under a plan's `shapes`: a constant filter of
    the input's float dtype, every size but the batch known."""
    if op.type != "Conv2D":
        return False
    x, f = op.inputs
    return f.op.type == "Const" and x.dtype.name in DTYPES and f.dtype == x.dtype \
        and all(d is not None for d in (*shapes[x][1:], *shapes[f]))


def use_conv_tile(op, shapes: dict) -> bool:
    """fits_conv_tile, and not deferred by the packed tier (packed_matmul.blas_first)."""
    return fits_conv_tile(op, shapes) and not deferred_by_tier()


def fuses_pool(conv, pool, shapes: dict) -> bool:
    """Whether the MaxPool `pool` reading Conv2D `conv` joins its tile kernel: the tile
    takes the conv, the pool's windows lie inside the conv output and do not overlap
    (no conv cell computed twice), and the tile's rows hold whole windows."""
    if pool.type != "MaxPool" or not use_conv_tile(conv, shapes):
        return False
    (_, kh, kw, _), (_, sh, sw, _) = pool.attrs["ksize"], pool.attrs["strides"]
    rows = product_tile(conv.inputs[0].dtype.name, shapes[conv.outputs[0]][3])[0]
    return _pool_inside(pool, shapes) and sh >= kh and sw >= kw and rows % (kh * kw) == 0


def geometry(op, shapes: dict, pool=None) -> tuple:
    """The tile's convolution constants (codegen.microkernel.ConvGeometry's order), with
    the max pool `pool` after it, if any."""
    x, f = op.inputs
    _, h, w, cin = shapes[x]
    kh, kw, _, _ = shapes[f]
    _, oh, ow, _ = shapes[op.outputs[0]]
    (_, sh, sw, _), (_, dh, dw, _) = op.attrs["strides"], op.attrs["dilations"]
    _, top, _ = pad_amounts(h, (kh - 1) * dh + 1, sh, op.attrs["padding"])
    _, left, _ = pad_amounts(w, (kw - 1) * dw + 1, sw, op.attrs["padding"])
    pooling = (1, 1, 1, 1, oh, ow)
    if pool is not None:
        (_, pkh, pkw, _), (_, psh, psw, _) = pool.attrs["ksize"], pool.attrs["strides"]
        pooling = (pkh, pkw, psh, psw, *shapes[pool.outputs[0]][1:3])
    return (h, w, cin, oh, ow, kh, kw, sh, sw, dh, dw, top, left, *pooling)


def conv_tile_kernel(name: str, dtype: str, geom: tuple, epi: Epilogue,
                     shape: tuple[int, int, int], parallel: bool) -> Kernel:
    """out0 (N, OH, OW, Cout) = the convolution of in0 (N, H, W, Cin) by the filter
    packed as in1 (P, KH*KW*Cin, width), or its max pool (N, PH, PW, Cout), through
    `epi` (bias in2); `parallel`: the row blocks split between threads."""
    rows_max, width, lanes = shape
    cin, kh, kw = geom[2], geom[5], geom[6]
    pkh, pkw, _, _, ph, pw = geom[13:]
    params = (Param("in0", dtype, 4, False), Param("in1", dtype, 3, False)) + (
        (Param("in2", dtype, 1, False),) if epi.bias else ()) + tuple(
        Param(f"out{o}", dtype, 4, True) for o in range(len(epi.stores)))
    m = int_op(Fn.MUL, Dim("out0", 0), ph * pw * pkh * pkw)  # (conv cells computed)
    row = Assign("i0", int_op(Fn.MUL, Var("ib"), rows_max), "int64")
    rows = Assign("rows", int_op(Fn.MINIMUM, int_op(Fn.SUB, m, Var("i0")), rows_max),
                  "int64")
    tile = MatmulTile("in0", "in1", "in2" if epi.bias else "",
                      tuple(f"out{o}" for o in range(len(epi.stores))), epi.stores,
                      epi.relu, Var("i0"), Var("p"), Var("rows"), 0, kh * kw * cin,
                      rows_max, width, lanes, tuple(geom))
    per = BLOCK_ROWS // rows_max
    tiles = int_op(Fn.FLOORDIV, int_add(m, rows_max - 1), rows_max)
    first = int_op(Fn.MUL, Var("rb"), per)
    row_tiles = Loop("ib", first, int_op(Fn.MINIMUM, int_add(first, per), tiles),
                     (row, rows, tile))
    panels = Loop("p", 0, Dim("in1", 0), (row_tiles,))
    row_blocks = int_op(Fn.FLOORDIV, int_add(m, BLOCK_ROWS - 1), BLOCK_ROWS)
    return Kernel(name, params, (Loop("rb", 0, row_blocks, (panels,),
                                      PARALLEL if parallel else SERIAL),))


def conv_panels(lw, f, width: int) -> int:
    """The slot of the constant HWIO filter `f` as (KH*KW*Cin, Cout) in panels of
    `width`; made once and shared by every plan of the function."""
    key = (f, "conv_panels", width)
    value = lw.constants.get(key)
    if value is None:
        w = np.asarray(lw.const_values[f])
        value = lw.constants[key] = pack_panels(w.reshape(-1, w.shape[-1]), width)
    lw.slots.append(SlotSpec(value.shape, value.dtype, "const", value))
    return len(lw.slots) - 1


def lower_conv_tile(lw, op, outputs, out_slots, names, pool=None) -> None:
    """Conv2D as one tile kernel (use_conv_tile said it fits), with the max pool `pool`
    after it (fuses_pool said it fits) and the pool's bias and relu in its region
    (`names`)."""
    from graphjit.lower.emit import PARALLEL_MIN_ELEMENTS  # (emit imports the partitioner)
    from graphjit.lower.standalone import identifier

    x, f = op.inputs
    n, oh, ow, cout = lw.shapes[op.outputs[0]]
    shape = product_tile(x.dtype.name, cout)
    geom = geometry(op, lw.shapes, pool)
    epi, add = (Epilogue(), None) if pool is None else \
        pool_epilogue(lw, pool, outputs, names[1:])
    # counted as outputs: each is a K-long chain of vector FMAs
    kernel = conv_tile_kernel(identifier("conv", op), x.dtype.name, geom, epi, shape,
                              n * oh * ow * cout >= PARALLEL_MIN_ELEMENTS)
    depth = geom[5] * geom[6] * geom[2]
    in_slots = (lw.input_or_const_slot(x), conv_panels(lw, f, shape[1])) + (
        (channel_bias_slot(lw, add, pool.outputs[0]),) if epi.bias else ())
    lw.add_kernel(kernel, in_slots, out_slots, names, 2 * n * oh * ow * depth * cout,
                  lw.bytes_of([x, f], outputs))
