"""Builders of the ops that are kernels (or plan steps) of their own: each adds one op's
steps to a Lowerer (graphjit.lower.program) from the plan's concrete shapes. The op
modules register them as `KernelBuilder(region, build)` (graphjit.registry);
convolutions, which become two steps each, are in graphjit.lower.conv_lowering.

A builder is build(lw, op, outputs, out_slots, names).
"""

from __future__ import annotations

import math

import numpy as np

from codegen.loopir import Fn
from graphjit.graph_queries import read_inputs
from graphjit.lower.extern import matmul_kernel
from graphjit.lower.fed_matmul import fed_weights, use_fed_panels
from graphjit.lower.host_kernels import gather_check_call, numerics_check_call
from graphjit.lower.kernels import (
    argminmax_kernel,
    pool_grad_kernel,
    pool_kernel,
    reduce_kernel,
    scatter_add_kernel,
)
from graphjit.lower.packed_matmul import (
    Epilogue,
    packed_bias,
    packed_matmul_kernel,
    packed_weights,
    product_tile,
    use_packed,
)
from graphjit.lower.pool_epilogue import channel_bias_slot, pool_epilogue
from graphjit.ops._util import check_gather_indices, sum_to_axes
from graphjit.registry import KernelBuilder, RowReduce, get_op_def


def identifier(prefix: str, op) -> str:
    """A kernel name from an op name (which may hold '/', '.' or '-')."""
    return prefix + "_" + "".join(c if c.isalnum() else "_" for c in op.name)


def kernel_name(op) -> str:
    """The op's region name (its KernelBuilder's; "reduce" for a reduction that is not a
    row one) and its type: reduce_sum, pool_maxpool, argreduce_argmax..."""
    lowering = get_op_def(op.type).lowering
    region = lowering.region if isinstance(lowering, KernelBuilder) else "reduce"
    return f"{region}_{op.type.lower()}"


def _add(lw, kernel, op, inputs, outputs, out_slots, names) -> None:
    """One kernel reading `inputs` (a slot each) and writing the op's outputs."""
    in_slots = tuple(lw.input_or_const_slot(t) for t in inputs)
    flops = math.prod(lw.shapes[op.outputs[0]])
    lw.add_kernel(kernel, in_slots, out_slots, names, flops, lw.bytes_of(inputs, outputs))


def _distinct(tensors) -> list:
    seen = []
    for t in tensors:
        if t not in seen:
            seen.append(t)
    return seen


def reduce(lw, op, outputs, out_slots, names) -> None:
    """A reduction over axes that are not the trailing ones (or over all of them alone)."""
    x, out = op.inputs[0], outputs[0]
    axes = set(op.attrs["axes"])
    dropped = set() if len(lw.shapes[out]) == len(lw.shapes[x]) else axes
    kernel = reduce_kernel(kernel_name(op), x, out, lw.shapes,
                           get_op_def(op.type).lowering, axes, dropped)
    _add(lw, kernel, op, _distinct(read_inputs(op)), outputs, out_slots, names)


_SUM = RowReduce(Fn.ADD, lambda dtype: 0)


def sum_to(lw, op, outputs, out_slots, names) -> None:
    """SumToShapeOf: a Sum whose axes the plan's shapes resolve (leading axes dropped, the
    others kept as size-1 dims); its second input is read for its shape only."""
    x, out = op.inputs[0], outputs[0]
    summed, lead = sum_to_axes(lw.shapes[x], lw.shapes[out])
    kernel = reduce_kernel(kernel_name(op), x, out, lw.shapes, _SUM, set(summed),
                           set(range(lead)))
    _add(lw, kernel, op, [x], outputs, out_slots, names)


def scatter(lw, op, outputs, out_slots, names) -> None:
    """ScatterAddLike (updates, indices, like): the third input is read for its shape."""
    kernel = scatter_add_kernel(kernel_name(op), op, lw.shapes, outputs)
    _add(lw, kernel, op, list(op.inputs[:2]), outputs, out_slots, names)


def argreduce(cmp: Fn):
    def build(lw, op, outputs, out_slots, names) -> None:
        kernel = argminmax_kernel(kernel_name(op), op, lw.shapes, outputs, cmp)
        _add(lw, kernel, op, _distinct(read_inputs(op)), outputs, out_slots, names)
    return build


