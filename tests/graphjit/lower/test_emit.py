"""graphjit.lower.emit on its own: the loop-IR kernel RegionEmitter builds for one region.

The seam is `RegionEmitter(region, shapes, inputs, outputs, const_values).kernel(name)`,
driven the way the planner drives it: `partition` gives the region, its inputs are the
tensors it reads from outside in first-read order (size-1 constants become literals and
are no input), its outputs the fetched tensors. Every kernel is checked with
`codegen.loopir.verify` and its structure asserted on the IR nodes; nothing is compiled.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from codegen.loopir import (
    PARALLEL,
    SERIAL,
    Assign,
    Call,
    Const,
    Dim,
    Fn,
    Load,
    Loop,
    Store,
    Var,
    format_kernel,
    verify,
)
from graphjit.graph_queries import ops_needed, read_inputs
from graphjit.lower.emit import PARALLEL_MIN_ELEMENTS, RegionEmitter
from graphjit.lower.partition import partition
from graphjit.registry import get_op_def


def reduce_init(op_type: str, dtype: np.dtype):
    """Where the registry's reduction of `op_type` starts its accumulator."""
    return get_op_def(op_type).lowering.init(dtype)


def _emit(fetches, feeds):
    """The verified kernel of the one region computing `fetches` (outputs in that order)."""
    fed = set(feeds)
    graph = fetches[0].graph
    ops = [op for op in ops_needed([f.op for f in fetches], fed)
           if op.outputs and op.type not in ("Const", "Placeholder")]
    shapes = {t: tuple(t.shape) for op in graph.get_operations() for t in op.outputs}
    consts = {op.outputs[0]: np.asarray(op.attrs["value"])
              for op in graph.get_operations() if op.type == "Const"}
    regions = partition(ops, shapes, fed)
    assert len(regions) == 1, [[op.type for op in r.ops] for r in regions]
    (region,) = regions
    members = {t for op in region.ops for t in op.outputs}
    inputs: list = []
    for op in region.ops:
        for t in read_inputs(op):
            if t in members or t in inputs or (t in consts and consts[t].size == 1):
                continue
            inputs.append(t)
    kernel = RegionEmitter(region, shapes, inputs, list(fetches), consts).kernel("k")
    verify(kernel)
    return kernel


def _stmts(body):
    """Every statement, loops included, in program order."""
    for s in body:
        yield s
        if isinstance(s, Loop):
            yield from _stmts(s.body)


def _exprs(e):
    yield e
    if isinstance(e, Call):
        for a in e.args:
            yield from _exprs(a)
    elif isinstance(e, Load):
        for i in e.index:
            yield from _exprs(i)


def _all_exprs(kernel):
    for s in _stmts(kernel.body):
        if isinstance(s, Assign):
            yield from _exprs(s.value)
        elif isinstance(s, Store):
            yield from _exprs(s.value)
            for i in s.index:
                yield from _exprs(i)
        elif isinstance(s, Loop):
            yield from _exprs(s.stop)


def _calls(kernel, fn):
    return [e for e in _all_exprs(kernel) if isinstance(e, Call) and e.fn == fn]


def _nest(kernel):
    """The loops of a perfect nest from the top, and the innermost body."""
    loops, body = [], kernel.body
    while len(body) == 1 and isinstance(body[0], Loop):
        loops.append(body[0])
        body = body[0].body
    return loops, body


def test_an_elementwise_chain_is_a_single_loop_nest_with_one_store():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 5])
        y = tf.exp(tf.tanh(x) + 1.0) * 2.0
    kernel = _emit([y], [x])
    loops, body = _nest(kernel)
    assert [loop.var for loop in loops] == ["i0", "i1"]
    assert all(loop.kind == SERIAL for loop in loops)  # 15 elements: no threads
    assert [type(s) for s in body] == [Assign] * 4 + [Store]
    assert [s.value.fn for s in body[:4]] == [Fn.TANH, Fn.ADD, Fn.EXP, Fn.MUL]
    store = body[-1]
    assert store.param == "out0" and store.index == (Var("i0"), Var("i1")) and not store.holds
    assert [(p.name, p.is_output) for p in kernel.params] == [("in0", False), ("out0", True)]


