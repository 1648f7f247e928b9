"""Control flow: `cond`, `case` and `while_loop`, as the ops If and While.

TF1 semantics: only the branch taken runs; a loop runs its body while its cond holds.
Each branch, cond and body is built once, as a sub-graph (graphjit.function.Function)
held in an attr of the op; the tensors of the outer graph it reads are captured as
extra inputs of the op. The reference runs the sub-graphs with the interpreter, a
compiled plan runs their own compiled plans from a host step (graphjit.lower.control_flow).

Shapes: a plan needs every shape before it runs. A cond's branches must give one shape
for given input shapes (static dims that differ are refused when the graph is built, run-
time ones when the plan is made). A while loop's variables keep their shapes unless
`shape_invariants` relax them (a None dim); then the loop's results have shapes known
only after it ran, and a compiled plan continues in a second plan made for them.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, GraphError, InvalidArgumentError, ShapeError
from graphjit.function import (
    build_function,
    describe_structure,
    flatten,
    pack,
    with_captures,
)
from graphjit.graph import Tensor, TensorShape, format_spec
from graphjit.lower import deferred
from graphjit.ops._util import convert_to_tensor, graph_of, op_error, op_errors
from graphjit.ops.control_flow_grad import if_grad, while_grad
from graphjit.ops.core import with_rank
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register

# (the lowering and its loop drivers load when a program first uses control flow)
cond_call = deferred("graphjit.lower.control_flow", "cond_call")
while_call = deferred("graphjit.lower.control_flow", "while_call")
check_invariants = deferred("graphjit.lower.while_loop", "check_invariants")

__all__ = ["cond", "case", "while_loop"]

_NO_ONNX = NoOnnx("control flow holds sub-graphs; their export (ONNX If and Loop) is not "
                  "implemented")


# -- If ----------------------------------------------------------------------------------

def _merge_branch_specs(then_specs, else_specs) -> list:
    out = []
    for i, ((a, da), (b, db)) in enumerate(zip(then_specs, else_specs)):
        if da != db:
            raise DTypeError(f"output {i} is {da} in true_fn and {db} in false_fn")
        if len(a) != len(b) or any(x is not None and y is not None and x != y
                                   for x, y in zip(a, b)):
            raise ShapeError(f"output {i} has shape {TensorShape(a)} in true_fn and "
                             f"{TensorShape(b)} in false_fn; graphjit needs both branches "
                             "to give one shape")
        out.append((tuple(x if x == y else None for x, y in zip(a, b)), da))
    return out


def _if_infer(specs, attrs):
    (pred_shape, pred_dtype), inputs = specs[0], specs[1:]
    if pred_dtype != dtypes.bool_ or len(pred_shape) != 0:
        raise ShapeError(f"pred must be a bool scalar, got {format_spec(pred_shape, pred_dtype)}")
    return _merge_branch_specs(attrs["then_branch"].output_specs(inputs),
                               attrs["else_branch"].output_specs(inputs))


def _if_reference(pred, *inputs, then_branch, else_branch):
    return tuple((then_branch if pred else else_branch).evaluate(list(inputs)))


register(OpDef("If", _if_infer, _if_reference, Fusion.HOST,
               Host("runs the compiled plan of the branch taken", call=cond_call),
               grad=if_grad, onnx=_NO_ONNX,
               attrs={"then_branch": Attr(AttrKind.FUNCTION),
                      "else_branch": Attr(AttrKind.FUNCTION)}))


# -- While -------------------------------------------------------------------------------

def _while_infer(specs, attrs):
    return loop_var_specs(specs, attrs["cond"], attrs["body"], len(attrs["body"].outputs))


def loop_var_specs(specs, cond, body, n: int) -> list:
    """The specs of a loop's `n` variables once it ran (the first n of `body`'s outputs;
    a WhileStack's body gives rows after them), checking them against their invariants."""
    invariants = [t.shape for t in body.inputs[:n]]
    for i, ((shape, _), inv) in enumerate(zip(specs[:n], invariants)):
        if not inv.is_compatible_with(shape):
            raise ShapeError(f"loop variable {i} enters the loop with shape "
                             f"{TensorShape(shape)}, which its shape invariant {inv} does "
                             "not allow")
    (cond_shape, cond_dtype), = cond.output_specs(specs)
    if cond_dtype != dtypes.bool_ or len(cond_shape) != 0:
        raise ShapeError(f"cond must return a bool scalar, got "
                         f"{format_spec(cond_shape, cond_dtype)}")
    after = body.output_specs(specs)
    for i, ((shape, _), inv) in enumerate(zip(after, invariants)):
        if not inv.is_compatible_with(shape):
            raise ShapeError(f"loop variable {i} has shape {TensorShape(shape)} after an "
                             f"iteration, which its shape invariant {inv} does not allow")
    concrete = all(d is not None for shape, _ in specs[:n] for d in shape)
    if concrete and all(tuple(a) == tuple(s) for (a, _), (s, _) in zip(after, specs[:n])):
        return [(tuple(shape), dtype) for shape, dtype in specs[:n]]  # shapes never change
    return [(inv, t.dtype) for inv, t in zip(invariants, body.inputs[:n])]


