"""Graph queries: which inputs an op reads, and which ops a set of fetches needs.

They sit beside graph.py rather than in it because they consult the op registry, and
the registry's package imports every op module, which imports graph.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphjit.graph import Operation, Tensor
from graphjit.registry import get_op_def


def ref_inputs(op: Operation) -> tuple[int, ...]:
    """Positions of inputs `op` writes rather than reads (an Assign's variable)."""
    return get_op_def(op.type).extra.get("ref_inputs", ())


def read_inputs(op: Operation) -> list[Tensor]:
    """The inputs whose values `op` reads: all of them but its ref inputs."""
    refs = ref_inputs(op)
    return [t for i, t in enumerate(op.inputs) if i not in refs] if refs else list(op.inputs)


def ops_needed(fetch_ops: list[Operation], fed: set[Tensor]) -> list[Operation]:
    """The ops that must run to compute `fetch_ops`, in graph (topological) order.

    Fed tensors cut the graph: what only feeds them is not run; neither is the
    variable behind a ref input (assigning it does not read it).
    """
    needed: set[Operation] = set()
    stack = list(fetch_ops)
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed.add(op)
        stack.extend(t.op for t in read_inputs(op) if t not in fed)
        stack.extend(op.control_inputs)
    return in_graph_order(needed)


def in_graph_order(ops: Iterable[Operation]) -> list[Operation]:
    """`ops` in the order the graph created them (a topological order), in time
    proportional to their number, not the graph's."""
    return sorted(ops, key=lambda op: op.index)


def data_dependencies(fetch_ops: Iterable[Operation],
                      fed: Iterable[Tensor] = ()) -> set[Operation]:
    """The ops `fetch_ops` read from through data edges only (control edges are not
    followed), stopping at `fed` tensors; `fetch_ops` themselves included."""
    fed = set(fed)
    needed: set[Operation] = set()
    stack = list(fetch_ops)
    while stack:
        op = stack.pop()
        if op not in needed:
            needed.add(op)
            stack.extend(t.op for t in read_inputs(op) if t not in fed)
    return needed
