"""Convolutions as two steps over a planned (N, OH, OW, KH, KW, Cin) columns buffer: a
native im2col/col2im kernel and one BLAS GEMM (a pointwise forward conv: the GEMM alone,
on its input). Kept apart from the generic lowering because each conv region becomes two
kernels and an intermediate no graph tensor names.
"""

from __future__ import annotations

import math

from graphjit.lower.conv_pool import conv_pool_kernel, fuses_with_pool
from graphjit.lower.conv_tile import lower_conv_tile, use_conv_tile
from graphjit.lower.extern import (
    conv_filter_grad_gemm_kernel,
    conv_gemm_kernel,
    conv_input_grad_gemm_kernel,
)
from graphjit.lower.kernels import col2im_kernel, im2col_kernel
from graphjit.lower.pool_epilogue import channel_bias_slot, pool_epilogue
from graphjit.lower.standalone import identifier, pool


def _shape(lw, dy_or_out, f) -> tuple[tuple, int, int, int]:
    """(columns shape (N, OH, OW, KH, KW, Cin), rows, depth, cout), rows x depth the
    GEMM view of the columns."""
    n, oh, ow, cout = lw.shapes[dy_or_out]
    kh, kw, cin, _ = lw.shapes[f]
    return (n, oh, ow, kh, kw, cin), n * oh * ow, kh * kw * cin, cout


def _columns(lw, op, dy_or_out, f) -> tuple[int, tuple, int, int, int]:
    """A planned buffer for the columns: (slot, shape, rows, depth, cout)."""
    cols_shape, rows, depth, cout = _shape(lw, dy_or_out, f)
    cols = lw.buffer(cols_shape, op.inputs[0].dtype.np)
    return cols, cols_shape, rows, depth, cout


def pointwise(op, shapes) -> bool:
    """A 1x1 filter at stride 1 and no padding: the columns are the input itself."""
    x, f = op.inputs
    return shapes[f][:2] == (1, 1) and tuple(op.attrs["strides"]) == (1, 1, 1, 1) \
        and shapes[x][1:3] == shapes[op.outputs[0]][1:3]


def lower_conv(lw, op, outputs, out_slots, names) -> None:
    """Conv2D = a native im2col kernel into a planned buffer, then one BLAS GEMM; a
    pointwise (1x1) conv is the GEMM alone, on the input. A constant filter: one kernel
    of packed tiles reading the input (graphjit.lower.conv_tile). With the MaxPool reading it
    (and the pool's bias and relu) in its region (`names`), one kernel of both
    (graphjit.lower.conv_pool)."""
    if len(names) > 1:
        _lower_conv_pool(lw, op, outputs, out_slots, names)
        return
    if use_conv_tile(op, lw.shapes):
        lower_conv_tile(lw, op, outputs, out_slots, names)
        return
    x, f = op.inputs
    x_slot, f_slot = (lw.input_or_const_slot(t) for t in (x, f))
    if pointwise(op, lw.shapes):
        cols_shape, rows, depth, cout = _shape(lw, outputs[0], f)
        cols, cols_rank = x_slot, 4
    else:
        cols, cols_shape, rows, depth, cout = _columns(lw, op, outputs[0], f)
        cols_rank = 6
        lw.add_kernel(im2col_kernel(identifier("im2col", op), op, lw.shapes, cols_shape),
                      (x_slot,), (cols,), names, 0, math.prod(cols_shape) * x.dtype.size)
    lw.add_kernel(conv_gemm_kernel(identifier("gemm", op), op, cols_shape, cout,
                                   per_image_gemm(cols_shape), cols_rank),
                  (cols, f_slot), out_slots, names, 2 * rows * depth * cout,
                  math.prod(cols_shape) * x.dtype.size + lw.bytes_of([f], outputs))


