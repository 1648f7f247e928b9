"""Attention heads projected straight into their [.., heads, seq, head] layout.

Exported attention splits a projection into heads as
`Transpose(Reshape(MatMul(x, W), [.., S, H, D]), perm)`: one GEMM, then a copy that
moves the head axis in front of the sequence axis (and, for the keys, the sequence axis
last). Each head is x times a column block of the constant W, so the same values come
from one batched MatMul of x (a new unit axis in front of its rows, which broadcasts) by
W's blocks stacked as a constant [H, K, D]. The keys' [.., H, D, S] is that product with
its last two axes swapped, a swap the MatMul reading it folds into its transpose flag
(a rule of this pass for any MatMul). No copy kernel runs, and H GEMMs of D columns
measured faster than one of H*D columns and its copy.

Rewritten only where the MatMul and the Reshape feed nothing else (their values are
still needed otherwise) and W is a 2-D constant.
"""

from __future__ import annotations

import numpy as np

from graphjit.graph import Graph, Operation, Tensor
from graphjit.passes.rebuild import PassContext, PassResult, Rewriter


def attention_heads(graph: Graph, ctx: PassContext) -> PassResult:
    rw = Rewriter(graph, ctx, "attention_heads")
    readers: dict[Tensor, int] = {}
    for op in rw.old_ops:
        for t in op.inputs:
            readers[t] = readers.get(t, 0) + 1
    for op in rw.old_ops:
        if rw.frozen(op):
            rw.copy(op)
        elif op.type == "MatMul":
            _fold_swaps(rw, op)
        else:
            match = _match(rw, op, readers)
            if match is None:
                rw.copy(op)
                continue
            x, blocks, keys = match
            rows = rw.helper(op, "ExpandDims", [x], {"axis": x.ndim - 2}, "rows")
            weight = rw.helper(op, "Const", [], {"value": blocks}, "heads_weight")
            heads = [rows, weight]  # [.., 1, S, K] @ [H, K, D] -> [.., H, S, D]
            if not keys:
                rw.rewrite(op, "MatMul", heads, _PLAIN, "project heads in place")
                continue
            # the keys' [.., H, D, S]: a swap that the MatMul reading it folds away
            projected = rw.helper(op, "MatMul", heads, _PLAIN, "heads")
            swap = tuple(range(projected.ndim - 2)) + (projected.ndim - 1, projected.ndim - 2)
            rw.rewrite(op, "Transpose", [projected], {"perm": swap}, "project heads in place")
    return rw.finish()


_PLAIN = {"transpose_a": False, "transpose_b": False}


def _fold_swaps(rw: Rewriter, op: Operation) -> None:
    """A MatMul operand that is a Transpose swapping only the last two axes: the MatMul
    reads the Transpose's input with its transpose flag flipped instead (BLAS reads it
    transposed; the copy goes once nothing else reads it)."""
    inputs, attrs, folded = rw.inputs(op), dict(op.attrs), False
    for i, flag in enumerate(("transpose_a", "transpose_b")):
        swap = rw.producer(inputs[i], "Transpose")
        rank = inputs[i].ndim
        if swap is not None and tuple(swap.attrs["perm"]) == tuple(range(rank - 2)) + (
                rank - 1, rank - 2):
            inputs[i], attrs[flag], folded = swap.inputs[0], not attrs.get(flag), True
    if folded:
        rw.rewrite(op, "MatMul", inputs, attrs, "transpose read by the MatMul")
    else:
        rw.copy(op, inputs)


def _match(rw: Rewriter, op: Operation, readers: dict) -> tuple | None:
    """(x in the new graph, W as [H, K, D], whether the keys' layout is asked) when `op`
    is Transpose(Reshape(MatMul(x, W))) splitting W's columns into heads, else None."""
    if op.type != "Transpose":
        return None
    reshape = op.inputs[0].op
    if reshape.type != "Reshape" or not _private(rw, reshape, readers):
        return None
    matmul = reshape.inputs[0].op
    if matmul.type != "MatMul" or not _private(rw, matmul, readers) \
            or matmul.attrs.get("transpose_a") or matmul.attrs.get("transpose_b"):
        return None
    x, w = rw.get(matmul.inputs[0]), rw.get(matmul.inputs[1])
    value = rw.const_value(w)
    if value is None or value.ndim != 2:
        return None
    projected, split = tuple(matmul.outputs[0].shape), tuple(reshape.outputs[0].shape)
    r = len(projected)  # split: [.., S, H, D] of projected [.., S, H*D]
    if len(split) != r + 1 or None in split[-2:] or split[-2] * split[-1] != value.shape[1] \
            or not _same_lead(split[:-2], projected[:-1]):
        return None
    lead = tuple(range(r - 2))
    perm = tuple(op.attrs["perm"])
    if perm == lead + (r - 1, r - 2, r):
        keys = False
    elif perm == lead + (r - 1, r, r - 2):
        keys = True
    else:
        return None
    heads, width = split[-2], split[-1]  # W's columns h*D + d
    blocks = np.ascontiguousarray(value.reshape(value.shape[0], heads, width).transpose(1, 0, 2))
    return x, blocks, keys


def _private(rw: Rewriter, op: Operation, readers: dict) -> bool:
    """Whether only the next op of the pattern reads `op`'s single output."""
    return len(op.outputs) == 1 and readers.get(op.outputs[0], 0) == 1 \
        and op not in rw.pinned and not rw.frozen(op)


def _same_lead(a: tuple, b: tuple) -> bool:
    """Whether the leading dims are the same: equal where known, at most one unknown (at
    the same place: equal sizes then make the unknown ones equal too)."""
    return len(a) == len(b) and sum(d is None for d in a) <= 1 \
        and all(p == q for p, q in zip(a, b))
