"""Reverse-mode automatic differentiation: `gradients(ys, xs)` with TF1's semantics.

The backward graph is made of ordinary ops added to the same graph (under the
name scope "gradients"), so it is optimized, fused and compiled like any other.
Each op's rule is the `grad` of its registry entry, next to its inference and
reference: `grad(op, grad_outputs) -> [gradient or None per input]`, called only
when some output received a gradient, and written with the public API.

Gradients flow through floating tensors only. What stops them:
- `stop_gradient` and the `stop_gradients` argument: on purpose, no error;
- an op marked not differentiable, or one turning floating inputs into integer or
  bool outputs (comparisons, argmax, casts to int, ...): if every path from an x to
  the ys crosses such an op, `NotDifferentiableError` names the op(s) nearest x;
- a rule that returns None for an input (Floor, Round, the shape-only input of
  zeros_like, ...): the gradient is zero and the result None, as in TF.
An x the ys do not depend on at all gets None.
"""

from __future__ import annotations

from graphjit.errors import DTypeError, GraphError, NotDifferentiableError, ShapeError
from graphjit.graph import Operation, Tensor
from graphjit.ops._grad import add_all
from graphjit.ops.deferred_grad import deferred_gradients, needs_deferring
from graphjit.registry import get_op_def


def gradients(ys, xs, grad_ys=None, name: str = "gradients", stop_gradients=None,
              colocate_gradients_with_ops: bool = False, gate_gradients: bool = False,
              aggregation_method=None, *, _blocked_is_zero: bool = False
              ) -> list[Tensor | None]:
    """d(sum of ys)/d(x) for each x in xs, as new ops of the graph (TF1's tf.gradients).

    `grad_ys` (one per y, None for ones) weighs each y; `stop_gradients` are tensors
    treated as constants. Returns a list aligned with xs: None where the ys do not
    depend on an x. The TF1 arguments colocate_gradients_with_ops, gate_gradients
    and aggregation_method are accepted and ignored. (`_blocked_is_zero`: an x every path
    to which is blocked gets None rather than an error; control flow's gradient rules
    differentiate their sub-graphs so.)
    """
    ys, xs = _tensor_list(ys, "ys"), _tensor_list(xs, "xs")
    grad_ys = [None] * len(ys) if grad_ys is None else list(_as_list(grad_ys))
    if len(grad_ys) != len(ys):
        raise GraphError(f"gradients: {len(grad_ys)} grad_ys given for {len(ys)} ys")
    stops = set(_tensor_list(stop_gradients, "stop_gradients")) if stop_gradients else set()
    if not ys:
        return [None] * len(xs)
    graph = ys[0].graph
    for t in ys + xs + list(stops):
        if t.graph is not graph:
            raise GraphError(f"gradients: '{t.name}' belongs to another graph than "
                             f"'{ys[0].name}'")
    with graph.as_default(), graph.name_scope(name):
        return _Backprop(graph, ys, xs, stops, _blocked_is_zero).run(grad_ys)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _tensor_list(values, what: str) -> list[Tensor]:
    from graphjit.ops._util import convert_to_tensor
    out = []
    for v in _as_list(values):
        if isinstance(v, Operation):
            raise GraphError(f"gradients: {what} must be tensors, got the operation '{v.name}'")
        out.append(v if isinstance(v, Tensor) else convert_to_tensor(v))
    return out


