"""Loop IR for ops that are kernels of their own rather than members of a fused
region: reductions over arbitrary axes, argmax/argmin, pooling, and the im2col
half of convolution (whose GEMM half is a BLAS call).

Spatial sizes and paddings are baked into the pooling and im2col kernels; batch
and channel extents come from the arrays, so a new batch size compiles nothing.
"""

from __future__ import annotations

from codegen.loopir import PARALLEL, Assign, Call, Const, Dim, Kernel, Load, Loop, Param, Store, Var
from graphjit.lower.emit import (
    _REDUCE_COMBINE,
    PARALLEL_MIN_ELEMENTS,
    const,
    int_add,
    int_mul,
    reduce_init,
)
from graphjit.ops.conv import _pad_amounts


def _int(fn, *args):
    return Call(fn, tuple(args), "int64")


def _nest(prefix: str, extents, body, parallel_first: bool = False):
    for a in reversed(range(len(extents))):
        kind = PARALLEL if parallel_first and a == 0 else "serial"
        body = (Loop(f"{prefix}{a}", 0, extents[a], body, kind),)
    return body


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def reduce_kernel(name: str, op, shapes, inputs, outputs) -> Kernel:
    """A reduction over any axes: accumulate into the output in the input's memory order."""
    x, out = op.inputs[0], outputs[0]
    dtype = out.dtype.name
    in_rank, out_rank = len(shapes[x]), len(shapes[out])
    axes = set(op.attrs["axes"])
    keepdims = out_rank == in_rank
    params = (Param("in0", x.dtype.name, in_rank, False), Param("out0", dtype, out_rank, True))
    out_idx_init = tuple(Var(f"o{a}") for a in range(out_rank))
    out_dims = [Dim("out0", a) for a in range(out_rank)]
    init = _nest("o", out_dims, (Store("out0", out_idx_init, const(
        reduce_init(op.type, out.dtype.np), dtype)),))
    in_idx = tuple(Var(f"i{a}") for a in range(in_rank))
    out_idx = tuple((0 if a in axes else in_idx[a]) for a in range(in_rank)) if keepdims \
        else tuple(in_idx[a] for a in range(in_rank) if a not in axes)
    combine = Call(_REDUCE_COMBINE[op.type], (Load("out0", out_idx), Load("in0", in_idx)), dtype)
    body = init + _nest("i", [Dim("in0", a) for a in range(in_rank)],
                        (Store("out0", out_idx, combine),))
    if op.type == "Mean":
        count = 1
        for a in sorted(axes):
            count = int_mul(count, Dim("in0", a))
        scaled = Call("realdiv", (Load("out0", out_idx_init), Call("cast", (count,), dtype)),
                      dtype)
        body += _nest("o", out_dims, (Store("out0", out_idx_init, scaled),))
    return Kernel(name, params, body)


def argminmax_kernel(name: str, op, shapes, outputs) -> Kernel:
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

    cmp = "greater" if op.type == "ArgMax" else "less"
    best, index, v, better = Var("best"), Var("index"), Var("v"), Var("better")
    is_nan = Call("notequal", (v, v), "bool")
    best_not_nan = Call("equal", (best, best), "bool")
    inner = (
        Assign("v", Load("in0", at(Var("k"))), dtype),
        Assign("better", Call("logicalor", (Call(cmp, (v, best), "bool"), Call(
            "logicaland", (is_nan, best_not_nan), "bool")), "bool"), "bool"),
        Assign("best", Call("select", (better, v, best), dtype), dtype),
        Assign("index", Call("select", (better, Var("k"), index), "int64"), "int64"),
    )
    body = (
        Assign("best", Load("in0", at(0)), dtype),
        Assign("index", Const(0, "int64"), "int64"),
        Loop("k", 1, Dim("in0", axis), inner),
        Store("out0", tuple(outer), Call("cast", (index,), out.dtype.name)),
    )
    out_dims = [Dim("out0", a) for a in range(in_rank - 1)]
    return Kernel(name, params, _nest("o", out_dims, body))


def _window_index(out_var, k_var, stride: int, dilation: int, before: int):
    return int_add(int_add(int_mul(out_var, stride), int_mul(k_var, dilation)), -before)


