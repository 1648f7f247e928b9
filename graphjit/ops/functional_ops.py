"""TF1's functional control flow: `map_fn`, `scan`, `foldl` and `foldr`, as composites on
`while_loop` (graphjit.ops.control_flow).

Each loop walks the elements (dim 0 of every tensor of `elems`) with an int32 counter,
reading element i with a gather. map_fn and scan stack their per-element results into
accumulators [n, ...] that are loop variables: each step adds its result at row i
(ScatterAddLike, as dynamic_rnn does), so the accumulators keep their shapes and
gradients flow through the loop as through any while_loop. A loop body may not create
variables or draw random numbers (while_loop's rule), so neither may `fn`.

map_fn learns the shapes of fn's results, which its accumulators need before the loop,
by building fn once in a scratch sub-graph (so fn is called twice when the graph is
built); a result dim unknown there is taken from fn applied to element 0 outside the
loop (so then `elems` must not be empty).
"""

from __future__ import annotations

from graphjit import dtypes
from graphjit.errors import InvalidArgumentError, ShapeError
from graphjit.function import build_function, describe_structure, flatten, pack
from graphjit.graph import Tensor, TensorShape
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor, graph_of, make, op_errors
from graphjit.ops.control_flow import while_loop
from graphjit.ops.indexing import gather
from graphjit.ops.shape_ops import expand_dims, reshape, shape, zeros, zeros_like


def _elements(elems, what: str) -> tuple[object, list[Tensor], Tensor | int]:
    """(skeleton, the tensors of elems, n: their common dim 0, static or a tensor)."""
    skeleton, leaves = flatten(elems, what)
    if not leaves:
        raise InvalidArgumentError(f"{what}: elems must hold at least one tensor")
    tensors = [convert_to_tensor(t) for t in leaves]
    for t in tensors:
        if t.shape.unknown_rank or t.ndim == 0:
            raise ShapeError(f"{what}: elems must be tensors of rank >= 1 (it iterates over "
                             f"their first dim), got '{t.name}' of shape {t.shape}")
    sizes = {t.shape[0] for t in tensors} - {None}
    if len(sizes) > 1:
        raise ShapeError(f"{what}: the tensors of elems must have the same first dimension, "
                         f"got {[t.shape[0] for t in tensors]}")
    n = sizes.pop() if sizes else shape(tensors[0])[0]
    return skeleton, tensors, n


def _stacked_zeros(row: TensorShape, dtype, n, like_row: Tensor | None, elem: Tensor) -> Tensor:
    """Zeros of shape [n] + row: static when it can be, else measured at run time from
    `elem` (for n) and `like_row` (a tensor of shape `row`, for its unknown dims)."""
    if isinstance(n, int) and row.is_fully_defined():
        return zeros([n, *row], dtype)
    column = zeros_like(elem[(slice(None),) + (slice(0, 1),) * (elem.ndim - 1)], dtype)
    column = reshape(column, [-1] + [1] * len(row))  # [n, 1, ..., 1]
    rows = zeros(list(row), dtype) if row.is_fully_defined() else zeros_like(like_row, dtype)
    return ew.add(column, expand_dims(rows, 0))


def _put_row(acc: Tensor, value: Tensor, i: Tensor) -> Tensor:
    """acc with `value` added at row i (acc's row i is zeros where this is used)."""
    return acc + make("ScatterAddLike", [expand_dims(value, 0), reshape(i, [1]), acc],
                      {"axis": 0})


def _counter_loop(n, start, step: int, body, loop_vars, back_prop, name) -> list:
    """Run body(i, *vars) -> vars for i = start, start + step, ... within [0, n)."""
    stop = (lambda i: i < n) if step > 0 else (lambda i: i >= 0)
    result = while_loop(lambda i, *_: stop(i), lambda i, *v: [i + step, *body(i, *v)],
                        [start, *loop_vars], back_prop=back_prop, return_same_structure=True,
                        name="while")
    return list(result[1:])


