"""ONNX If, Loop and Scan, imported as graphjit's own control flow: the If and While ops
that TF1's tf.cond and tf.while_loop build (graphjit.ops.control_flow), so a compiled
plan runs them as native branches and loops, and the reference interpreter checks them.

Each graph attribute (a branch, a loop body) is imported by the importer into the
cond's or loop's sub-graph (`ctx.subgraph`); the outer values it reads by name become
captured inputs of the op, or constants where the importer knows them at build time.
An If whose condition is known at build time imports only the branch it takes.

Per-iteration outputs (Loop's scan outputs, Scan's outputs) make the loop a WhileStack
(graphjit.ops.while_stack): the body gives them beside the loop variables, which keep
their shapes (one plan for the body), and they are stacked into outputs sized once
when the iteration count is known at import. A Scan is a ScanStack
(graphjit.ops.scan_stack): the body gets each row of the scan inputs and its outputs
are stacked into outputs sized once, to the inputs' length. Both run as one native
loop where their body allows (graphjit.lower.stack_loop). The loop variables'
shape invariants come from a first, scratch import of the body (the way map_fn learns
its result shapes).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError
from graphjit.function import build_function
from graphjit.graph import Tensor, TensorShape, get_default_graph
from graphjit.onnx.convert import NodeContext, StaticValueRequired, converter
from graphjit.ops.scan_stack import scan_stack
from graphjit.ops.while_stack import while_stack

# The most iterations a Loop is unrolled to when its body needs that (it carries a
# sequence or optional, or needs its iteration number at build time).
MAX_UNROLLED = 256


def _structured(graph_proto) -> bool:
    """Whether a graph attribute's outputs include sequences or optionals."""
    return any(o.type.WhichOneof("value") in ("sequence_type", "optional_type")
               for o in graph_proto.output)


def _graph_attr(ctx: NodeContext, name: str):
    return next(a.g for a in ctx.node.attribute if a.name == name)


def _scalar_bool(ctx: NodeContext, t: Tensor, what: str) -> Tensor:
    """ONNX conditions are bool tensors of one element (shape [] or [1])."""
    if t.dtype != dtypes.bool_:
        raise ctx.invalid(f"{what} must be bool, got {t.dtype}")
    if t.shape.num_elements() not in (None, 1):
        raise ctx.invalid(f"{what} must hold one element, got shape {t.shape}")
    return gj.reshape(t, [])


@converter("If", attrs=("then_branch", "else_branch"))
def convert_if(ctx: NodeContext) -> list:
    known = ctx.static(0)
    if known is not None:  # the branch is chosen now: only it is imported
        if np.asarray(known).size != 1:
            raise ctx.invalid(f"cond must hold one element, got shape {np.shape(known)}")
        taken = "then_branch" if bool(np.asarray(known).reshape(())) else "else_branch"
        return ctx.subgraph(taken, [])
    if _structured(_graph_attr(ctx, "then_branch")) or \
            _structured(_graph_attr(ctx, "else_branch")):
        ctx.require_static(0, "the condition of an If whose branches give sequences or "
                              "optionals, which graphjit imports one branch of")
    pred = _scalar_bool(ctx, ctx.inputs[0], "cond")
    try:
        return gj.cond(pred, lambda: ctx.subgraph("then_branch", []),
                       lambda: ctx.subgraph("else_branch", []), strict=True, name=ctx.name)
    except (ShapeError, DTypeError) as exc:
        raise ctx.unsupported(f"its branches must give outputs of one shape and dtype in "
                              f"graphjit: {exc}") from None


def _scratch_body(ctx: NodeContext, specs: list, bind=list) -> list[Tensor]:
    """The body's outputs imported once into a scratch sub-graph, for their specs (and
    whether they are known at build time); `bind` maps its placeholders to the body's
    inputs."""
    f, _ = build_function(lambda *params: ctx.subgraph("body", bind(params)), specs,
                          lambda params: params, get_default_graph(), f"{ctx.name}/scratch",
                          f"body of {ctx.op_type} '{ctx.name}'", nullcontext)
    return list(f.outputs)


def _invariant(before: TensorShape, after: TensorShape) -> TensorShape:
    """The loop variable's shape across iterations: dims that change become None."""
    if len(before) != len(after):
        return TensorShape(None)
    return TensorShape([a if a == b else None for a, b in zip(before, after)])