def _inside(i, n: int):
    return Call("logicaland", (_int("greaterequal", i, 0), _int("less", i, n)), "bool")


def _clamp(i, n: int):
    return _int("minimum", _int("maximum", i, 0), n - 1)


def pool_kernel(name: str, op, shapes, outputs) -> Kernel:
    """Max or average pooling over NHWC; padded cells are skipped, as TF does."""
    x, out = op.inputs[0], outputs[0]
    _, h, w, _ = shapes[x]
    (_, kh, kw, _), (_, sh, sw, _) = op.attrs["ksize"], op.attrs["strides"]
    _, top, _ = _pad_amounts(h, kh, sh, op.attrs["padding"])
    _, left, _ = _pad_amounts(w, kw, sw, op.attrs["padding"])
    dtype = x.dtype.name
    is_max = op.type == "MaxPool"
    n, oh, ow, c = (Var(f"o{a}") for a in range(4))
    ih = _window_index(oh, Var("kh"), sh, 1, top)
    iw = _window_index(ow, Var("kw"), sw, 1, left)
    ok = Var("ok")
    v = Load("in0", (n, _clamp(Var("ih"), h), _clamp(Var("iw"), w), c))
    acc = Var("acc")
    if is_max:
        update = (Assign("acc", Call("select", (ok, Call("maximum", (acc, v), dtype), acc),
                                     dtype), dtype),)
    else:
        update = (Assign("acc", Call("add", (acc, Call("select", (ok, v, const(0, dtype)),
                                                            dtype)), dtype), dtype),
                  Assign("count", Call("add", (Var("count"), Call(
                      "select", (ok, const(1, dtype), const(0, dtype)), dtype)), dtype), dtype))
    window = (Loop("kh", 0, kh, (
        Assign("ih", ih, "int64"),
        Loop("kw", 0, kw, (
            Assign("iw", iw, "int64"),
            Assign("ok", Call("logicaland", (_inside(Var("ih"), h), _inside(Var("iw"), w)),
                              "bool"), "bool"),
        ) + update))),)
    init = (Assign("acc", const(-float("inf") if is_max else 0, dtype), dtype),)
    if not is_max:
        init += (Assign("count", const(0, dtype), dtype),)
    result = acc if is_max else Call("realdiv", (acc, Var("count")), dtype)
    body = init + window + (Store("out0", (n, oh, ow, c), result),)
    params = (Param("in0", dtype, 4, False), Param("out0", dtype, 4, True))
    big = _size(shapes[out]) * kh * kw >= PARALLEL_MIN_ELEMENTS
    return Kernel(name, params, _nest("o", [Dim("out0", a) for a in range(4)], body, big))


def im2col_kernel(name: str, op, shapes, cols_shape: tuple) -> Kernel:
    """cols[n, oh, ow, kh, kw, ci] = the input cell each filter tap reads (0 in padding)."""
    x = op.inputs[0]
    _, h, w, _ = shapes[x]
    kh, kw = cols_shape[3], cols_shape[4]
    (_, sh, sw, _), (_, dh, dw, _) = op.attrs["strides"], op.attrs["dilations"]
    _, top, _ = _pad_amounts(h, (kh - 1) * dh + 1, sh, op.attrs["padding"])
    _, left, _ = _pad_amounts(w, (kw - 1) * dw + 1, sw, op.attrs["padding"])
    dtype = x.dtype.name
    n, oh, ow, ki, kj, ci = (Var(f"o{a}") for a in range(6))
    ih = _window_index(oh, ki, sh, dh, top)
    iw = _window_index(ow, kj, sw, dw, left)
    inner = (
        Assign("ih", ih, "int64"),
        Assign("iw", iw, "int64"),
        Store("out0", (n, oh, ow, ki, kj, ci), Call("select", (
            Call("logicaland", (_inside(Var("ih"), h), _inside(Var("iw"), w)), "bool"),
            Load("in0", (n, _clamp(Var("ih"), h), _clamp(Var("iw"), w), ci)),
            const(0, dtype)), dtype)),
    )
    params = (Param("in0", dtype, 4, False), Param("out0", dtype, 6, True))
    big = _size(cols_shape) >= PARALLEL_MIN_ELEMENTS
    return Kernel(name, params, _nest("o", [Dim("out0", a) for a in range(6)], inner, big))
