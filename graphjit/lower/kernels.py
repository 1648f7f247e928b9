"""Loop IR for ops that are kernels of their own rather than members of a fused
region: reductions over arbitrary axes, argmax/argmin, pooling, and the im2col
half of convolution (whose GEMM half is a BLAS call); for gradients, the
scatter-add of a gather, the pooling gradients and col2im (the half of a
convolution's input gradient after its GEMM).

Kernels that add into their output (scatter, pooling gradients) first zero it
and run their loop nest serially within an image: only the batch loop, whose
iterations write disjoint parts of the output, may run in parallel.

Spatial sizes and paddings are baked into the pooling and im2col kernels; batch
and channel extents come from the arrays, so a new batch size compiles nothing.
"""

from __future__ import annotations

from codegen.loopir import (
    PARALLEL,
    SERIAL,
    Assign,
    Call,
    Const,
    Dim,
    Fn,
    Kernel,
    Load,
    Loop,
    Param,
    Store,
    Var,
)
from graphjit.lower.emit import PARALLEL_MIN_ELEMENTS
from graphjit.lower.exprs import const, int_add, int_mul, int_op
from graphjit.ops._util import pad_amounts
from graphjit.registry import RowReduce


def _nest(prefix: str, extents, body, parallel_first: bool = False):
    for a in reversed(range(len(extents))):
        kind = PARALLEL if parallel_first and a == 0 else SERIAL
        body = (Loop(f"{prefix}{a}", 0, extents[a], body, kind),)
    return body


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def reduce_kernel(name: str, x, out, shapes, reduction: RowReduce, axes: set,
                  dropped: set) -> Kernel:
    """A reduction of x over any `axes` (those in `dropped` leave the output, the others
    stay as size-1 dims): accumulate into the output in the input's memory order."""
    dtype = out.dtype.name
    in_rank, out_rank = len(shapes[x]), len(shapes[out])
    params = (Param("in0", x.dtype.name, in_rank, False), Param("out0", dtype, out_rank, True))
    out_idx_init = tuple(Var(f"o{a}") for a in range(out_rank))
    out_dims = [Dim("out0", a) for a in range(out_rank)]
    init = _nest("o", out_dims, (Store("out0", out_idx_init, const(
        reduction.init(out.dtype.np), dtype)),))
    in_idx = tuple(Var(f"i{a}") for a in range(in_rank))
    out_idx = tuple((0 if a in axes else in_idx[a]) for a in range(in_rank) if a not in dropped)
    combine = Call(reduction.combine, (Load("out0", out_idx), Load("in0", in_idx)), dtype)
    body = init + _nest("i", [Dim("in0", a) for a in range(in_rank)],
                        (Store("out0", out_idx, combine),))
    if reduction.mean:
        count = 1
        for a in sorted(axes):
            count = int_mul(count, Dim("in0", a))
        scaled = Call(Fn.REALDIV, (Load("out0", out_idx_init), Call(Fn.CAST, (count,), dtype)),
                      dtype)
        body += _nest("o", out_dims, (Store("out0", out_idx_init, scaled),))
    return Kernel(name, params, body)


def argminmax_kernel(name: str, op, shapes, outputs, cmp: Fn) -> Kernel:
    """Index of the first extremum along `axis` (the first NaN wins, as in NumPy)."""
    x, out = op.inputs[0], outputs[0]
    axis = op.attrs["axis"]
    in_rank = len(shapes[x])
    dtype = x.dtype.name
    params = (Param("in0", dtype, in_rank, False),
              Param("out0", out.dtype.name, in_rank - 1, True))
    outer = [Var(f"o{a}") for a in range(in_rank - 1)]

    def at(k):
        return tuple(outer[:axis]) + (k,) + tuple(outer[axis:])

    best, index, v, better = Var("best"), Var("index"), Var("v"), Var("better")
    is_nan = Call(Fn.NOTEQUAL, (v, v), "bool")
    best_not_nan = Call(Fn.EQUAL, (best, best), "bool")
    inner = (
        Assign("v", Load("in0", at(Var("k"))), dtype),
        Assign("better", Call(Fn.LOGICALOR, (Call(cmp, (v, best), "bool"), Call(
            Fn.LOGICALAND, (is_nan, best_not_nan), "bool")), "bool"), "bool"),
        Assign("best", Call(Fn.SELECT, (better, v, best), dtype), dtype),
        Assign("index", Call(Fn.SELECT, (better, Var("k"), index), "int64"), "int64"),
    )
    body = (
        Assign("best", Load("in0", at(0)), dtype),
        Assign("index", Const(0, "int64"), "int64"),
        Loop("k", 1, Dim("in0", axis), inner),
        Store("out0", tuple(outer), Call(Fn.CAST, (index,), out.dtype.name)),
    )
    out_dims = [Dim("out0", a) for a in range(in_rank - 1)]
    return Kernel(name, params, _nest("o", out_dims, body))


