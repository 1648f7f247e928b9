"""ScanStack: a loop over the rows of sequences (their leading axis) carrying states,
whose body gives new states and rows, stacked over the iterations: ONNX Scan.

A while loop over an index would gather each sequence's row in its body (an index
kernel, the gather and its range check, every iteration) and stop on a cond. Here the
host step hands the body each row (graphjit.lower.while_stack: natively, a view,
where it can), the count is the sequences' length, known when the loop starts, so
the stacked outputs are sized once, and the body runs one plan for every iteration.
"""

from __future__ import annotations

from graphjit.errors import InvalidArgumentError, ShapeError
from graphjit.function import build_function, with_captures
from graphjit.graph import Tensor, TensorShape, format_spec
from graphjit.lower import deferred
from graphjit.ops._util import convert_to_tensor, graph_of, op_error, op_errors
from graphjit.ops.control_flow import _check_loop_vars, _invariants, _union
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register

run_scan = deferred("graphjit.lower.while_stack", "run_scan")
scan_stack_call = deferred("graphjit.lower.while_stack", "scan_stack_call")

__all__ = ["scan_stack"]


def _length(specs, n: int, m: int):
    """The sequences' common length (None when no static one), checked to agree."""
    for shape, dtype in specs[n:n + m]:
        if len(shape) == 0:
            raise ShapeError("a sequence must have a leading axis, got "
                             f"{format_spec(shape, dtype)}")
    known = {shape[0] for shape, _ in specs[n:n + m]} - {None}
    if len(known) > 1:
        raise ShapeError(f"the sequences have lengths {sorted(known)}; they must have one")
    return known.pop() if known else None


def _infer(specs, attrs):
    body, m = attrs["body"], attrs["sequences"]
    n = len(body.outputs) - attrs["rows"]
    length = _length(specs, n, m)
    invariants = [t.shape for t in body.inputs[:n]]
    inner = list(specs[:n]) + [(tuple(s[1:]), d) for s, d in specs[n:n + m]] + list(specs[n + m:])
    for i, ((shape, _), inv) in enumerate(zip(specs[:n], invariants)):
        if not inv.is_compatible_with(shape):
            raise ShapeError(f"state {i} enters the loop with shape {TensorShape(shape)}, "
                             f"which its shape invariant {inv} does not allow")
    after = body.output_specs(inner)
    for i, ((shape, _), inv) in enumerate(zip(after[:n], invariants)):
        if not inv.is_compatible_with(shape):
            raise ShapeError(f"state {i} has shape {TensorShape(shape)} after an iteration, "
                             f"which its shape invariant {inv} does not allow")
    if all(tuple(a) == tuple(s) for (a, _), (s, _) in zip(after[:n], specs[:n])):
        finals = [(tuple(shape), dtype) for shape, dtype in specs[:n]]
    else:  # (states whose shapes may change: the rows under the invariants)
        finals = [(inv, t.dtype) for inv, t in zip(invariants, body.inputs[:n])]
        after = body.output_specs(finals + inner[n:])
    return finals + [((length, *shape), dtype) for shape, dtype in after[n:]]


def _reference(*arrays, body, sequences, rows):
    n = len(body.outputs) - rows
    invariants = [tuple(t.shape) for t in body.inputs[:n]]
    states, seqs = list(arrays[:n]), list(arrays[n:n + sequences])
    extra = list(arrays[n + sequences:])

    def row_specs():
        given = [v.shape for v in states] + [s.shape[1:] for s in seqs] + \
            [v.shape for v in extra]
        return body.output_specs([(s, t.dtype) for s, t in zip(given, body.inputs)])[n:]

    return run_scan(body.evaluate, states, seqs, extra, rows, row_specs, invariants)


register(OpDef("ScanStack", _infer, _reference, Fusion.HOST,
               Host("runs the compiled plan of its body once per row of its sequences, "
                    "stacking the rows it gives on the host", call=scan_stack_call),
               differentiable=False,
               onnx=NoOnnx("control flow holds sub-graphs; their export (ONNX Scan) is "
                           "not implemented"),
               attrs={"body": Attr(AttrKind.FUNCTION), "sequences": Attr(AttrKind.INT),
                      "rows": Attr(AttrKind.INT)},
               extra={"foldable": False}))


def scan_stack(body, states, sequences, shape_invariants=None,
               name: str | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """(final states, stacked rows) of `states, rows = body(*states, *row_i)` for each
    row i (along the leading axis) of the `sequences`, which have one length: `body`
    returns `(new states, rows)`, lists of tensors, each row a tensor of one shape in
    every iteration; the stacked outputs are [length, *row].

    Each state keeps its shape unless `shape_invariants` (a list of shapes, None for a
    dim that may change) allow more.
    """
    default = "scan_stack"
    tensors = [convert_to_tensor(v) for v in states]
    seqs = [convert_to_tensor(s) for s in sequences]
    if not seqs:
        raise op_error(InvalidArgumentError, "ScanStack", name, default, tensors,
                       "sequences must hold at least one tensor")
    graph = graph_of(*tensors, *seqs)

    def errors():
        return op_errors("ScanStack", name, default, [*tensors, *seqs])

    with errors():
        invariants = _invariants(tensors, (list, None, [None] * len(tensors)),
                                 shape_invariants)
        _length([(s.shape, s.dtype) for s in seqs], 0, len(seqs))
    n_rows = []

    def flat_body(*values):
        result = body(*values)
        with errors():
            if not (isinstance(result, (list, tuple)) and len(result) == 2):
                raise InvalidArgumentError("body must return (new states, rows), got "
                                           f"{type(result).__name__}")
            new, rows = result
            if len(new) != len(tensors):
                raise InvalidArgumentError(f"body returns {len(new)} states for "
                                           f"{len(tensors)} states")
        n_rows.append(len(rows))
        return [*new, *rows]

    scope = graph.unique_name(name or default, mark_as_used=False)
    args = [(inv, t.dtype) for inv, t in zip(invariants, tensors)] + \
        [(TensorShape(list(s.shape)[1:]), s.dtype) for s in seqs]
    body_f, _ = build_function(flat_body, args, lambda params: params, graph,
                               f"{scope}/body", f"body of scan_stack '{scope}'", errors)
    with errors():
        _check_loop_vars(body_f, tensors, invariants)
    captured = _union(body_f)
    n = len(tensors) + len(seqs)
    body_f = with_captures(body_f, n, captured)
    attrs = {"body": body_f, "sequences": len(seqs), "rows": n_rows[0]}
    op = graph.create_op("ScanStack", [*tensors, *seqs, *captured], attrs, name=name,
                         default_name=default)
    return list(op.outputs[:len(tensors)]), list(op.outputs[len(tensors):])