def _while_reference(*arrays, cond, body, back_prop=True):
    n = len(body.outputs)
    values, extra = list(arrays[:n]), list(arrays[n:])
    invariants = [tuple(t.shape) for t in body.inputs[:n]]
    while cond.evaluate(values + extra)[0]:
        values = body.evaluate(values + extra)
        check_invariants(values, invariants)
    return tuple(values)


register(OpDef("While", _while_infer, _while_reference, Fusion.HOST,
               Host("runs the compiled plans of its cond and body", call=while_call),
               grad=while_grad, onnx=_NO_ONNX,
               attrs={"cond": Attr(AttrKind.FUNCTION), "body": Attr(AttrKind.FUNCTION),
                      "back_prop": Attr(AttrKind.BOOL, required=False)},
               extra={"foldable": False}))  # (a loop could run for ever at compile time)


# -- the public functions -----------------------------------------------------------------

def _check_callable(fn, what: str, op_type: str, name, default: str, inputs) -> None:
    if not callable(fn):
        raise op_error(InvalidArgumentError, op_type, name, default, inputs,
                       f"{what} must be callable, got {type(fn).__name__} {fn!r:.60}")


def _union(*functions) -> list[Tensor]:
    seen: dict[Tensor, None] = {}
    for f in functions:
        for t, _ in f.graph.captures:
            seen.setdefault(t, None)
    return list(seen)