def pool(is_max: bool):
    """MaxPool/AvgPool, with the bias add and relu the partitioner put in its region
    (graphjit.lower.pool_epilogue)."""
    def build(lw, op, outputs, out_slots, names) -> None:
        if len(names) == 1:
            kernel = pool_kernel(kernel_name(op), op, lw.shapes, outputs, is_max)
            _add(lw, kernel, op, _distinct(read_inputs(op)), outputs, out_slots, names)
            return
        epi, add = pool_epilogue(lw, op, outputs, names)
        name = kernel_name(op) + "_add" * epi.bias + "_relu" * epi.relu
        kernel = pool_kernel(name, op, lw.shapes, outputs, is_max, epi)
        in_slots = (lw.input_or_const_slot(op.inputs[0]),) + (
            (channel_bias_slot(lw, add, op.outputs[0]),) if epi.bias else ())
        lw.add_kernel(kernel, in_slots, out_slots, names,
                      math.prod(lw.shapes[op.outputs[0]]) * len(names),
                      lw.bytes_of([op.inputs[0]], outputs))
    return build


def pool_grad(is_max: bool):
    def build(lw, op, outputs, out_slots, names) -> None:
        kernel = pool_grad_kernel(kernel_name(op), op, lw.shapes, outputs,
                                  is_max)
        _add(lw, kernel, op, list(op.inputs), outputs, out_slots, names)
    return build


def matmul(lw, op, outputs, out_slots, names) -> None:
    """A BLAS call; one argument per operand: matmul(x, x) takes x twice. A few rows by
    constant weights: a loop kernel on the weights packed once (graphjit.lower.packed_matmul);
    many rows by fed weights: packed per call (graphjit.lower.fed_matmul)."""
    if use_packed(op, lw.shapes) or use_fed_panels(op, lw.shapes):
        packed_matmul(lw, op, outputs, out_slots, names)
        return
    in_slots = tuple(lw.input_or_const_slot(t) for t in op.inputs)
    lw.add_kernel(matmul_kernel(identifier("matmul", op), op), in_slots, out_slots, names,
                  lw.matmul_flops(op), lw.bytes_of(_distinct(op.inputs), outputs))


def packed_matmul(lw, op, outputs, out_slots, names) -> None:
    """The packed kernel of a MatMul by constant weights (or fed ones, packed on each
    call: graphjit.lower.fed_matmul) and of the epilogue ops the partitioner put in its
    region (`names`: bias Add, Relu), storing each of `outputs`."""
    a = op.inputs[0]
    epilogue = [o for o in lw.ops if o.name in set(names[1:])]  # (graph order)
    stages = [op.outputs[0]] + [o.outputs[0] for o in epilogue]
    types = [o.type for o in epilogue]
    epi = Epilogue(bias="Add" in types, relu="Relu" in types,
                   stores=tuple(stages.index(t) for t in outputs))
    fed = op.inputs[1].op.type != "Const"  # (use_fed_panels): packed on each call
    weights = fed_weights(lw, op, names, identifier) if fed else packed_weights(lw, op)
    n = lw.shapes[op.outputs[0]][-1]
    rank = len(lw.shapes[a])  # (a stack of rows: its leading dims, as the output's)
    kernel = packed_matmul_kernel(identifier("matmul", op), a.dtype.name, epi,
                                  product_tile(a.dtype.name, n), parallel=fed, rank=rank)
    in_slots = (lw.input_or_const_slot(a), weights) + (
        (packed_bias(lw, epilogue[0], op.outputs[0]),) if epi.bias else ())
    lw.add_kernel(kernel, in_slots, out_slots, names, lw.matmul_flops(op),
                  lw.bytes_of(_distinct(op.inputs), outputs))


def shape_value(lw, op, outputs, out_slots, names) -> None:
    """Shape: a plan-time constant (plans are built per input shapes)."""
    out = outputs[0]
    lw.const_values[out] = np.array(lw.shapes[op.inputs[0]], out.dtype.np)
    lw.slot(out, "const", lw.const_values[out])


def gather_index_check(lw, op) -> None:
    """Out-of-range gather indices are an error, as in the reference and TF, not the
    clamped read the kernel made: checked now for constants, else by a host step after
    the kernel."""
    params, indices = op.inputs
    axis = op.attrs["axis"]
    n = lw.shapes[params][axis]
    if indices in lw.const_values:
        check_gather_indices(op, lw.const_values[indices], n, axis)
        return
    lw.add_host(f"check_{op.name}", (op.name,), (lw.input_or_const_slot(indices),), (),
                gather_check_call(op, n, axis), listed=False)


def numerics_check(lw, op) -> None:
    """NaN or inf in a CheckNumerics input is an error, as in the reference and TF: the
    kernel passed the values through; a host step after it looks at them (a constant is
    looked at now)."""
    x = op.inputs[0]
    if x in lw.const_values:
        numerics_check_call(op).bind()(lw.const_values[x])
        return
    lw.add_host(f"check_{op.name}", (op.name,), (lw.input_or_const_slot(x),), (),
                numerics_check_call(op), listed=False)