def _window_index(out_var, k_var, stride: int, dilation: int, before: int):
    return int_add(int_add(int_mul(out_var, stride), int_mul(k_var, dilation)), -before)


def _inside(i, n: int):
    return Call(Fn.LOGICALAND, (int_op(Fn.GREATEREQUAL, i, 0), int_op(Fn.LESS, i, n)), "bool")


def _clamp(i, n: int):
    return int_op(Fn.MINIMUM, int_op(Fn.MAXIMUM, i, 0), n - 1)


def pool_kernel(name: str, op, shapes, outputs, is_max: bool, epi=None) -> Kernel:
    """Max or average pooling over NHWC; padded cells are skipped, as TF does. `epi`
    (graphjit.lower.pool_epilogue): add the channel's bias (input in1, shape (C,)) and
    take the relu of each result, storing the stages it names into out0, out1, ..."""
    x, out = op.inputs[0], outputs[0]
    _, h, w, _ = shapes[x]
    _, oh_n, ow_n, _ = shapes[out]
    (_, kh, kw, _), (_, sh, sw, _) = op.attrs["ksize"], op.attrs["strides"]
    _, top, _ = pad_amounts(h, kh, sh, op.attrs["padding"])
    _, left, _ = pad_amounts(w, kw, sw, op.attrs["padding"])
    dtype = x.dtype.name
    n, oh, ow, c = (Var(f"o{a}") for a in range(4))
    ih = _window_index(oh, Var("kh"), sh, 1, top)
    iw = _window_index(ow, Var("kw"), sw, 1, left)
    # Every window inside the image (VALID, or SAME without padding): no cell to skip, so
    # no test or clamp per cell, and the average divides by the window's size.
    inside = top == 0 and left == 0 and (oh_n - 1) * sh + kh <= h and (ow_n - 1) * sw + kw <= w
    if inside:
        v = Load("in0", (n, Var("ih"), Var("iw"), c))
        ok = None
        check = ()
    else:
        v = Load("in0", (n, _clamp(Var("ih"), h), _clamp(Var("iw"), w), c))
        ok = Var("ok")
        check = (Assign("ok", Call(Fn.LOGICALAND, (_inside(Var("ih"), h), _inside(Var("iw"), w)),
                                   "bool"), "bool"),)
    acc = Var("acc")
    if is_max:
        best = Call(Fn.MAXIMUM, (acc, v), dtype)
        update = (Assign("acc", best if inside else Call(Fn.SELECT, (ok, best, acc), dtype),
                         dtype),)
    else:
        term = v if inside else Call(Fn.SELECT, (ok, v, const(0, dtype)), dtype)
        update = (Assign("acc", Call(Fn.ADD, (acc, term), dtype), dtype),)
        if not inside:
            update += (Assign("count", Call(Fn.ADD, (Var("count"), Call(
                Fn.SELECT, (ok, const(1, dtype), const(0, dtype)), dtype)), dtype), dtype),)
    window = (Loop("kh", 0, kh, (
        Assign("ih", ih, "int64"),
        Loop("kw", 0, kw, (Assign("iw", iw, "int64"),) + check + update))),)
    init = (Assign("acc", const(-float("inf") if is_max else 0, dtype), dtype),)
    if not is_max and not inside:
        init += (Assign("count", const(0, dtype), dtype),)
    count = const(kh * kw, dtype) if inside else Var("count")
    result = acc if is_max else Call(Fn.REALDIV, (acc, count), dtype)
    stages = [result]  # each from the one before, held in a local of its own
    if epi is not None and epi.bias:
        stages.append(Call(Fn.ADD, (Var(f"stage{len(stages) - 1}"), Load("in1", (c,))), dtype))
    if epi is not None and epi.relu:
        stages.append(Call(Fn.RELU, (Var(f"stage{len(stages) - 1}"),), dtype))
    stores = (0,) if epi is None else epi.stores
    body = init + window
    for s, stage in enumerate(stages):
        body += (Assign(f"stage{s}", stage, dtype),) + tuple(
            Store(f"out{o}", (n, oh, ow, c), Var(f"stage{s}"))
            for o, stored in enumerate(stores) if stored == s)
    params = (Param("in0", dtype, 4, False),) + (
        (Param("in1", dtype, 1, False),) if epi is not None and epi.bias else ()) + tuple(
        Param(f"out{o}", dtype, 4, True) for o in range(len(stores)))
    big = _size(shapes[out]) * kh * kw >= PARALLEL_MIN_ELEMENTS
    # Extents from the arrays: constant ones (as im2col has) made a 2x2 pool of
    # (32, 28, 28, 16) twice as slow, LLVM unrolling the rows rather than the window.
    return Kernel(name, params, _nest("o", [Dim("out0", a) for a in range(4)], body, big))


