"""A bias add and a relu after a pooling op, computed by the pooling kernel.

A conv layer imported from ONNX or written in TF1 style is Conv, bias Add, Relu, then
MaxPool; graphjit's optimizer moves the per-channel Add and the Relu after the pool
(they commute with a max, and act on a quarter of the cells there). The Add and Relu
then are one fused elementwise kernel reading and writing the pooled tensor once more:
29 + 21 us of the cnn benchmark's 1 ms at batch 32 (one thread), and two kernel calls at
batch 1. The pooling kernel has each window's result in a register: adding the channel's
bias and taking the relu there before the store costs nothing that is not done anyway.

The rule mirrors the packed MatMul's epilogue (graphjit.lower.packed_matmul): an Add of
a constant that varies along the channels (last) axis at most, that alone reads the pool
output, then a Relu that alone reads the sum (or the pool output).
"""

from __future__ import annotations

import numpy as np

from graphjit.lower.packed_matmul import Epilogue, bias_relu_after
from runtime.plan import SlotSpec

POOLS = ("MaxPool", "AvgPool")
DTYPES = ("float32", "float64")


def _channel_bias(shape: tuple, out_shape: tuple) -> bool:
    """Whether a constant of `shape` broadcast against `out_shape` varies along the last
    axis only (and does not grow the result)."""
    if len(shape) > len(out_shape):
        return False
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    return all(d == 1 for d in padded[:-1]) and padded[-1] in (1, out_shape[-1])


def epilogue_ops(op, shapes: dict, consumers: dict) -> list:
    """The ops a pooling kernel of `op` computes besides (packed_matmul.bias_relu_after):
    the Add's bias a constant varying along the channels at most."""
    t = op.outputs[0]
    if op.type not in POOLS or t.dtype.name not in DTYPES:  # (others run on the host)
        return []
    return bias_relu_after(t, shapes, consumers, lambda bias: bias.op.type == "Const"
                           and _channel_bias(tuple(shapes[bias]), tuple(shapes[t])))


def pool_epilogue(lw, op, outputs, names) -> tuple[Epilogue, list]:
    """The Epilogue of pooling op `op`'s region (`names`: the pool, then the ops the
    partitioner put with it) storing each of `outputs`, and its Add op or None."""
    members = set(names[1:])
    epilogue = [o for o in lw.ops if o.name in members]  # (graph order)
    stages = [op.outputs[0]] + [o.outputs[0] for o in epilogue]
    types = [o.type for o in epilogue]
    add = epilogue[0] if "Add" in types else None
    return Epilogue(bias=add is not None, relu="Relu" in types,
                    stores=tuple(stages.index(t) for t in outputs)), add


def channel_bias_slot(lw, add, pooled) -> int:
    """The slot of the epilogue Add's bias as a contiguous (C,) row (a scalar repeated)."""
    bias = add.inputs[1] if add.inputs[0] is pooled else add.inputs[0]
    c = lw.shapes[pooled][-1]
    key = (bias, "channel_row", c)
    value = lw.constants.get(key)
    if value is None:
        value = lw.constants[key] = np.ascontiguousarray(np.broadcast_to(
            np.asarray(lw.const_values[bias]).reshape(-1), (c,)))
    lw.slots.append(SlotSpec(value.shape, value.dtype, "const", value))
    return len(lw.slots) - 1
