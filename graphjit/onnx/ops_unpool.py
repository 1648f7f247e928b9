"""ONNX converters for the ops that scatter values back into an image: Col2Im (the sum of
sliding blocks, im2col's adjoint) and MaxUnpool (MaxPool's values put back at its
indices). Both are a segment reduction over the image's flattened cells: graphjit's
UnsortedSegmentSum/Max, with the cell of every value computed at import for Col2Im."""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter


@converter("Col2Im", attrs=("dilations", "pads", "strides"))
def convert_col2im(ctx: NodeContext) -> Tensor:
    """input (N, C * prod(block), L): column l of channel c, tap t is added to the padded
    image cell that block l's tap t covers; the pads are cropped off after."""
    x = ctx.inputs[0]
    image = [int(v) for v in np.asarray(ctx.require_static(1, "image_shape")).ravel()]
    block = [int(v) for v in np.asarray(ctx.require_static(2, "block_shape")).ravel()]
    n = len(image)
    if len(block) != n or n < 1 or x.ndim != 3:
        raise ctx.invalid(f"image_shape {image} and block_shape {block} must have one length "
                          f"and the input rank 3, got {x.shape}")
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    pads = list(ctx.attr("pads", [0] * (2 * n)))
    if len(strides) != n or len(dilations) != n or len(pads) != 2 * n:
        raise ctx.invalid(f"strides, dilations and pads need {n}, {n} and {2 * n} values")
    padded = [image[i] + pads[i] + pads[i + n] for i in range(n)]
    blocks = [(p - (b - 1) * d - 1) // s + 1
              for p, b, d, s in zip(padded, block, dilations, strides)]
    taps, columns = int(np.prod(block)), int(np.prod(blocks))
    _, rows, length = ctx.require_shape(0, "Col2Im")
    if rows % taps or length != columns or min(blocks) < 1:
        raise ctx.invalid(f"an input of shape {[rows, length]} per image does not hold "
                          f"{taps}-cell blocks at the {columns} positions {blocks}")
    ctx.check_size(taps * columns, 8, "the Col2Im cell index")
    cell = np.zeros([*block, *blocks], np.int64)  # the padded cell of (tap, column)
    step = 1
    for i in reversed(range(n)):
        tap_shape, col_shape = [1] * (2 * n), [1] * (2 * n)
        tap_shape[i], col_shape[n + i] = -1, -1
        cell = cell + (np.arange(block[i]) * dilations[i] * step).reshape(tap_shape) \
            + (np.arange(blocks[i]) * strides[i] * step).reshape(col_shape)
        step *= padded[i]
    channels = rows // taps
    data = gj.transpose(gj.reshape(x, [-1, channels, taps * columns]), [2, 0, 1])
    summed = gj.unsorted_segment_sum(data, gj.constant(cell.ravel().astype(np.int32)), step)
    y = gj.transpose(gj.reshape(summed, [*padded, -1, channels]), [n, n + 1, *range(n)])
    crop = tuple(slice(pads[i], pads[i] + image[i]) for i in range(n))
    return gj.identity(y[(slice(None), slice(None), *crop)], name=ctx.name)


@converter("MaxUnpool", attrs=("kernel_shape", "pads", "strides"))
def convert_max_unpool(ctx: NodeContext) -> Tensor:
    """Zeros of the unpooled shape ((in - 1) * stride - pads + kernel per spatial axis)
    with X's values at I's flat indices, then zero-padded at the end to output_shape
    when given, as ONNX's reference does."""
    x, indices = ctx.inputs[0], ctx.inputs[1]
    shape = list(ctx.require_shape(0, "MaxUnpool"))
    n = len(shape) - 2
    if n < 1 or "kernel_shape" not in ctx.attrs:
        raise ctx.invalid(f"needs an input of rank >= 3 and kernel_shape, got {x.shape}")
    kernel = list(ctx.attr("kernel_shape"))
    strides = list(ctx.attr("strides", [1] * n))
    pads = list(ctx.attr("pads", [0] * (2 * n)))
    if len(kernel) != n or len(strides) != n or len(pads) != 2 * n:
        raise ctx.invalid(f"kernel_shape, strides and pads need {n}, {n} and {2 * n} values")
    inferred = shape[:2] + [(shape[i + 2] - 1) * strides[i] - pads[i] - pads[i + n] + kernel[i]
                            for i in range(n)]
    total = int(np.prod(inferred))
    flat_x, flat_i = gj.reshape(x, [-1]), gj.cast(gj.reshape(indices, [-1]), gj.int32)
    hits = gj.unsorted_segment_sum(gj.ones_like(flat_x), flat_i, total)
    # a cell two windows share gets its value twice: the maximum keeps it once
    top = gj.unsorted_segment_max(flat_x, flat_i, total)
    y = gj.reshape(gj.where(hits > 0, top, gj.zeros_like(top)), inferred)
    if ctx.input(2) is not None:
        wanted = [int(v) for v in np.asarray(ctx.require_static(2, "output_shape")).ravel()]
        if len(wanted) != len(inferred) or any(w < i for w, i in zip(wanted, inferred)):
            raise ctx.unsupported(f"output_shape {wanted} smaller than the unpooled "
                                  f"shape {inferred}")
        y = gj.pad(y, [[0, w - i] for w, i in zip(wanted, inferred)])
    return gj.identity(y, name=ctx.name)