def im2col_kernel(name: str, op, shapes, cols_shape: tuple) -> Kernel:
    """cols[n, oh, ow, kh, kw, ci] = the input cell each filter tap reads (0 in padding)."""
    x = op.inputs[0]
    _, h, w, _ = shapes[x]
    kh, kw = cols_shape[3], cols_shape[4]
    (_, sh, sw, _), (_, dh, dw, _) = op.attrs["strides"], op.attrs["dilations"]
    _, top, _ = pad_amounts(h, (kh - 1) * dh + 1, sh, op.attrs["padding"])
    _, left, _ = pad_amounts(w, (kw - 1) * dw + 1, sw, op.attrs["padding"])
    dtype = x.dtype.name
    n, oh, ow, ki, kj, ci = (Var(f"o{a}") for a in range(6))
    ih = _window_index(oh, ki, sh, dh, top)
    iw = _window_index(ow, kj, sw, dw, left)
    inner = (
        Assign("ih", ih, "int64"),
        Assign("iw", iw, "int64"),
        Store("out0", (n, oh, ow, ki, kj, ci), Call(Fn.SELECT, (
            Call(Fn.LOGICALAND, (_inside(Var("ih"), h), _inside(Var("iw"), w)), "bool"),
            Load("in0", (n, _clamp(Var("ih"), h), _clamp(Var("iw"), w), ci)),
            const(0, dtype)), dtype)),
    )
    params = (Param("in0", dtype, 4, False), Param("out0", dtype, 6, True))
    big = _size(cols_shape) >= PARALLEL_MIN_ELEMENTS
    # Only the batch is left to run time: with the spatial and tap extents constant, LLVM
    # unrolls the short tap loops (a 3-tap, 1-channel row was 6 ns a cell, looping).
    extents = [Dim("out0", 0), *cols_shape[1:]]
    return Kernel(name, params, _nest("o", extents, inner, big))


def _zero(out_rank: int, dtype: str, parallel: bool = False):
    idx = tuple(Var(f"z{a}") for a in range(out_rank))
    return _nest("z", [Dim("out0", a) for a in range(out_rank)],
                 (Store("out0", idx, const(0, dtype)),), parallel)


def _clamp_dim(i, dim):
    """i clamped to [0, dim) for a run-time extent."""
    return int_op(Fn.MINIMUM, int_op(Fn.MAXIMUM, i, 0), int_add(dim, -1))


def _accumulate(param: str, index: tuple, value, dtype: str):
    return Store(param, index, Call(Fn.ADD, (Load(param, index), value), dtype))


