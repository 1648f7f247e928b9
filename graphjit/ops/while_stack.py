"""WhileStack: a while loop whose body also gives rows, stacked over the iterations
([iterations, *row] per row output): ONNX Loop's and Scan's scan outputs.

A plain while loop could carry the stacked rows as a loop variable grown by a concat,
but its shape would change every iteration and the body be planned again each time.
Here the loop variables keep their shapes (one plan for the body) and the rows are
stacked by the host step (graphjit.lower.while_stack: natively where it can), into
outputs sized once when the iteration count is known when the graph is built
(`count`). The body also gives the cond of its new values, as an ONNX Loop body does:
an iteration runs one plan, not two.
"""

from __future__ import annotations

from graphjit.errors import InvalidArgumentError, ShapeError
from graphjit.function import build_function, with_captures
from graphjit.graph import Tensor
from graphjit.lower import deferred
from graphjit.ops._util import convert_to_tensor, graph_of, op_error, op_errors
from graphjit.ops.control_flow import _check_loop, _invariants, _union, loop_var_specs
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register

__all__ = ["while_stack"]

run_stacking = deferred("graphjit.lower.while_stack", "run_stacking")
while_stack_call = deferred("graphjit.lower.while_stack", "while_stack_call")


def _split(attrs) -> int:
    """The number of loop variables: the body gives them, the rows, then the cond."""
    return len(attrs["body"].outputs) - attrs["rows"] - 1


def _infer(specs, attrs):
    cond, body, n = attrs["cond"], attrs["body"], _split(attrs)
    finals = loop_var_specs(specs, cond, body, n)
    count = attrs.get("count", -1)
    # the rows' shapes under the variables' invariants when those may change
    rows = body.output_specs(list(finals) + list(specs[n:]))[n:-1]
    return list(finals) + [((None if count < 0 else count, *shape), dtype)
                           for shape, dtype in rows]


def _reference(*arrays, cond, body, rows, count=-1):
    n = len(body.outputs) - rows - 1
    invariants = [tuple(t.shape) for t in body.inputs[:n]]
    values, extra = list(arrays[:n]), list(arrays[n:])

    def row_specs(final):
        return body.output_specs([(v.shape, t.dtype) for v, t in
                                  zip(final + extra, body.inputs)])[n:-1]

    return run_stacking(cond.evaluate, body.evaluate, values, extra, rows, count, row_specs,
                        invariants)


register(OpDef("WhileStack", _infer, _reference, Fusion.HOST,
               Host("runs the compiled plans of its cond and body, stacking the rows the "
                    "body gives on the host", call=while_stack_call),
               differentiable=False,
               onnx=NoOnnx("control flow holds sub-graphs; their export (ONNX Loop) is "
                           "not implemented"),
               attrs={"cond": Attr(AttrKind.FUNCTION), "body": Attr(AttrKind.FUNCTION),
                      "rows": Attr(AttrKind.INT),
                      "count": Attr(AttrKind.INT, required=False)},
               extra={"foldable": False}))  # (a loop could run for ever at compile time)


def while_stack(cond, body, loop_vars, count: int | None = None, shape_invariants=None,
                name: str | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """(final loop variables, stacked rows) of `loop_vars = new` while `cond(*loop_vars)`,
    where `body(*loop_vars)` returns `(new, rows)`: lists of tensors, `new` like
    `loop_vars`, `rows` the tensors each iteration adds one row of to the stacked outputs.

    Each loop variable keeps its shape unless `shape_invariants` (a list of shapes, None
    for a dim that may change) allow more; rows keep theirs across iterations. `count`:
    the number of iterations, when it is known now (the stacked outputs get that static
    length and are allocated once; a loop that runs a different number fails).
    """
    default = "while_stack"
    tensors = [convert_to_tensor(v) for v in loop_vars]
    if not tensors:
        raise op_error(InvalidArgumentError, "WhileStack", name, default, [],
                       "loop_vars must hold at least one tensor")
    graph = graph_of(*tensors)

    def errors():
        return op_errors("WhileStack", name, default, tensors)

    with errors():
        invariants = _invariants(tensors, (list, None, [None] * len(tensors)),
                                 shape_invariants)
        if count is not None and (not isinstance(count, int) or count < 0):
            raise InvalidArgumentError(f"count must be a non-negative int, got {count!r:.40}")
    n_rows = []

    def flat_body(*values):
        result = body(*values)
        if not (isinstance(result, (list, tuple)) and len(result) == 2):
            with errors():
                raise InvalidArgumentError("body must return (new loop variables, rows), "
                                           f"got {type(result).__name__}")
        new, rows = result
        with errors():
            if len(new) != len(tensors):
                raise InvalidArgumentError(f"body returns {len(new)} loop variables for "
                                           f"{len(tensors)} loop_vars")
        n_rows.append(len(rows))
        return [*new, *rows, cond(*new)]

    scope = graph.unique_name(name or default, mark_as_used=False)
    args = [(inv, t.dtype) for inv, t in zip(invariants, tensors)]
    cond_f, _ = build_function(lambda *v: cond(*v), args, lambda params: params, graph,
                               f"{scope}/cond", f"cond of while_stack '{scope}'", errors)
    body_f, _ = build_function(flat_body, args, lambda params: params, graph,
                               f"{scope}/body", f"body of while_stack '{scope}'", errors)
    with errors():
        _check_loop(cond_f, body_f, tensors, invariants)
        for j, row in enumerate(body_f.outputs[len(tensors):-1]):
            if row.shape.unknown_rank:
                raise ShapeError(f"row {j} of the body has an unknown rank")
    captured = _union(cond_f, body_f)
    n = len(tensors)
    cond_f, body_f = with_captures(cond_f, n, captured), with_captures(body_f, n, captured)
    attrs = {"cond": cond_f, "body": body_f, "rows": n_rows[0],
             **({} if count is None else {"count": count})}
    op = graph.create_op("WhileStack", [*tensors, *captured], attrs, name=name,
                         default_name=default)
    return list(op.outputs[:n]), list(op.outputs[n:])