def test_loop_bounds_come_from_the_arrays_not_the_shapes_of_this_plan():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 5])
        y = tf.negative(x)
    loops, _ = _nest(_emit([y], [x]))
    assert [loop.stop for loop in loops] == [Dim("in0", 0), Dim("in0", 1)]


def test_size_one_constants_are_literals_and_larger_ones_parameters():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3])
        c = tf.constant(np.array([1, 2, 3], np.float32))
        y = (x * 2.0) + c
    kernel = _emit([y], [x])
    assert [(p.name, p.rank) for p in kernel.params] == [("in0", 2), ("in1", 1), ("out0", 2)]
    assert Const(2.0, "float32") in list(_all_exprs(kernel))
    # the vector broadcasts along the rows: it is read at the column index alone
    assert Load("in1", (Var("i1"),)) in list(_all_exprs(kernel))


def test_a_broadcast_input_is_read_at_index_zero_on_its_size_one_axes():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 4])
        col = tf.placeholder(tf.float32, [3, 1])
        y = x - col
    loads = [e for e in _all_exprs(_emit([y], [x, col])) if isinstance(e, Load)]
    assert Load("in1", (Var("i0"), 0)) in loads and Load("in0", (Var("i0"), Var("i1"))) in loads


@pytest.mark.parametrize("shape, kind", [((256, 128), PARALLEL), ((1, 1 << 16), SERIAL),
                                         ((4, 8), SERIAL)])
def test_only_a_large_outer_axis_runs_in_parallel(shape, kind):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, list(shape))
        y = tf.exp(x)
    assert (np.prod(shape) >= PARALLEL_MIN_ELEMENTS) == (shape != (4, 8))
    loops, _ = _nest(_emit([y], [x]))
    assert loops[0].kind == kind
    assert loops[1].kind == SERIAL  # only the outermost loop is split between threads


def test_softmax_is_one_row_kernel_that_parks_exp_once():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        y = tf.nn.softmax(x)
    kernel = _emit([y], [x])
    assert [p.name for p in kernel.params] == ["in0", "out0"]  # no full-size scratch input
    (rows,) = kernel.body
    assert rows.var == "i0" and isinstance(rows, Loop)
    passes = [s for s in rows.body if isinstance(s, Loop)]
    assert [p.var for p in passes] == ["j1"] * 3  # max, sum (+ park), normalize
    parks = [s for s in _stmts(kernel.body) if isinstance(s, Store) and s.holds]
    assert len(parks) == 1 and parks[0].holds == "v0" and parks[0].param == "out0"
    assert parks[0] in passes[1].body  # parked in the sum's pass, before the final one
    assert "out0{v0}[i0, j1] = " in format_kernel(kernel)
    final = [s for s in passes[2].body if isinstance(s, Store)]
    assert len(final) == 1 and final[0].param == "out0" and not final[0].holds


def test_softmax_final_pass_reads_the_parked_exp_instead_of_recomputing_it():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        y = tf.nn.softmax(x)
    kernel = _emit([y], [x])
    assert len(_calls(kernel, Fn.EXP)) == 1
    assert any(isinstance(e, Load) and e.holds == "v0" for e in _all_exprs(kernel))