def scatter_add_kernel(name: str, op, shapes, outputs) -> Kernel:
    """ScatterAddLike: out = 0, then out[..., indices[j], ...] += updates[..., j, ...].

    Out-of-range indices are clamped, the cell GatherV2's clamped read came from.
    """
    updates, indices, _ = op.inputs
    out = outputs[0]
    axis = op.attrs["axis"]
    ur, ir, orank = len(shapes[updates]), len(shapes[indices]), len(shapes[out])
    dtype = out.dtype.name
    params = (Param("in0", dtype, ur, False), Param("in1", indices.dtype.name, ir, False),
              Param("out0", dtype, orank, True))
    u = tuple(Var(f"u{a}") for a in range(ur))
    position = _clamp_dim(Call(Fn.CAST, (Load("in1", u[axis:axis + ir]),), "int64"),
                          Dim("out0", axis))
    target = u[:axis] + (Var("p"),) + u[axis + ir:]
    body = (Assign("p", position, "int64"),
            _accumulate("out0", target, Load("in0", u), dtype))
    return Kernel(name, params, _zero(orank, dtype) + _nest(
        "u", [Dim("in0", a) for a in range(ur)], body))


def _pool_geometry(op, shapes):
    x = op.inputs[0]
    _, h, w, _ = shapes[x]
    (_, kh, kw, _), (_, sh, sw, _) = op.attrs["ksize"], op.attrs["strides"]
    _, top, _ = pad_amounts(h, kh, sh, op.attrs["padding"])
    _, left, _ = pad_amounts(w, kw, sw, op.attrs["padding"])
    return h, w, kh, kw, sh, sw, top, left


def pool_grad_kernel(name: str, op, shapes, outputs, is_max: bool) -> Kernel:
    """MaxPoolGrad / AvgPoolGrad over NHWC: each output cell's gradient dy (in1) is sent
    back to its window: all of it to the first largest real cell of x (in0) for max
    pooling, an equal share to every real cell for average pooling."""
    x, dy = op.inputs
    h, w, kh, kw, sh, sw, top, left = _pool_geometry(op, shapes)
    dtype = x.dtype.name
    n, oh, ow, c = (Var(f"o{a}") for a in range(4))
    row0 = int_add(int_mul(oh, sh), -top)
    col0 = int_add(int_mul(ow, sw), -left)
    ih, iw = Var("ih"), Var("iw")
    window_index = (Assign("ih", int_add(Var("rs"), Var("kh")), "int64"),)
    ok = Call(Fn.LOGICALAND, (_inside(ih, h), _inside(iw, w)), "bool")
    cell = (n, _clamp(ih, h), _clamp(iw, w), c)
    g = Load("in1", (n, oh, ow, c))
    start = (Assign("rs", row0, "int64"), Assign("cs", col0, "int64"))
    if is_max:
        v, best, better = Var("v"), Var("best"), Var("better")
        inner = (
            Assign("iw", int_add(Var("cs"), Var("kw")), "int64"),
            Assign("v", Load("in0", cell), dtype),
            # NaN never wins; with no larger value, the first real cell keeps it
            Assign("better", Call(Fn.LOGICALAND, (ok, Call(Fn.GREATER, (v, best), "bool")),
                                  "bool"), "bool"),
            Assign("best", Call(Fn.SELECT, (better, v, best), dtype), dtype),
            Assign("bi", Call(Fn.SELECT, (better, ih, Var("bi")), "int64"), "int64"),
            Assign("bj", Call(Fn.SELECT, (better, iw, Var("bj")), "int64"), "int64"),
        )
        body = start + (
            Assign("best", const(-float("inf"), dtype), dtype),
            Assign("bi", int_op(Fn.MAXIMUM, Var("rs"), 0), "int64"),
            Assign("bj", int_op(Fn.MAXIMUM, Var("cs"), 0), "int64"),
            Loop("kh", 0, kh, window_index + (Loop("kw", 0, kw, inner),)),
            _accumulate("out0", (n, Var("bi"), Var("bj"), c), g, dtype),
        )
    else:
        rows = int_op(Fn.SUB, int_op(Fn.MINIMUM, int_add(Var("rs"), kh), h),
                    int_op(Fn.MAXIMUM, Var("rs"), 0))
        cols = int_op(Fn.SUB, int_op(Fn.MINIMUM, int_add(Var("cs"), kw), w),
                    int_op(Fn.MAXIMUM, Var("cs"), 0))
        share = Call(Fn.REALDIV, (g, Call(Fn.CAST, (int_op(Fn.MUL, rows, cols),), dtype)), dtype)
        inner = (
            Assign("iw", int_add(Var("cs"), Var("kw")), "int64"),
            _accumulate("out0", cell, Call(Fn.SELECT, (ok, Var("share"), const(0, dtype)),
                                           dtype), dtype),
        )
        body = start + (
            Assign("share", share, dtype),
            Loop("kh", 0, kh, window_index + (Loop("kw", 0, kw, inner),)),
        )
    params = (Param("in0", dtype, 4, False), Param("in1", dtype, 4, False),
              Param("out0", dtype, 4, True))
    big = _size(shapes[dy]) * kh * kw >= PARALLEL_MIN_ELEMENTS
    return Kernel(name, params, _zero(4, dtype, big) + _nest(
        "o", [Dim("in1", a) for a in range(4)], body, big))