def _loop(ctx: NodeContext, stop, body, counter: Tensor, carried: list[Tensor],
          scratch: list[Tensor], n_rows: int, count: int | None = None,
          scalar_cond: bool = False) -> list[Tensor]:
    """while_loop over (counter, *carried) while `stop(counter, *carried)`:
    `body(counter, *carried)` gives the new carried values and the rows to stack; the
    loop's final carried values and stacked rows. `scratch` are the outputs of the
    body's scratch import (`_scratch_body`), ending with the carried values then the
    rows; `count`, when known at import, the number of iterations it will run (the
    stacked outputs are sized once to it). With `scalar_cond`, carried[0] is Loop's
    condition, a scalar whatever shape of one element the body gives it. Rows make it a
    WhileStack (the body runs one plan, the rows are stacked as they come), else a plain
    While."""
    after = scratch[len(scratch) - n_rows - len(carried):len(scratch) - n_rows]
    invariants = [TensorShape(())] + [_invariant(t.shape, a.shape)
                                      for t, a in zip(carried, after)]
    if scalar_cond:
        invariants[1] = TensorShape(())
    if count is not None and count * sum(
            r.dtype.size * (r.shape.num_elements() or 1)
            for r in scratch[len(scratch) - n_rows:]) > ctx.max_bytes:
        count = None  # (a trip count like INT64_MAX: the rows grow as they come)

    def step(i, *values):
        new, rows = body(i, *values)
        return [i + 1, *new], rows

    try:
        if n_rows:
            finals, stacked = while_stack(stop, step, [counter, *carried], count=count,
                                          shape_invariants=invariants, name=ctx.name)
            return finals[1:] + stacked
        result = gj.while_loop(stop, lambda *v: step(*v)[0], [counter, *carried],
                               shape_invariants=invariants, return_same_structure=True,
                               name=ctx.name)
    except (ShapeError, DTypeError) as exc:
        raise ctx.unsupported(f"its loop-carried values must keep their dtype and rank in "
                              f"graphjit: {exc}") from None
    return list(result[1:])


@converter("Loop", attrs=("body",))
def convert_loop(ctx: NodeContext) -> list[Tensor]:
    """for i in [0, M) while cond: the body maps (i, cond, *v) to (cond, *v, *rows)."""
    limit, cond = ctx.input(0), ctx.input(1)
    carried = list(ctx.inputs[2:])
    n = len(carried)
    if not all(isinstance(t, Tensor) for t in carried) or _structured(_graph_attr(ctx, "body")):
        return _unrolled(ctx, "it carries sequences or optionals")
    try:
        return _while(ctx, limit, cond, carried, n)
    except StaticValueRequired as exc:
        # A value the body computes from its own inputs (the iteration number, say) must
        # be known: unrolled, each iteration has it. One from model inputs (exc.needs):
        # the backend specializes on those, and the loop stays a loop.
        if ctx.input(0) is None or exc.needs:
            raise
        return _unrolled(ctx, f"its body needs a value at build time ({exc})")


def _unrolled(ctx: NodeContext, why: str) -> list:
    """The Loop as copies of its body, one per iteration, when M is known at build time
    (the backend specializes on it) and so is each iteration's condition."""
    if ctx.input(0) is None:
        raise ctx.unsupported(f"{why}, so graphjit unrolls it, which needs the trip count M")
    m = int(np.asarray(ctx.require_static(0, f"the trip count M ({why}, so graphjit "
                                             "unrolls it)")).reshape(()))
    if m > MAX_UNROLLED:
        raise ctx.unsupported(f"{why}, so graphjit unrolls it, to at most {MAX_UNROLLED} "
                              f"iterations; M is {m}")
    go = True if ctx.input(1) is None else \
        ctx.require_static(1, f"the condition ({why}, so graphjit unrolls it)")
    values = list(ctx.inputs[2:])
    rows: list[list] = [[] for _ in range(ctx.num_outputs - len(values))]
    for i in range(m):
        if not bool(np.asarray(go).reshape(())):
            break
        outs = ctx.subgraph("body", [gj.constant(np.int64(i)), gj.constant(np.bool_(True)),
                                     *values])
        c = outs[0]
        if not isinstance(c, Tensor) or c.op.type != "Const":
            raise ctx.unsupported(f"{why}, so graphjit unrolls it, which needs the body's "
                                  "condition known at build time")
        go = c.op.attrs["value"]
        values = list(outs[1:1 + len(values)])
        for acc, row in zip(rows, outs[1 + len(values):]):
            acc.append(row)
    if any(not acc for acc in rows):
        raise ctx.unsupported("a scan output of a Loop that ran no iteration (its shape is "
                              "not known)")
    return values + [gj.stack(acc, axis=0) for acc in rows]