def _int32(value) -> Tensor:
    return ew.cast(convert_to_tensor(value), dtypes.int32)


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None):
    """[fn(elems[0]), fn(elems[1]), ...] stacked (TF1's tf.map_fn). `elems` and fn's
    result may be nested structures of tensors; `dtype` (fn's result structure of
    dtypes, when it differs from elems') is checked against what fn returns.
    parallel_iterations, swap_memory and infer_shape are accepted and ignored."""
    what = "map_fn"
    skeleton, tensors, n = _elements(elems, what)
    graph = graph_of(*tensors)
    with graph.as_default(), graph.name_scope(name or "map"):
        def call(values):
            return fn(pack(skeleton, list(values)))

        specs = [(t.shape[1:], t.dtype) for t in tensors]
        probe, out_skeleton = build_function(
            lambda *values: call(values), specs, lambda params: params, graph,
            f"{graph.unique_name('map_fn_probe', mark_as_used=False)}", f"fn of {what}",
            lambda: op_errors("While", name, "map", tensors))
        out_specs = [(t.shape, t.dtype) for t in probe.outputs]
        if dtype is not None:
            _check_dtypes(dtype, out_specs, out_skeleton)
        first = None
        if not all(s.is_fully_defined() for s, _ in out_specs):
            first = [convert_to_tensor(t) for t in
                     flatten(call([gather(t, 0) for t in tensors]), what)[1]]
        accs = [_stacked_zeros(s, dt, n, None if first is None else first[k], tensors[0])
                for k, (s, dt) in enumerate(out_specs)]

        def body(i, *accs):
            results = flatten(call([gather(t, i) for t in tensors]), f"fn of {what}")[1]
            return [_put_row(acc, convert_to_tensor(r), i) for acc, r in zip(accs, results)]

        outputs = _counter_loop(n, _int32(0), 1, body, accs, back_prop, name)
        return pack(out_skeleton, outputs)


def _check_dtypes(dtype, out_specs, out_skeleton) -> None:
    given_skeleton, given = flatten(dtype, "map_fn dtype")
    got = [dt for _, dt in out_specs]
    if len(given) != len(got) or any(dtypes.as_dtype(a) != b for a, b in zip(given, got)):
        raise InvalidArgumentError(f"map_fn: fn returned {describe_structure(out_skeleton)} "
                                   f"of dtypes {[d.name for d in got]}, but dtype says "
                                   f"{describe_structure(given_skeleton)} of "
                                   f"{[dtypes.as_dtype(d).name for d in given]}")


def _start(initializer, tensors, skeleton, reverse: bool, n):
    """(first accumulated value's leaves, its structure, the first index fn sees)."""
    if initializer is not None:
        a_skeleton, a = flatten(initializer, "initializer")
        return [convert_to_tensor(t) for t in a], a_skeleton, \
            _int32(n) - 1 if reverse else _int32(0)
    first = _int32(n) - 1 if reverse else _int32(0)
    return [gather(t, first) for t in tensors], skeleton, \
        first - 1 if reverse else first + 1


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """The running results of a = fn(a, x) over the elements x of `elems`, stacked (TF1's
    tf.scan); a starts as `initializer`, or as the first element (which is then also the
    first result). With reverse, from the last element to the first (the results stay
    in the elements' order)."""
    skeleton, tensors, n = _elements(elems, "scan")
    graph = graph_of(*tensors)
    with graph.as_default(), graph.name_scope(name or "scan"):
        a, a_skeleton, index = _start(initializer, tensors, skeleton, reverse, n)
        accs = [_stacked_zeros(t.shape, t.dtype, n, t, tensors[0]) for t in a]
        if initializer is None:  # the first element is the first result
            accs = [_put_row(acc, t, index + (1 if reverse else -1)) for acc, t in zip(accs, a)]

        def body(i, *values):
            state, accs = values[:len(a)], values[len(a):]
            x = pack(skeleton, [gather(t, i) for t in tensors])
            new = flatten(fn(pack(a_skeleton, list(state)), x), "fn of scan")[1]
            if len(new) != len(state):
                raise ShapeError(f"scan: fn must return the structure of its accumulator, "
                                 f"{describe_structure(a_skeleton)}; it returned "
                                 f"{len(new)} tensors")
            new = [convert_to_tensor(t) for t in new]
            return [*new, *(_put_row(acc, t, i) for acc, t in zip(accs, new))]

        result = _counter_loop(n, index, -1 if reverse else 1, body, [*a, *accs],
                               back_prop, name)
        return pack(a_skeleton, result[len(a):])


def _fold(fn, elems, initializer, reverse: bool, back_prop, name, default: str):
    skeleton, tensors, n = _elements(elems, default)
    graph = graph_of(*tensors)
    with graph.as_default(), graph.name_scope(name or default):
        a, a_skeleton, index = _start(initializer, tensors, skeleton, reverse, n)

        def body(i, *state):
            x = pack(skeleton, [gather(t, i) for t in tensors])
            new = flatten(fn(pack(a_skeleton, list(state)), x), f"fn of {default}")[1]
            return [convert_to_tensor(t) for t in new]

        return pack(a_skeleton, _counter_loop(n, index, -1 if reverse else 1, body, a,
                                              back_prop, name))


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """a = fn(a, x) over the elements of `elems`, first to last; the final a (TF1's
    tf.foldl). a starts as `initializer`, or as the first element."""
    return _fold(fn, elems, initializer, False, back_prop, name, "foldl")


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """a = fn(a, x) over the elements of `elems`, last to first; the final a (TF1's
    tf.foldr). a starts as `initializer`, or as the last element."""
    return _fold(fn, elems, initializer, True, back_prop, name, "foldr")


__all__ = ["map_fn", "scan", "foldl", "foldr"]
