"""Loop IR for scans along one axis: Cumsum and Cumprod (graphjit.ops.scan registers
them as `KernelBuilder("scan", cumsum)`; a product starts from 1 and multiplies).

The kernel loops over every index but the axis (the outermost loop parallel when the
output is large) and walks the axis serially, carrying the running sum in a scalar
of the output dtype, as TF does:

    acc = 0
    for k in [0, n):              # reverse: position i = n - 1 - k
        partial = acc + x[.., i, ..]
        out[.., i, ..] = partial  # exclusive: = acc, the sum before this element
        acc = partial

The partial sums are results, each rounded in order as the reference rounds them,
so the update goes through `partial`: codegen.passes lets only a reduction's own
`acc = add(acc, x)` reassociate.
"""

from __future__ import annotations

import math

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
from graphjit.lower.emit import PARALLEL_MIN_ELEMENTS
from graphjit.lower.exprs import const, int_add, int_op
from graphjit.lower.standalone import kernel_name

_COMBINE = {"Cumsum": (Fn.ADD, 0), "Cumprod": (Fn.MUL, 1)}


def cumsum_kernel(name: str, op, shapes, outputs) -> Kernel:
    """out = the running sums (Cumprod: products) of in0 along op's `axis` (attrs
    exclusive, reverse)."""
    combine, start = _COMBINE[op.type]
    x, out = op.inputs[0], outputs[0]
    axis, exclusive, reverse = (op.attrs[k] for k in ("axis", "exclusive", "reverse"))
    rank = len(shapes[x])
    dtype = out.dtype.name
    params = (Param("in0", x.dtype.name, rank, False), Param("out0", dtype, rank, True))
    outer = [Var(f"o{a}") for a in range(rank - 1)]
    k, acc, nxt = Var("k"), Var("acc"), Var("partial")
    position = Var("i") if reverse else k
    index = tuple(outer[:axis]) + (position,) + tuple(outer[axis:])
    step = () if not reverse else (
        Assign("i", int_op(Fn.SUB, int_add(Dim("in0", axis), -1), k), "int64"),)
    step += (
        Assign("partial", Call(combine, (acc, Load("in0", index)), dtype), dtype),
        Store("out0", index, acc if exclusive else nxt),
        Assign("acc", nxt, dtype),
    )
    body = (Assign("acc", const(start, dtype), dtype), Loop("k", 0, Dim("in0", axis), step))
    parallel = math.prod(shapes[out]) >= PARALLEL_MIN_ELEMENTS
    for a in reversed(range(rank - 1)):  # every axis but `axis`, outermost first
        dim = Dim("in0", a if a < axis else a + 1)
        body = (Loop(f"o{a}", 0, dim, body, PARALLEL if parallel and a == 0 else SERIAL),)
    return Kernel(name, params, body)


def cumsum(lw, op, outputs, out_slots, names) -> None:
    """The registry's builder (graphjit.lower.standalone describes the signature)."""
    x = op.inputs[0]
    kernel = cumsum_kernel(kernel_name(op), op, lw.shapes, outputs)
    lw.add_kernel(kernel, (lw.input_or_const_slot(x),), out_slots, names,
                  math.prod(lw.shapes[op.outputs[0]]), lw.bytes_of([x], outputs))
