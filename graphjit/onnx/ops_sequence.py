"""ONNX sequence and optional ops on import-time values (graphjit.onnx.values): a
sequence is a tuple of graphjit tensors whose length is known when the graph is built,
so SequenceAt, SequenceInsert, SequenceErase and SequenceLength are bookkeeping, and
SplitToSequence, ConcatFromSequence and SequenceMap become ordinary slices, concats and
per-element copies of the body. Positions must be known at build time (the backend
specializes on them); what would need a sequence of run-time length is refused.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.values import OptionalValue, SequenceValue


def _sequence(ctx: NodeContext, i: int) -> SequenceValue:
    x = ctx.input(i)
    if not isinstance(x, SequenceValue):
        raise ctx.invalid(f"input {i} must be a sequence, got {type(x).__name__}")
    return x


def _position(ctx: NodeContext, i: int, n: int, default: int, inserting: bool) -> int:
    if ctx.input(i) is None:
        return default
    value = np.asarray(ctx.require_static(i, "position"))
    if value.size != 1:
        raise ctx.invalid(f"position must be a scalar, got shape {list(value.shape)}")
    pos = int(value.reshape(()))
    high = n if inserting else n - 1
    if not -n <= pos <= high:
        raise ctx.invalid(f"position {pos} is out of range for a sequence of length {n}")
    return pos + n if pos < 0 else pos


@converter("SequenceEmpty", attrs=("dtype",))
def convert_sequence_empty(ctx: NodeContext) -> SequenceValue:
    return SequenceValue((), ctx.attr("dtype", 1))


@converter("SequenceConstruct")
def convert_sequence_construct(ctx: NodeContext) -> SequenceValue:
    return SequenceValue(tuple(ctx.inputs))


@converter("SequenceAt")
def convert_sequence_at(ctx: NodeContext) -> Tensor:
    seq = _sequence(ctx, 0)
    return gj.identity(seq.items[_position(ctx, 1, len(seq), 0, False)], name=ctx.name)


@converter("SequenceInsert")
def convert_sequence_insert(ctx: NodeContext) -> SequenceValue:
    seq, t = _sequence(ctx, 0), ctx.inputs[1]
    pos = _position(ctx, 2, len(seq), len(seq), True)
    return SequenceValue(seq.items[:pos] + (t,) + seq.items[pos:], seq.elem_type)


@converter("SequenceErase")
def convert_sequence_erase(ctx: NodeContext) -> SequenceValue:
    seq = _sequence(ctx, 0)
    if not len(seq):
        raise ctx.invalid("erasing from an empty sequence")
    pos = _position(ctx, 1, len(seq), len(seq) - 1, False)
    return SequenceValue(seq.items[:pos] + seq.items[pos + 1:], seq.elem_type)


@converter("SequenceLength")
def convert_sequence_length(ctx: NodeContext) -> Tensor:
    return gj.constant(np.int64(len(_sequence(ctx, 0))), dtype=dtypes.int64, name=ctx.name)


@converter("SplitToSequence", attrs=("axis", "keepdims"))
def convert_split_to_sequence(ctx: NodeContext) -> SequenceValue:
    x = ctx.inputs[0]
    axis = ctx.attr("axis", 0)
    if not -x.ndim <= axis < x.ndim:
        raise ctx.invalid(f"axis {axis} is out of range for rank {x.ndim}")
    axis %= x.ndim
    size = x.shape[axis]
    if size is None:
        size = ctx.require_shape(0, "splitting into a sequence")[axis]
    if ctx.input(1) is None:
        sizes, squeeze = [1] * size, not ctx.attr("keepdims", 1)
    else:
        split = np.asarray(ctx.require_static(1, "split")).astype(np.int64)
        squeeze = False
        if split.ndim == 0:
            if split <= 0:
                raise ctx.invalid(f"split must be positive, got {int(split)}")
            sizes = [int(split)] * (size // int(split)) + \
                ([size % int(split)] if size % int(split) else [])
        else:
            sizes = [int(s) for s in split]
            if sum(sizes) != size or min(sizes, default=0) < 0:
                raise ctx.invalid(f"split {sizes} does not add up to dim {axis} ({size})")
    items, start = [], 0
    for s in sizes:
        key = (slice(None),) * axis + (slice(start, start + s),)
        part = x[key]
        items.append(gj.squeeze(part, [axis]) if squeeze else part)
        start += s
    return SequenceValue(tuple(items))


@converter("ConcatFromSequence", attrs=("axis", "new_axis"))
def convert_concat_from_sequence(ctx: NodeContext) -> Tensor:
    seq = _sequence(ctx, 0)
    if not len(seq):
        raise ctx.unsupported("concatenating an empty sequence (its result's shape is "
                              "not defined)")
    axis = ctx.attr("axis")
    if ctx.attr("new_axis", 0):
        rank = seq.items[0].ndim + 1
        return gj.stack(list(seq.items), axis=axis % rank if -rank <= axis else axis,
                        name=ctx.name)
    return gj.concat(list(seq.items), axis % seq.items[0].ndim, name=ctx.name)


@converter("SequenceMap", attrs=("body",))
def convert_sequence_map(ctx: NodeContext) -> list[SequenceValue]:
    """The body imported once per element, in the node's graph: output k is the sequence
    of the body's output k."""
    seq = _sequence(ctx, 0)
    lengths = {len(x) for x in ctx.inputs if isinstance(x, SequenceValue)}
    if len(lengths) > 1:
        raise ctx.invalid(f"its sequences have different lengths {sorted(lengths)}")
    per_output: list[list] = [[] for _ in range(ctx.num_outputs)]
    for i in range(len(seq)):
        args = [x.items[i] if isinstance(x, SequenceValue) else x for x in ctx.inputs]
        outs = ctx.subgraph("body", args)
        for k, t in enumerate(outs[:ctx.num_outputs]):
            per_output[k].append(t)
    return [SequenceValue(tuple(items)) for items in per_output]


# -- optionals ---------------------------------------------------------------------------

@converter("Optional", attrs=("type",))
def convert_optional(ctx: NodeContext) -> OptionalValue:
    return OptionalValue(ctx.input(0))


@converter("OptionalHasElement")
def convert_optional_has_element(ctx: NodeContext) -> Tensor:
    x = ctx.input(0)
    present = x is not None and not (isinstance(x, OptionalValue) and x.value is None)
    return gj.constant(np.bool_(present), dtype=dtypes.bool_, name=ctx.name)


@converter("OptionalGetElement")
def convert_optional_get_element(ctx: NodeContext):
    x = ctx.inputs[0]
    if isinstance(x, OptionalValue):
        if x.value is None:
            raise ctx.invalid("the optional input is empty (OptionalGetElement needs a value)")
        x = x.value
    return gj.identity(x, name=ctx.name) if isinstance(x, Tensor) else x