class _Backprop:
    def __init__(self, graph, ys: list[Tensor], xs: list[Tensor], stops: set[Tensor],
                 blocked_is_zero: bool = False):
        self.graph = graph
        self.blocked_is_zero = blocked_is_zero
        self.ys, self.xs, self.stops = ys, xs, stops
        self.grads: dict[Tensor, list[Tensor]] = {}
        self.clean: set[Tensor] = set()  # reached by a path without a blocking op
        self.blocked: dict[Tensor, set[Operation]] = {}  # else: the blocking ops nearest
        self.ops = self._ops_between()

    def _ops_between(self) -> list[Operation]:
        """Ops on a path from some x to some y, in graph (topological) order."""
        to_ys: set[Operation] = set()
        stack = [y.op for y in self.ys]
        while stack:
            op = stack.pop()
            if op not in to_ys:
                to_ys.add(op)
                stack.extend(t.op for t in op.inputs)
        from_xs: set[Tensor] = set(self.xs)
        between = []
        for op in self.graph.get_operations():
            if op in to_ys and any(t in from_xs for t in op.inputs):
                between.append(op)
                from_xs.update(op.outputs)
        return between

    def run(self, grad_ys) -> list[Tensor | None]:
        for y, gy in zip(self.ys, grad_ys):
            self._seed(y, gy)
        for op in reversed(self.ops):
            self._backprop(op)
        return [self._result(x) for x in self.xs]

    def _seed(self, y: Tensor, gy) -> None:
        from graphjit.ops._util import convert_to_tensor
        from graphjit.ops.shape_ops import ones_like
        if gy is None:
            if y.dtype.is_floating:
                self._add(y, ones_like(y))
                self.clean.add(y)
            else:
                self.blocked.setdefault(y, set())
            return
        if not y.dtype.is_floating:
            raise DTypeError(f"gradients: grad_ys given for '{y.name}' of dtype {y.dtype}; "
                             "only floating tensors have gradients")
        gy = convert_to_tensor(gy, dtype=y.dtype)
        if not gy.shape.is_compatible_with(y.shape):
            raise ShapeError(f"gradients: grad_y of shape {gy.shape} for '{y.name}' of "
                             f"shape {y.shape}")
        self._add(y, gy)
        self.clean.add(y)

    def _add(self, t: Tensor, g: Tensor) -> None:
        self.grads.setdefault(t, []).append(g)

    def _total(self, t: Tensor) -> Tensor | None:
        grads = self.grads.get(t)
        if not grads:
            return None
        if len(grads) > 1:
            self.grads[t] = grads = [add_all(grads)]
        return grads[0]

    def _backprop(self, op: Operation) -> None:
        outs = [t for t in op.outputs if t in self.clean or t in self.blocked]
        if not outs:
            return  # nothing of it reaches the ys
        op_def = get_op_def(op.type)
        if op.type == "StopGradient" or all(t in self.stops for t in op.outputs):
            self.clean.update(op.inputs)  # stopped on purpose: no error, no gradient
            return
        out_grads = [None if t in self.stops else self._total(t) for t in op.outputs]
        floating_in = [t for t in op.inputs if t.dtype.is_floating]
        if not op_def.differentiable or op_def.grad is None or (
                floating_in and not any(t.dtype.is_floating for t in op.outputs)):
            for t in op.inputs:
                self.blocked.setdefault(t, set()).add(op)
            return
        clean = any(t in self.clean for t in op.outputs)
        if all(g is None for g in out_grads):
            inherited = set().union(*(self.blocked.get(t, set()) for t in op.outputs))
            for t in op.inputs:
                self._reach(t, clean, inherited)
            return
        with self.graph.name_scope(op.name + "_grad"):
            if needs_deferring(op, out_grads):
                in_grads = deferred_gradients(op, out_grads)
            else:
                in_grads = op_def.grad(op, out_grads)
        if len(in_grads) != len(op.inputs):
            raise GraphError(f"the gradient rule of {op.type} returned {len(in_grads)} "
                             f"gradients for {len(op.inputs)} inputs")
        for t, g in zip(op.inputs, in_grads):
            if not t.dtype.is_floating:
                self.blocked.setdefault(t, set()).add(op)  # e.g. gather's indices
            elif g is None:
                self._reach(t, clean, set())  # a zero gradient (Floor, a shape-only input)
            else:
                self._check(op, t, g)
                self._add(t, g)
                self.clean.add(t)

    def _reach(self, t: Tensor, clean: bool, blocked: set) -> None:
        if clean:
            self.clean.add(t)
        else:
            self.blocked.setdefault(t, set()).update(blocked)

    def _check(self, op: Operation, t: Tensor, g: Tensor) -> None:
        if g.dtype != t.dtype or not g.shape.is_compatible_with(t.shape):
            raise GraphError(
                f"the gradient rule of {op.describe()} gave a gradient "
                f"{g.dtype}{list(g.shape)} for input '{t.name}' {t.dtype}{list(t.shape)}")

    def _result(self, x: Tensor) -> Tensor | None:
        g = self._total(x)
        if g is not None or x in self.clean:
            return g
        blockers = self.blocked.get(x)
        if blockers and not self.blocked_is_zero:
            ops = sorted(blockers, key=lambda o: o.name)
            described = "; ".join(f"{o.describe()} at {o.source}" for o in ops)
            raise NotDifferentiableError(
                f"no gradient flows from {', '.join(repr(y.name) for y in self.ys)} to "
                f"'{x.name}': every path between them goes through an op without a "
                f"gradient: {described}. (Comparisons, argmax/argmin, casts to integer or "
                "bool types and the other ops marked not differentiable have none.)")
        return None