def _lower_conv_pool(lw, op, outputs, out_slots, names) -> None:
    """The conv and the MaxPool after it (names[1]) with the pool's epilogue, as one
    kernel; apart (im2col + GEMM, then the pool kernel) when the conv's own result is
    fetched, which the fused kernel never holds."""
    pool_op = next(o for o in lw.ops if o.name == names[1])
    conv_out = op.outputs[0]
    if conv_out in outputs:
        at = outputs.index(conv_out)
        rest = [i for i in range(len(outputs)) if i != at]
        lower_conv(lw, op, [conv_out], (out_slots[at],), names[:1])
        pool(is_max=True)(lw, pool_op, [outputs[i] for i in rest],
                          tuple(out_slots[i] for i in rest), names[1:])
        return
    if not fuses_with_pool(op, pool_op, lw.shapes):  # (conv_tile.fuses_pool took it)
        lower_conv_tile(lw, op, outputs, out_slots, names, pool_op)
        return
    x, f = op.inputs
    epi, add = pool_epilogue(lw, pool_op, outputs, names[1:])
    kernel = conv_pool_kernel(identifier("conv_pool", op), op, pool_op, lw.shapes, epi)
    in_slots = (lw.input_or_const_slot(x), lw.input_or_const_slot(f)) + (
        (channel_bias_slot(lw, add, pool_op.outputs[0]),) if epi.bias else ())
    _, oh, ow, cout = lw.shapes[conv_out]
    kh, kw, cin, _ = lw.shapes[f]
    lw.add_kernel(kernel, in_slots, out_slots, names,
                  2 * lw.shapes[x][0] * oh * ow * kh * kw * cin * cout,
                  lw.bytes_of([x, f], outputs))


def per_image_gemm(cols_shape: tuple) -> bool:
    """One GEMM per image rather than one over the batch when an image has at least as
    many output cells as the filter has rows (OH*OW >= KH*KW*Cin). Per image, BLAS packs
    the filter again for every image but keeps that image's output block in cache; one
    GEMM over the batch streams the whole output through memory (a BLAS sets it to zero
    first). Packing the filter costs depth x Cout, the output block OH*OW x Cout: the
    stack pays when the second is the bigger. Measured with OpenBLAS, one thread: the cnn
    benchmark's convolutions (784 cells x 9, 196 x 144) went 152 -> 83 and 562 -> 447 us at
    batch 32; cells < depth (49 x 288, 1 x 288) were 1.2-3x slower per image."""
    _, oh, ow, kh, kw, cin = cols_shape
    return oh * ow >= kh * kw * cin


def lower_conv_input_grad(lw, op, outputs, out_slots, names) -> None:
    """Conv2DBackpropInput = one BLAS GEMM (dy times the filter's transpose) into a
    columns buffer, then a native col2im kernel summing each input cell's taps."""
    x, f, dy = op.inputs
    cols, cols_shape, rows, depth, cout = _columns(lw, op, dy, f)
    f_slot, dy_slot = (lw.input_or_const_slot(t) for t in (f, dy))
    cols_bytes = math.prod(cols_shape) * x.dtype.size
    lw.add_kernel(conv_input_grad_gemm_kernel(identifier("gemm", op), op, cols_shape, cout),
                  (dy_slot, f_slot), (cols,), names, 2 * rows * depth * cout,
                  cols_bytes + lw.bytes_of([f, dy], []))
    lw.add_kernel(col2im_kernel(identifier("col2im", op), op, lw.shapes, cols_shape),
                  (cols,), out_slots, names, 0, cols_bytes + lw.bytes_of([], outputs))


def lower_conv_filter_grad(lw, op, outputs, out_slots, names) -> None:
    """Conv2DBackpropFilter = the forward's native im2col kernel, then one BLAS GEMM
    (the columns' transpose times dy)."""
    x, f, dy = op.inputs
    cols, cols_shape, rows, depth, cout = _columns(lw, op, dy, f)
    x_slot, dy_slot = (lw.input_or_const_slot(t) for t in (x, dy))
    cols_bytes = math.prod(cols_shape) * x.dtype.size
    lw.add_kernel(im2col_kernel(identifier("im2col", op), op, lw.shapes, cols_shape),
                  (x_slot,), (cols,), names, 0, cols_bytes)
    lw.add_kernel(conv_filter_grad_gemm_kernel(identifier("gemm", op), op, cols_shape, cout),
                  (cols, dy_slot), out_slots, names, 2 * rows * depth * cout,
                  cols_bytes + lw.bytes_of([dy], outputs))

