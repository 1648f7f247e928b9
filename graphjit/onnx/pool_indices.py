"""MaxPool's Indices output: where in the input each window's maximum lies.

ONNX counts positions in the flattened input, (n * C + c) * spatial_size plus the
spatial position, row-major (storage_order=0) or column-major (storage_order=1). The
converter runs the window's taps as ops_conv does for dilated pooling: a running
maximum and, beside it, the constant position map read through the same taps, replaced
where a later tap is strictly greater (the first maximum wins, as in ONNX's reference).
The input's shape must be static (the position map and the offsets are constants).
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext


def max_pool_indices(ctx: NodeContext, window, xt: Tensor) -> Tensor:
    """int64 indices [N, C, out...] of the maxima of channels-last `xt` under `window`
    (ops_conv._Window)."""
    shape = ctx.require_shape(0, "the Indices output")
    n, c = shape[:2]
    sizes = [int(s) for s in window.sizes]  # (a lifted 1-D op has a unit height first)
    order = ctx.attr("storage_order", 0)
    if order not in (0, 1):
        raise ctx.unsupported(f"storage_order {order} (ONNX has 0: row-major, 1: column-major)")
    if order == 1 and len(shape) > 4:
        raise ctx.unsupported("storage_order=1 (column-major indices) is implemented for 1-D "
                              "and 2-D pooling only")
    window.make_explicit()  # TF's SAME as explicit pads: the taps read them (static sizes)
    count = int(np.prod(sizes))
    flat = np.arange(count, dtype=np.float64)  # exact: float64 holds integers to 2**53
    positions = flat.reshape(sizes) if order == 0 else flat.reshape(sizes[::-1]).T
    position_map = gj.constant(positions.reshape(1, *sizes, 1))
    xp = window.padded(xt, -np.inf)
    pp = window.padded(position_map, -1.0)
    best = where = None
    for (_, tap), (_, at) in zip(window.taps(xp), window.taps(pp)):
        if best is None:
            best, where = tap, at + gj.zeros_like(gj.cast(tap, gj.float64))
        else:
            greater = tap > best
            best = gj.maximum(best, tap)
            where = gj.where(greater, at + gj.zeros_like(where), where)
    offsets = (np.arange(n * c, dtype=np.float64) * count).reshape(n, *[1] * len(sizes), c)
    return gj.cast(window.to_onnx(where + offsets), gj.int64)