def test_a_parked_value_is_read_back_when_the_row_value_is_fetched_too():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        e = tf.exp(x - tf.reduce_max(x, axis=-1, keepdims=True))
        s = tf.reduce_sum(e, axis=-1, keepdims=True)
        y = e / s
    kernel = _emit([s, y], [x])
    assert len(_calls(kernel, Fn.EXP)) == 1  # exp once, in the sum's pass
    parks = [st for st in _stmts(kernel.body) if isinstance(st, Store) and st.holds]
    assert [(p.param, p.holds) for p in parks] == [("out1", "v1")]  # y's output holds it
    (div,) = _calls(kernel, Fn.REALDIV)
    assert div.args[0] == Load("out1", (Var("i0"), Var("j1")), "v1")
    # the per-row sum is stored once per row, at the kept 1-dim's index 0
    (rows,) = kernel.body
    last = rows.body[-1]
    assert isinstance(last, Store) and (last.param, last.index) == ("out0", (Var("i0"), 0))
    sums = [st for st in _stmts(kernel.body) if isinstance(st, Assign)
            and isinstance(st.value, Call) and st.value.fn == Fn.ADD
            and st.value.args[0] == Var(st.target)]
    assert [Var(st.target) for st in sums] == [last.value]  # the sum's accumulator


def test_row_values_are_stored_once_per_row_with_or_without_kept_dims():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 4])
        e = tf.exp(x)
        s = tf.reduce_sum(e, axis=-1)
        k = tf.reduce_max(e, axis=-1, keepdims=True)
    kernel = _emit([s, k], [x])
    (rows,) = kernel.body
    stores = [st for st in rows.body if isinstance(st, Store)]
    assert [(st.param, st.index) for st in stores] == [("out0", (Var("i0"),)),
                                                       ("out1", (Var("i0"), 0))]
    assert not any(isinstance(st, Store) for loop in rows.body if isinstance(loop, Loop)
                   for st in _stmts(loop.body))  # no full-size store: nothing is full-size


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64, tf.uint8])
def test_integer_mean_is_a_realdiv_in_the_integer_dtype(dtype):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [3, 4])
        m = tf.reduce_mean(x, axis=-1)
    kernel = _emit([m], [x])
    (div,) = _calls(kernel, Fn.REALDIV)
    assert div.dtype == dtype.name  # truncating integer division, as TF's integer Mean
    acc, count = div.args
    assert isinstance(acc, Var) and acc.name.startswith("acc")
    assert isinstance(count, Call) and count.fn == Fn.CAST and count.dtype == dtype.name
    assert Dim("in0", 1) in list(_exprs(count))  # the row length at run time, not 4
    (rows,) = kernel.body
    assert rows.body[0] == Assign(acc.name, Const(0, dtype.name), dtype.name)


def test_float_mean_divides_in_float():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [3, 4])
        m = tf.reduce_mean(x, axis=-1)
    (div,) = _calls(_emit([m], [x]), Fn.REALDIV)
    assert div.dtype == "float64" and div.args[1].dtype == "float64"


def test_a_row_kernel_recomputes_cheap_producers_instead_of_parking_them():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        d = x * 2.0  # cheap: recomputed in each pass, no park
        y = d - tf.reduce_sum(d, axis=-1, keepdims=True)
    kernel = _emit([y], [x])
    assert not any(isinstance(s, Store) and s.holds for s in _stmts(kernel.body))
    assert not any(isinstance(e, Load) and e.holds for e in _all_exprs(kernel))
    assert len(_calls(kernel, Fn.MUL)) == 2  # once in the sum's pass, once in the final


@pytest.mark.parametrize("op_type, init", [("Sum", 0), ("Mean", 0), ("Prod", 1),
                                           ("Any", False), ("All", True),
                                           ("Max", -np.inf), ("Min", np.inf)])
def test_reduce_init_is_the_identity_of_the_combining_function(op_type, init):
    assert reduce_init(op_type, np.dtype(np.float32)) == init


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_integer_max_starts_from_the_smallest_value_of_the_dtype(dtype):
    assert reduce_init("Max", np.dtype(dtype)) == np.iinfo(dtype).min


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_integer_min_starts_from_the_largest_value_of_the_dtype(dtype):
    assert reduce_init("Min", np.dtype(dtype)) == np.iinfo(dtype).max