def _while(ctx: NodeContext, limit, cond, carried: list, n: int) -> list[Tensor]:
    if limit is not None:
        if not limit.dtype.is_integer or limit.shape.num_elements() not in (None, 1):
            raise ctx.invalid(f"M must be an int64 scalar, got {limit.dtype} {limit.shape}")
        limit = gj.cast(gj.reshape(limit, []), dtypes.int64)
    cond = gj.constant(True) if cond is None else _scalar_bool(ctx, cond, "cond")
    specs = [(TensorShape(()), dtypes.int64), (TensorShape(()), dtypes.bool_)] + \
        [(t.shape, t.dtype) for t in carried]
    n_out = ctx.num_outputs
    n_rows = n_out - n
    if n_rows < 0:
        raise ctx.invalid(f"it has {n_out} outputs for {n} loop-carried values")

    def stop(i, c, *_):
        return c if limit is None else gj.logical_and(gj.less(i, limit), c)

    true = gj.constant(True)  # (the body runs only while cond holds: cond_in is True)

    def body(i, c, *values):
        outs = ctx.subgraph("body", [i, true, *values])
        if len(outs) != 1 + n + n_rows:
            raise ctx.invalid(f"its body gives {len(outs)} outputs; the node needs "
                              f"{1 + n + n_rows} (cond, {n} loop-carried, {n_rows} scan)")
        new_c = _scalar_bool(ctx, outs[0], "the body's cond output")
        return [new_c, *outs[1:1 + n]], outs[1 + n:]

    scratch = _scratch_body(ctx, specs, lambda p: [p[0], true, *p[2:]])
    count = None  # the trip count, when the loop surely runs M times and M is known
    known_m = ctx.static(0)
    if known_m is not None and _is_true(ctx.static(1) if ctx.input(1) is not None else True) \
            and scratch[0].op.type == "Const" and _is_true(scratch[0].op.attrs["value"]):
        count = max(int(np.asarray(known_m).reshape(())), 0)
    zero = gj.constant(np.zeros((), np.int64))
    return _loop(ctx, stop, body, zero, [cond, *carried], scratch, n_rows, count,
                 scalar_cond=True)[1:]


def _is_true(value) -> bool:
    return value is not None and np.asarray(value).size == 1 and bool(np.asarray(value).all())


def _axis(ctx: NodeContext, axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < rank:
        raise ctx.invalid(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


@converter("Scan", attrs=("body", "num_scan_inputs", "scan_input_axes",
                          "scan_input_directions", "scan_output_axes",
                          "scan_output_directions"))
def convert_scan(ctx: NodeContext) -> list[Tensor]:
    """The body maps (*states, *slices of the scan inputs) to (*states, *rows), one
    iteration per slice along each scan input's axis; rows stack into the outputs."""
    m = ctx.attr("num_scan_inputs")
    inputs = list(ctx.inputs)
    n = len(inputs) - m
    if m < 1 or n < 0:
        raise ctx.invalid(f"num_scan_inputs={m} for {len(inputs)} inputs")
    states, xs = inputs[:n], inputs[n:]
    in_axes = ctx.attr("scan_input_axes") or [0] * m
    in_dirs = ctx.attr("scan_input_directions") or [0] * m
    k = ctx.num_outputs - n
    out_axes = ctx.attr("scan_output_axes") or [0] * k
    out_dirs = ctx.attr("scan_output_directions") or [0] * k
    if len(in_axes) != m or len(in_dirs) != m or len(out_axes) != k or len(out_dirs) != k:
        raise ctx.invalid("scan_input_axes/directions must have num_scan_inputs entries and "
                          "scan_output_axes/directions one per scan output")
    axes = [_axis(ctx, a, x.ndim, "scan_input_axes entry") for a, x in zip(in_axes, xs)]
    lengths = {x.shape[a] for x, a in zip(xs, axes)} - {None}
    if len(lengths) > 1:
        raise ctx.invalid(f"its scan inputs have different lengths {sorted(lengths)}")
    row_specs = [(TensorShape([d for j, d in enumerate(x.shape) if j != a]), x.dtype)
                 for x, a in zip(xs, axes)]
    scratch = _scratch_body(ctx, [(t.shape, t.dtype) for t in states] + row_specs)
    invariants = [_invariant(t.shape, a.shape) for t, a in zip(states, scratch[:n])]
    sequences = []  # each scan input with its axis first, in the order the body reads it
    for x, a, reverse in zip(xs, axes, in_dirs):
        if a:
            x = gj.transpose(x, [a] + [j for j in range(x.ndim) if j != a])
        sequences.append(gj.reverse(x, [0]) if reverse else x)

    def body(*values):
        outs = ctx.subgraph("body", list(values))
        if len(outs) != n + k:
            raise ctx.invalid(f"its body gives {len(outs)} outputs; the node needs {n + k}")
        return outs[:n], outs[n:]

    try:
        finals, stacked = scan_stack(body, states, sequences, shape_invariants=invariants,
                                     name=ctx.name)
    except (ShapeError, DTypeError) as exc:
        raise ctx.unsupported(f"its states must keep their dtype and rank in graphjit: "
                              f"{exc}") from None
    outputs = list(finals)
    for acc, a, reverse in zip(stacked, out_axes, out_dirs):
        if reverse:
            acc = gj.reverse(acc, [0])
        a = _axis(ctx, a, acc.ndim, "scan_output_axes entry")
        if a:
            perm = list(range(1, a + 1)) + [0] + list(range(a + 1, acc.ndim))
            acc = gj.transpose(acc, perm)
        outputs.append(acc)
    return outputs
