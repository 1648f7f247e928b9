"""Gradients of control flow, and the WhileHistory op a loop's gradient reads.

A cond's gradient is a cond of its branches' gradients: each new branch differentiates
a copy of its branch (Function.inline) with graphjit.gradients, so only the branch
taken runs backward too.

A loop's gradient follows TF1, which keeps each iteration's intermediates: WhileHistory
runs the loop again and stacks the value of every loop variable entering each iteration
([iterations, *shape]; its shapes are known once it ran, so a plan is staged there).
A backward while loop then walks the iterations in reverse, differentiating a copy of
the body at each stacked value, carrying the loop variables' gradients and summing
those of the tensors the loop captured. Loop variables must keep their shapes. The
stacked values have a gradient too (the same backward loop, each iteration's gradient
added where it starts), so second derivatives go through loops.

Inside a branch or a body, a path through an op without a gradient (a floor, a
comparison) contributes zero, as in TF, rather than an error: the rule returns a
gradient for the op's input, and cannot say that it is blocked.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import ShapeError, UnsupportedError
from graphjit.graph import TensorShape, get_default_graph
from graphjit.lower import deferred
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register

history_call = deferred("graphjit.lower.control_flow", "history_call")


def if_grad(op, grads):
    """The gradient of the branch taken (see the module docstring)."""
    from graphjit.autodiff import gradients
    from graphjit.ops.control_flow import _cond
    from graphjit.ops.shape_ops import zeros_like
    xs, ys = list(op.inputs[1:]), list(op.outputs)
    float_in = [i for i, x in enumerate(xs) if x.dtype.is_floating]
    float_out = [j for j, y in enumerate(ys) if y.dtype.is_floating]
    dys = [zeros_like(ys[j]) if grads[j] is None else grads[j] for j in float_out]

    def branch_gradient(function):
        def build():
            graph = get_default_graph()  # the gradient branch's own graph
            inner = [graph.capture(x) for x in xs]
            outs = function.inline(inner)
            found = gradients([outs[j] for j in float_out], [inner[i] for i in float_in],
                              grad_ys=[graph.capture(d) for d in dys], _blocked_is_zero=True)
            return [zeros_like(inner[i]) if g is None else g for i, g in zip(float_in, found)]
        return build

    results = _cond(op.inputs[0], branch_gradient(op.attrs["then_branch"]),
                    branch_gradient(op.attrs["else_branch"]), None, "cond", flat=True)
    out = [None] * len(op.inputs)
    for i, g in zip(float_in, results):
        out[1 + i] = g
    return out


# -- WhileHistory -----------------------------------------------------------------------

def _history_infer(specs, attrs):
    body = attrs["body"]
    n = len(body.outputs)
    return [((None, *t.shape), t.dtype) for t in body.inputs[:n]]


def stack_history(values: list[list[np.ndarray]], initial: list) -> tuple:
    """The values each variable entered the iterations with, stacked (both engines);
    `initial`: the values it entered the loop with (for the shape of none)."""
    out = []
    for j, (seen, first) in enumerate(zip(values, initial)):
        changed = next((v.shape for v in seen if v.shape != seen[0].shape), None)
        if changed is not None:
            raise ShapeError(f"gradients through a while loop need its loop "
                             f"variables to keep their shapes; variable {j} went from "
                             f"{list(seen[0].shape)} to {list(changed)}")
        out.append(np.stack(seen) if seen else np.zeros((0, *first.shape), first.dtype))
    return tuple(out)


def _history_reference(*arrays, cond, body):
    n = len(body.outputs)
    values, extra = list(arrays[:n]), list(arrays[n:])
    seen: list[list] = [[] for _ in range(n)]
    while cond.evaluate(values + extra)[0]:
        for j, v in enumerate(values):
            seen[j].append(v)
        values = body.evaluate(values + extra)
    return stack_history(seen, arrays[:n])


def while_grad(op, grads):
    """The loop run backward over its stacked iterations (see the module docstring); none
    for a loop built with back_prop=False."""
    if not op.attrs.get("back_prop", True):
        return [None] * len(op.inputs)
    return _backward(op, grads, None)


def _history_grad(op, grads):
    """The gradients of the stacked values: each enters the backward loop at its
    iteration (the values the loop ends with get none)."""
    return _backward(op, [None] * len(op.outputs), grads)


def _backward(op, final: list, stacked: list | None) -> list:
    """Gradients of a While's (or WhileHistory's) inputs: `final` for the values the
    loop ends with, `stacked` (or None) for those each iteration starts with."""
    from graphjit.autodiff import gradients
    from graphjit.ops.control_flow import while_loop
    from graphjit.ops.indexing import gather
    from graphjit.ops.shape_ops import shape, zeros_like
    body = op.attrs["body"]
    n = len(body.outputs)
    loop_vars, extra = list(op.inputs[:n]), list(op.inputs[n:])
    for t, p in zip(loop_vars, body.inputs):
        if tuple(p.shape) != tuple(t.shape):
            raise UnsupportedError(
                f"{op.describe()} at {op.source}: gradients through a while loop need its "
                f"loop variables to keep their shapes; '{t.name}' {TensorShape(t.shape)} "
                f"has the shape invariant {p.shape}")
    history = op.graph.create_op("WhileHistory", op.inputs,
                                 {"cond": op.attrs["cond"], "body": body},
                                 name=f"{op.name}_history").outputs
    fvars = [j for j in range(n) if loop_vars[j].dtype.is_floating]
    fextra = [i for i, t in enumerate(extra) if t.dtype.is_floating]
    per_step = {j: stacked[j] for j in fvars if stacked is not None and stacked[j] is not None}
    start = [zeros_like(loop_vars[j]) if final[j] is None else final[j] for j in fvars]
    start += [zeros_like(extra[i]) for i in fextra]

    def backward(k, *carried):
        graph = get_default_graph()  # the backward body's own graph
        values = [gather(h, k) for h in history]
        inner = [graph.capture(t) for t in extra]
        outs = body.inline(values + inner)
        wrt = [values[j] for j in fvars] + [inner[i] for i in fextra]
        found = gradients([outs[j] for j in fvars], wrt, grad_ys=list(carried[:len(fvars)]),
                          _blocked_is_zero=True)
        found = [zeros_like(t) if g is None else g for t, g in zip(wrt, found)]
        cots = [g + gather(per_step[j], k) if j in per_step else g
                for j, g in zip(fvars, found)]
        sums = [a + g for a, g in zip(carried[len(fvars):], found[len(fvars):])]
        return [k - 1, *cots, *sums]

    count = shape(history[0])[0]
    results = while_loop(lambda k, *carried: k >= 0, backward, [count - 1, *start],
                         name="backward", return_same_structure=True)[1:]
    out = [None] * len(op.inputs)
    for j, g in zip(fvars, results[:len(fvars)]):
        out[j] = g
    for i, g in zip(fextra, results[len(fvars):]):
        out[n + i] = g
    return out


register(OpDef("WhileHistory", _history_infer, _history_reference, Fusion.HOST,
               Host("runs the compiled plans of a loop's cond and body, keeping every "
                    "iteration's loop variables", call=history_call),
               grad=_history_grad,
               onnx=NoOnnx("the stacked iterations of a while loop, for its gradient; "
                           "control flow is not exported"),
               attrs={"cond": Attr(AttrKind.FUNCTION), "body": Attr(AttrKind.FUNCTION)},
               extra={"foldable": False}))