def col2im_kernel(name: str, op, shapes, cols_shape: tuple) -> Kernel:
    """dx[n, ih, iw, ci] = the sum of cols[n, oh, ow, kh, kw, ci] over the filter taps
    (kh, kw) that read input cell (ih, iw) from output cell (oh, ow): the adjoint of
    im2col, as a gather so every output cell is written once (parallel-safe)."""
    x = op.inputs[0]
    _, h, w, _ = shapes[x]
    _, oh_n, ow_n, kh, kw, _ = cols_shape
    (_, sh, sw, _), (_, dh, dw, _) = op.attrs["strides"], op.attrs["dilations"]
    _, top, _ = pad_amounts(h, (kh - 1) * dh + 1, sh, op.attrs["padding"])
    _, left, _ = pad_amounts(w, (kw - 1) * dw + 1, sw, op.attrs["padding"])
    dtype = x.dtype.name
    n, ih, iw, ci = (Var(f"o{a}") for a in range(4))

    def tap(t, o, stride, extent, position, offset):
        """(assignments, validity) of output index o = t / stride, t = position - offset,
        whose window reads `position` through the tap at `offset`."""
        stmts = (Assign(t, int_op(Fn.SUB, position, offset), "int64"),
                 Assign(o, int_op(Fn.FLOORDIV, Var(t), stride) if stride != 1 else Var(t),
                        "int64"))
        ok = Call(Fn.LOGICALAND, (int_op(Fn.GREATEREQUAL, Var(t), 0),
                                 int_op(Fn.LESS, Var(o), extent)), "bool")
        if stride != 1:
            ok = Call(Fn.LOGICALAND, (ok, int_op(Fn.EQUAL, int_op(Fn.FLOORMOD, Var(t), stride), 0)),
                      "bool")
        return stmts, ok

    rows, ok_rows = tap("th", "oi", sh, oh_n, int_add(ih, top), int_mul(Var("a"), dh))
    cols, ok_cols = tap("tw", "oj", sw, ow_n, int_add(iw, left), int_mul(Var("b"), dw))
    value = Load("in0", (n, _clamp(Var("oi"), oh_n), _clamp(Var("oj"), ow_n), Var("a"),
                         Var("b"), ci))
    inner = cols + (Assign("acc", Call(Fn.ADD, (Var("acc"), Call(
        Fn.SELECT, (Call(Fn.LOGICALAND, (Var("okr"), ok_cols), "bool"), value, const(0, dtype)),
        dtype)), dtype), dtype),)
    body = (
        Assign("acc", const(0, dtype), dtype),
        Loop("a", 0, kh, rows + (Assign("okr", ok_rows, "bool"), Loop("b", 0, kw, inner))),
        Store("out0", (n, ih, iw, ci), Var("acc")),
    )
    params = (Param("in0", dtype, 6, False), Param("out0", dtype, 4, True))
    big = _size(cols_shape) >= PARALLEL_MIN_ELEMENTS
    return Kernel(name, params, _nest("o", [Dim("out0", a) for a in range(4)], body, big))
