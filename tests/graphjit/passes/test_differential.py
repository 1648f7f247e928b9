"""Differential testing: random graphs, optimized and not, agree under the reference interpreter.

A program is a list of instructions over a pool of tensors whose shapes all
broadcast to one base shape, so any two can meet in a binary op. Constants
include 0, -0.0, 1, NaN and inf; instructions are repeated (for CSE) and
shape round trips (transposes, reshapes, expand/squeeze) give simplify work.
Sometimes an intermediate tensor, constants included, is fed as well (kept).
CI runs 300 programs; GRAPHJIT_LONG_TESTS=1 runs 7,500.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.passes import optimize
from tests.graphjit.passes.util import assert_same_values

FLOAT_UNARY = ["Neg", "Abs", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Reciprocal", "Tanh",
               "Sigmoid", "Floor", "Relu", "Sign", "Identity"]
INT_UNARY = ["Neg", "Abs", "Square", "Relu", "Sign", "Identity"]
FLOAT_BINARY = ["Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow"]
INT_BINARY = ["Add", "Sub", "Mul", "Maximum", "Minimum"]
FLOAT_REDUCE = ["Sum", "Mean", "Max", "Min", "Prod"]
INT_REDUCE = ["Sum", "Max", "Min"]
FLOAT_CONSTS = [0.0, -0.0, 1.0, 2.0, 3.0, -1.0, 0.5, 1.5, np.nan, np.inf, -np.inf]
INT_CONSTS = [0, 1, 2, 3, -1, 5]
EXPONENTS = {"float": [0.0, 1.0, 2.0, 3.0, -1.0, 0.5], "int": [0, 1, 2, 3]}


@st.composite
def programs(draw):
    dtype = draw(st.sampled_from(["float32", "float64", "int32"]))
    kind = "int" if dtype == "int32" else "float"
    base = tuple(draw(st.lists(st.integers(1, 4), max_size=3)))

    def sub_shape():
        rank = draw(st.integers(0, len(base)))
        dims = base[len(base) - rank:]
        return tuple(d if draw(st.booleans()) else 1 for d in dims)

    shapes: list[tuple] = []
    instrs: list[tuple] = []

    def pick():
        return draw(st.integers(0, len(shapes) - 1))

    for _ in range(draw(st.integers(1, 2))):
        shape = sub_shape()  # fed as is; declared with some dims unknown
        declared = tuple(None if draw(st.integers(0, 3)) == 0 else d for d in shape)
        instrs.append(("input", shape, declared))
        shapes.append(shape)
    consts = FLOAT_CONSTS if kind == "float" else INT_CONSTS
    for _ in range(draw(st.integers(2, 10))):
        choice = draw(st.sampled_from(
            ["const", "const", "fill", "unary", "unary2", "binary", "binary", "binary_const",
             "binary_const", "pow", "reduce", "transposes", "reshapes", "expand_squeeze",
             "broadcast", "select", "cast_same", "dup", "dup"]))
        if choice == "const":
            shape = sub_shape()
            size = int(np.prod(shape))
            if draw(st.booleans()):
                values = [draw(st.sampled_from(consts))] * size
            else:
                values = draw(st.lists(st.sampled_from(consts), min_size=size, max_size=size))
            instr, shape = ("const", shape, tuple(values)), shape
        elif choice == "fill":
            shape = sub_shape()
            instr = ("fill", shape, draw(st.sampled_from(consts)))
        elif choice == "unary":
            i = pick()
            instr, shape = ("unary", draw(st.sampled_from(
                FLOAT_UNARY if kind == "float" else INT_UNARY)), i), shapes[i]
        elif choice == "unary2":
            i = pick()
            ops = FLOAT_UNARY if kind == "float" else INT_UNARY
            pair = draw(st.sampled_from(
                [("Neg", "Neg"), ("Sqrt", "Reciprocal") if kind == "float" else ("Neg", "Abs"),
                 (draw(st.sampled_from(ops)), draw(st.sampled_from(ops)))]))
            instr, shape = ("unary2", *pair, i), shapes[i]
        elif choice == "binary_const":
            i = pick()
            op = draw(st.sampled_from(FLOAT_BINARY if kind == "float" else INT_BINARY))
            const_shape = sub_shape()
            value = draw(st.sampled_from(consts))
            instr = ("binary_const", op, i, value, const_shape, draw(st.booleans()))
            shape = _broadcast(shapes[i], const_shape)
        elif choice == "binary":
            i = pick()
            j = i if draw(st.integers(0, 3)) == 0 else pick()
            op = draw(st.sampled_from(FLOAT_BINARY if kind == "float" else INT_BINARY))
            instr, shape = ("binary", op, i, j), _broadcast(shapes[i], shapes[j])
        elif choice == "pow":
            i = pick()
            instr, shape = ("pow", i, draw(st.sampled_from(EXPONENTS[kind]))), shapes[i]
        elif choice == "reduce":
            i = pick()
            rank = len(shapes[i])
            if rank == 0:
                continue
            keepdims = draw(st.booleans())
            if keepdims:
                axes = tuple(sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1))))
                shape = tuple(1 if a in axes else d for a, d in enumerate(shapes[i]))
            else:  # dropping leading axes keeps the shape aligned with the base
                axes = tuple(range(draw(st.integers(1, rank))))
                shape = shapes[i][len(axes):]
            op = draw(st.sampled_from(FLOAT_REDUCE if kind == "float" else INT_REDUCE))
            instr = ("reduce", op, i, axes, keepdims)
        elif choice == "transposes":
            i = pick()
            rank = len(shapes[i])
            p1 = tuple(draw(st.permutations(range(rank))))
            p2 = tuple(draw(st.permutations(range(rank))))
            instr, shape = ("transposes", i, p1, p2, draw(st.booleans())), shapes[i]
        elif choice == "reshapes":
            i = pick()
            instr, shape = ("reshapes", i, draw(st.booleans()), shapes[i]), shapes[i]
        elif choice == "expand_squeeze":
            i = pick()
            axis = draw(st.integers(0, len(shapes[i])))
            instr, shape = ("expand_squeeze", i, axis), shapes[i]
        elif choice == "broadcast":
            instr, shape = ("broadcast", pick(), base), base
        elif choice == "select":
            a, b, c, d = pick(), pick(), pick(), pick()
            cmp = draw(st.sampled_from(["Less", "Greater", "Equal"]))
            shape = _broadcast(_broadcast(shapes[a], shapes[b]),
                               _broadcast(shapes[c], shapes[d]))
            instr = ("select", cmp, a, b, c, d)
        elif choice == "cast_same":
            i = pick()
            instr, shape = ("cast_same", i), shapes[i]
        else:  # repeat an earlier instruction on the same operands
            k = draw(st.integers(0, len(instrs) - 1))
            if instrs[k][0] == "input":
                continue
            instr, shape = instrs[k], shapes[k]
        instrs.append(instr)
        shapes.append(shape)
    n_fetch = draw(st.integers(0, 2))
    extra_fetches = [pick() for _ in range(n_fetch)]
    fed = pick() if draw(st.integers(0, 3)) == 0 else None
    return dtype, instrs, extra_fetches, fed, draw(st.integers(0, 2**32 - 1))


def _broadcast(a: tuple, b: tuple) -> tuple:
    return tuple(np.broadcast_shapes(a, b))


def build(dtype: str, instrs: list[tuple]) -> tuple[tf.Graph, list[tf.Tensor]]:
    graph = tf.Graph()
    pool: list[tf.Tensor] = []
    np_dtype = np.dtype(dtype)
    with graph.as_default():
        for instr in instrs:
            pool.append(_emit(graph, instr, pool, dtype, np_dtype))
    return graph, pool


def _emit(graph, instr, pool, dtype, np_dtype):
    make = graph.create_op
    kind = instr[0]
    if kind == "input":
        return tf.placeholder(dtype, instr[2])
    if kind == "const":
        return tf.constant(np.array(instr[2], np_dtype).reshape(instr[1]))
    if kind == "fill":
        return make("Fill", [], {"shape": instr[1], "value": np_dtype.type(instr[2]).item(),
                                 "dtype": tf.as_dtype(dtype)}).outputs[0]
    if kind == "unary":
        return make(instr[1], [pool[instr[2]]]).outputs[0]
    if kind == "unary2":
        _, u1, u2, i = instr
        return make(u2, [make(u1, [pool[i]]).outputs[0]]).outputs[0]
    if kind == "binary":
        return make(instr[1], [pool[instr[2]], pool[instr[3]]]).outputs[0]
    if kind == "binary_const":
        _, op, i, value, shape, swap = instr
        c = tf.constant(np.full(shape, value, np_dtype))
        return make(op, [c, pool[i]] if swap else [pool[i], c]).outputs[0]
    if kind == "pow":
        return make("Pow", [pool[instr[1]], tf.constant(np_dtype.type(instr[2]))]).outputs[0]
    if kind == "reduce":
        _, op, i, axes, keepdims = instr
        return make(op, [pool[i]], {"axes": axes, "keepdims": keepdims}).outputs[0]
    if kind == "transposes":
        _, i, p1, p2, between = instr
        x = make("Transpose", [pool[i]], {"perm": p1}).outputs[0]
        if between:
            x = make("Neg", [x]).outputs[0]
        x = make("Transpose", [x], {"perm": p2}).outputs[0]
        total = [p1[p] for p in p2]  # undo both: the pool shape stays aligned
        return make("Transpose", [x], {"perm": tuple(np.argsort(total).tolist())}).outputs[0]
    if kind == "reshapes":
        _, i, between, concrete = instr
        x = pool[i]
        y = make("Reshape", [x], {"shape": (-1,)}).outputs[0]
        if between:
            y = make("Abs", [y]).outputs[0]
        y = make("ExpandDims", [y], {"axis": 0}).outputs[0]
        unknown = sum(d is None for d in x.shape)
        target = tuple(-1 if d is None else d for d in x.shape) if unknown <= 1 else concrete
        return make("Reshape", [y], {"shape": target}).outputs[0]
    if kind == "expand_squeeze":
        y = make("ExpandDims", [pool[instr[1]]], {"axis": instr[2]}).outputs[0]
        return make("Squeeze", [y], {"axes": (instr[2],)}).outputs[0]
    if kind == "broadcast":
        return make("BroadcastTo", [pool[instr[1]]], {"shape": instr[2]}).outputs[0]
    if kind == "select":
        _, cmp, a, b, c, d = instr
        cond = make(cmp, [pool[a], pool[b]]).outputs[0]
        return make("Select", [cond, pool[c], pool[d]]).outputs[0]
    if kind == "cast_same":
        return make("Cast", [pool[instr[1]]], {"dtype": tf.as_dtype(dtype)}).outputs[0]
    raise AssertionError(kind)


def _runtime_shapes(graph, instrs, pool) -> dict:
    """The shape each pool tensor has at run time (placeholders may declare unknown dims)."""
    inputs = {pool[i]: instr[1] for i, instr in enumerate(instrs) if instr[0] == "input"}
    zeros = {t: np.zeros(shape, t.dtype.np) for t, shape in inputs.items()}
    return {t: np.shape(v) for t, v in zip(pool, evaluate(pool, zeros))}


def _random_array(rng: np.random.Generator, shape, dtype: str) -> np.ndarray:
    if dtype == "int32":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    values = rng.uniform(-3, 3, size=shape)
    special = rng.random(size=shape) < 0.15
    values[special] = rng.choice([0.0, -0.0, 1.0, np.nan, np.inf, -np.inf],
                                 size=int(special.sum()))
    return values.astype(dtype)


@settings(max_examples=settings.default.max_examples * 25)
@given(programs())
def test_optimized_graph_matches_reference(program):
    dtype, instrs, extra_fetches, fed, seed = program
    graph, pool = build(dtype, instrs)
    note(graph.as_text())
    rng = np.random.default_rng(seed)
    runtime_shapes = _runtime_shapes(graph, instrs, pool)
    feeds = {t: _random_array(rng, runtime_shapes[t], dtype)
             for t in pool if t.op.type == "Placeholder"}
    if fed is not None and pool[fed] not in feeds:
        feeds[pool[fed]] = _random_array(rng, runtime_shapes[pool[fed]], dtype)
    consumed = {t for op in graph.get_operations() for t in op.inputs}
    fetches = [t for op in graph.get_operations() if op.type != "Placeholder"
               for t in op.outputs if t not in consumed]
    fetches += [pool[i] for i in extra_fetches if pool[i] not in fetches]

    before = graph.as_text()
    new, report = optimize(graph, fetches, keep=list(feeds))
    note(str(report))
    note(new.as_text())
    assert graph.as_text() == before
    assert report.converged

    expected = evaluate(fetches, feeds)
    new_fetches = [report.fetch_map[f] for f in fetches]
    new_feeds = {report.lookup(t): v for t, v in feeds.items()}
    actual = evaluate(new_fetches, new_feeds)
    for f, e, a in zip(fetches, expected, actual):
        assert_same_values(e, a, f.name)
    for f, g in zip(fetches, new_fetches):  # fetched names survive
        assert new.get_tensor_by_name(f.name) is g

    again, second = optimize(new, new_fetches, keep=list(new_feeds))
    assert second.changes == 0, str(second)
    assert again.as_text() == new.as_text()
