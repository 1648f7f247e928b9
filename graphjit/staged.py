"""Compiled functions over ops whose output size depends on values (boolean_mask).

A plan is made per input-shape signature: every buffer is sized before the run, from
each op's inference. An op with `dynamic_shape` (graphjit.registry) has no such size:
its output's length is known only once it ran. So a function fetching through one runs
in stages: `before` (a CompiledFunction) computes what the last dynamic ops read and
what the rest needs from their side of the graph; the dynamic ops run on the host
(their NumPy reference, as the interpreter runs them); `after` (a CompiledFunction fed
those values, whose plans are keyed by their shapes like any input's) computes the
fetches. Dynamic ops before the last ones are `before`'s own stages, recursively.

Each op runs once per call: `after` is fed every value `before` made that it reads.
State: both stages read and write the same state dict, `before` first, so an
assignment upstream of a dynamic op is visible to variable reads only downstream of
it (within one plan, every read sees the value from before the run).
"""

from __future__ import annotations

from graphjit.errors import UnsupportedError
from graphjit.feeds import convert_feed
from graphjit.graph import Operation, Tensor
from graphjit.graph_queries import ops_needed, read_inputs
from graphjit.interpreter import run_op, run_time_specs
from graphjit.registry import get_op_def


def computed_ops(leaves, feeds) -> list[Operation]:
    """The ops a call computes to fetch `leaves` given `feeds` (a fed leaf is not)."""
    fed = set(feeds)
    return ops_needed([f.op if isinstance(f, Tensor) else f for f in leaves
                       if not (isinstance(f, Tensor) and f in fed)], fed)


def dynamic_ops(ops) -> list[Operation]:
    return [op for op in ops if get_op_def(op.type).dynamic_shape]


class Stages:
    """How `fn` (a CompiledFunction whose needed ops include dynamic ones) runs."""

    def __init__(self, fn, dynamic: list[Operation]):
        from graphjit.api import CompiledFunction
        self.fn = fn
        fed = set(fn._plan_feeds)
        leaves = fn._plan_leaves
        needed = computed_ops(leaves, fed)
        upstream = set(ops_needed([t.op for d in dynamic for t in read_inputs(d)
                                   if t not in fed], fed))
        self.last = [d for d in dynamic if d not in upstream]  # graph order
        rest = [op for op in needed if op not in upstream and op not in self.last]
        # What the rest reads from the upstream side: computed once, by `before`.
        crossing = [t for op in rest + self.last for t in op.inputs
                    if t.op in upstream and t not in fed]
        crossing += [f for f in leaves if isinstance(f, Tensor) and f.op in upstream]
        self.crossing = list(dict.fromkeys(crossing))
        ordering = [c for op in rest + self.last for c in op.control_inputs if c in upstream]
        ordering += [f for f in leaves if isinstance(f, Operation) and f in upstream]
        kw = {"passes": "none", "state": fn.state, "max_plans": fn.max_plans}
        self.before = CompiledFunction(fn.graph, self.crossing + list(dict.fromkeys(ordering)),
                                       feeds=list(fn._plan_feeds), **kw) \
            if self.crossing or ordering else None
        made = [t for d in self.last for t in d.outputs]
        self.after_feeds = list(dict.fromkeys(list(fn._plan_feeds) + self.crossing + made))
        after_leaves = [f for f in leaves if not (isinstance(f, Operation) and f in upstream)]
        self.after = CompiledFunction(fn.graph, after_leaves, feeds=self.after_feeds, **kw)
        self._after_positions = [after_leaves.index(f) if f in after_leaves else None
                                 for f in leaves]

    def run(self, arrays, state) -> list:
        """Values of fn's tensor leaves (in order), as a plan's run returns them."""
        for tensor, array in zip(self.fn.feeds, arrays):
            if not tensor.shape.is_compatible_with(array.shape):
                convert_feed(tensor, array)  # raises the FeedError that explains it
        values = dict(zip(self.fn._plan_feeds, arrays))
        if self.before is not None:
            results = self.before.run_arrays(list(arrays), state)
            values.update(zip(self.crossing, results))
        for op in self.last:
            inputs = [values[t] for t in op.inputs]
            run_time_specs(op, [(a.shape, t.dtype) for a, t in zip(inputs, op.inputs)])
            values.update(zip(op.outputs, run_op(op, inputs, state)))
        after = self.after.run_arrays([values[t] for t in self.after_feeds], state)
        leaves = self.fn._plan_leaves
        return [after[p] for f, p in zip(leaves, self._after_positions)
                if isinstance(f, Tensor)]

    def unsupported(self, what: str) -> UnsupportedError:
        ops = ", ".join(f"{op.type} '{op.name}'" for op in self.last)
        return UnsupportedError(
            f"{what}: not available for this function, which runs each call in stages: the "
            f"output size of {ops} depends on values, known only between plans "
            "(graphjit.staged)")
