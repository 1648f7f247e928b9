"""Dead-code elimination relative to the requested fetches.

An op survives if a fetch needs it, through data or control edges, or if it
must survive on its own: a stateful op (its effect is the point, even when no
one reads its output) and the producer of a kept (fed) tensor, whose consumers
and callers expect it to exist.
"""

from __future__ import annotations

from graphjit.graph import Graph, Operation
from graphjit.passes.rebuild import PassContext, PassResult, Rewriter
from graphjit.registry import get_op_def


def dce(graph: Graph, ctx: PassContext) -> PassResult:
    """Copy only the ops the fetches, kept tensors and stateful ops need."""
    rw = Rewriter(graph, ctx, "dce")
    ops = graph.get_operations()
    live = live_ops(rw.pinned | {op for op in ops if get_op_def(op.type).stateful})
    for op in ops:
        if op in live:
            rw.copy(op)
    return rw.finish()


def live_ops(roots: set[Operation]) -> set[Operation]:
    """`roots` and every op they reach through data and control edges."""
    live: set[Operation] = set()
    stack = list(roots)
    while stack:
        op = stack.pop()
        if op not in live:
            live.add(op)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return live