def _cond(pred, true_fn, false_fn, name, default, strict=False, flat=False):
    if isinstance(pred, (bool, np.bool_)):
        raise op_error(InvalidArgumentError, "If", name, default, [],
                       "pred must not be a Python bool (use a bool tensor; for a choice "
                       "known when building, an `if` statement)")
    pred = convert_to_tensor(pred)
    if pred.shape.unknown_rank:  # a placeholder made without a shape: a scalar it must be
        pred = with_rank(pred, 0, "pred")
    _check_callable(true_fn, "true_fn", "If", name, default, [pred])
    _check_callable(false_fn, "false_fn", "If", name, default, [pred])
    graph = graph_of(pred)
    with op_errors("If", name, default, [pred]):
        if pred.dtype != dtypes.bool_ or pred.ndim != 0:
            raise ShapeError("pred must be a bool scalar, got "
                             f"{format_spec(pred.shape, pred.dtype)}")
    scope = graph.unique_name(name or default, mark_as_used=False)
    branches = [build_function(fn, [], lambda params: (), graph, f"{scope}/{label}",
                               f"{label} of cond '{scope}'",
                               lambda: op_errors("If", name, default, [pred]), runs_once=True)
                for fn, label in ((true_fn, "true_fn"), (false_fn, "false_fn"))]
    (then_f, then_s), (else_f, else_s) = branches
    with op_errors("If", name, default, [pred]):
        if describe_structure(then_s) != describe_structure(else_s):
            raise GraphError(f"true_fn and false_fn must return the same structure, got "
                             f"{describe_structure(then_s)} and {describe_structure(else_s)}")
        if not then_f.outputs:
            raise GraphError("true_fn and false_fn return no tensors")
    captured = _union(then_f, else_f)
    then_f, else_f = with_captures(then_f, 0, captured), with_captures(else_f, 0, captured)
    op = graph.create_op("If", [pred, *captured], {"then_branch": then_f, "else_branch": else_f},
                         name=name, default_name=default)
    if flat:
        return list(op.outputs)
    result = pack(then_s, list(op.outputs))
    if not strict and isinstance(result, (list, tuple)) and len(result) == 1:
        return result[0]  # TF1's strict=False: a singleton list becomes its element
    return result


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """`true_fn()` if the bool scalar `pred` is true, else `false_fn()` (TF1's tf.cond).

    Only the branch taken runs. Both return the same structure of tensors (nested
    lists, tuples, dicts) with the same dtypes; unless `strict`, a singleton list or
    tuple is returned as its element. Tensors the functions read from the enclosing
    graph become inputs of the cond. `fn1`/`fn2` are TF's deprecated spellings.
    """
    return _cond(pred, fn1 if true_fn is None else true_fn,
                 fn2 if false_fn is None else false_fn, name, "cond", strict)


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The function paired with the first true predicate, else `default` (TF1's
    tf.case), as nested conds: only the function chosen runs. Without `default` the
    last pair's function is the default, as in TF. Unlike TF, graphjit does not check
    at run time that some predicate is true (no default) or, with `exclusive`, that at
    most one is."""
    pairs = list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, dict) \
        else list(pred_fn_pairs)
    if not pairs:
        raise InvalidArgumentError("case: pred_fn_pairs must not be empty")
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not callable(pair[1]):
            raise InvalidArgumentError(f"case: pred_fn_pairs holds {pair!r:.60}; each entry "
                                       "must be a (predicate, callable) pair")
    if default is None:
        pairs, default = pairs[:-1], pairs[-1][1]
    if not callable(default):
        raise InvalidArgumentError(f"case: default must be callable, got {default!r:.60}")
    if not pairs:
        return default()
    chosen = default
    with graph_of(*[p for p, _ in pairs]).name_scope(name):
        for pred, fn in reversed(pairs[1:]):
            chosen = _lazy_cond(pred, fn, chosen, strict)
        return cond(pairs[0][0], pairs[0][1], chosen, strict=strict)


def _lazy_cond(pred, fn, otherwise, strict):
    return lambda: cond(pred, fn, otherwise, strict=strict)


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
               return_same_structure=False):
    """Repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)` (TF1's tf.while_loop).

    `loop_vars` is a (nested) list or tuple of tensors or values, and `body` returns the
    same structure. Each variable keeps its shape unless `shape_invariants` (the same
    structure of shapes, None for a dim that may change) allow more. With
    `maximum_iterations`, at most that many iterations run. Unless
    `return_same_structure`, a single loop variable is returned as a tensor.
    Gradients pass through the loop (graphjit.ops.control_flow_grad) unless `back_prop`
    is False, which stops them there as in TF. `parallel_iterations` and `swap_memory`
    are accepted and ignored.
    """
    default = "while"
    skeleton, leaves = flatten(loop_vars, "loop_vars")
    if not leaves:
        raise op_error(InvalidArgumentError, "While", name, default, [],
                       "loop_vars must hold at least one tensor")
    tensors = [convert_to_tensor(v) for v in leaves]
    for fn, what in ((cond, "cond"), (body, "body")):
        _check_callable(fn, what, "While", name, default, tensors)
    graph = graph_of(*tensors)
    with op_errors("While", name, default, tensors):
        invariants = _invariants(tensors, skeleton, shape_invariants)
        if maximum_iterations is not None:
            limit = convert_to_tensor(maximum_iterations)
            if not limit.dtype.is_integer or limit.ndim != 0:
                raise ShapeError("maximum_iterations must be an integer scalar, got "
                                 f"{format_spec(limit.shape, limit.dtype)}")
    spread = isinstance(loop_vars, (list, tuple))

    def call(fn, values):
        packed = pack(skeleton, values)
        return fn(*packed) if spread else fn(packed)

    def flat_cond(*values):
        return call(cond, list(values))

    def flat_body(*values):
        result = call(body, list(values))
        if not isinstance(result, (list, tuple, dict)) or (spread and isinstance(result, dict)):
            result = [result]
        with op_errors("While", name, default, tensors):
            return _same_structure(skeleton, result, scope)

    if maximum_iterations is not None:  # TF's way: a counter as an extra loop variable
        from graphjit.ops.elementwise import less, logical_and
        tensors = [convert_to_tensor(np.zeros((), limit.dtype.np), graph=graph)] + tensors
        invariants = [TensorShape(())] + invariants
        user_cond, user_body = flat_cond, flat_body
        flat_cond = lambda i, *v: logical_and(less(i, limit), user_cond(*v))  # noqa: E731
        flat_body = lambda i, *v: [i + 1, *user_body(*v)]  # noqa: E731
    scope = graph.unique_name(name or default, mark_as_used=False)
    args = [(inv, t.dtype) for inv, t in zip(invariants, tensors)]
    def errors():
        return op_errors("While", name, default, tensors)
    cond_f, _ = build_function(flat_cond, args, lambda params: params, graph, f"{scope}/cond",
                               f"cond of while_loop '{scope}'", errors)
    body_f, _ = build_function(flat_body, args, lambda params: params, graph, f"{scope}/body",
                               f"body of while_loop '{scope}'", errors)
    with op_errors("While", name, default, tensors):
        _check_loop(cond_f, body_f, tensors, invariants)
    captured = _union(cond_f, body_f)
    n = len(tensors)
    cond_f, body_f = with_captures(cond_f, n, captured), with_captures(body_f, n, captured)
    attrs = {"cond": cond_f, "body": body_f, **({} if back_prop else {"back_prop": False})}
    op = graph.create_op("While", [*tensors, *captured], attrs, name=name,
                         default_name=default)
    outputs = list(op.outputs[1:] if maximum_iterations is not None else op.outputs)
    if not return_same_structure and len(outputs) == 1:
        return outputs[0]
    return pack(skeleton, outputs)


def _invariants(tensors, skeleton, shape_invariants) -> list[TensorShape]:
    if shape_invariants is None:
        return [t.shape for t in tensors]
    given = _leaves_like(skeleton, shape_invariants)
    out = []
    for t, inv in zip(tensors, given):
        try:
            inv = TensorShape(inv)
        except (TypeError, ValueError):
            raise ShapeError(f"shape_invariants gives {inv!r:.60} for {t.name}; expected a "
                             "TensorShape (or a list of ints and None)") from None
        if not inv.is_compatible_with(t.shape):
            raise ShapeError(f"the shape invariant specified for {t.name} is not compatible "
                             f"with the initial shape of the loop variable: it enters the "
                             f"loop with shape {t.shape}, but the specified shape invariant "
                             f"is {inv}")
        out.append(inv)
    return out


def _leaves_like(skeleton, value) -> list:
    """The values of a structure shaped as `skeleton` (a shape at each leaf)."""
    if skeleton is None:
        return [value]
    kind, _, children = skeleton
    if kind is dict:
        if not isinstance(value, dict) or sorted(value) != [k for k, _ in children]:
            raise ShapeError(f"shape_invariants must have the structure of loop_vars, "
                             f"{describe_structure(skeleton)}; got {value!r:.60}")
        return [x for k, c in children for x in _leaves_like(c, value[k])]
    if not isinstance(value, (list, tuple)) or isinstance(value, TensorShape) \
            or len(value) != len(children):
        raise ShapeError(f"shape_invariants must have the structure of loop_vars, "
                         f"{describe_structure(skeleton)}; got {value!r:.60}")
    return [x for c, v in zip(children, value) for x in _leaves_like(c, v)]


def _same_structure(skeleton, result, scope: str) -> list:
    """The leaves of what body returned, which must have the loop variables' structure
    (lists and tuples alike, as TF1 compares them)."""
    got, leaves = flatten(result, f"body of while_loop '{scope}'")
    if _loose(got) != _loose(skeleton):
        raise GraphError(f"body of while_loop '{scope}' must return the structure of "
                         f"loop_vars, {describe_structure(skeleton)}; it returned "
                         f"{describe_structure(got)}")
    return leaves


def _loose(skeleton):
    if skeleton is None:
        return None
    kind, _, children = skeleton
    if kind is dict:
        return ("dict", tuple((k, _loose(c)) for k, c in children))
    return ("seq", tuple(_loose(c) for c in children))


def _check_loop(cond_f, body_f, tensors, invariants) -> None:
    """TF's build-time checks, naming the loop variable by its tensor."""
    (out,) = cond_f.outputs
    if out.dtype != dtypes.bool_ or out.ndim != 0:
        raise ShapeError(f"cond must return a bool scalar, got {format_spec(out.shape, out.dtype)}")
    _check_loop_vars(body_f, tensors, invariants)


def _check_loop_vars(body_f, tensors, invariants) -> None:
    """Each loop variable keeps its dtype, and a shape its invariant allows."""
    for t, inv, new in zip(tensors, invariants, body_f.outputs):
        if new.dtype != t.dtype:
            raise DTypeError(f"loop variable {t.name} enters the loop as {t.dtype}, but the "
                             f"body returns {new.dtype} for it")
        if len(new.shape) != len(inv) or any(
                d is not None and e != d for d, e in zip(inv, new.shape)):
            raise ShapeError(
                f"input tensor '{t.name}' enters the loop with shape {inv}, but has shape "
                f"{new.shape} after one iteration. To allow the shape to vary across "
                "iterations, use the `shape_invariants` argument of tf.while_loop to "
                "specify a less-specific shape.")
