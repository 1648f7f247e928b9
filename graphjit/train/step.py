"""The global step: an int64 scalar variable counting training steps."""

from __future__ import annotations

from graphjit import dtypes
from graphjit.errors import GraphError
from graphjit.graph import Graph, get_default_graph
from graphjit.variables import GraphKeys, Variable


def get_global_step(graph: Graph | None = None) -> Variable | None:
    """The graph's global step variable, or None."""
    steps = (graph or get_default_graph()).get_collection(GraphKeys.GLOBAL_STEP)
    return steps[0] if steps else None


def create_global_step(graph: Graph | None = None) -> Variable:
    """A new int64 scalar `global_step` variable starting at 0 (non-trainable)."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise GraphError("the graph already has a global step (use get_global_step)")
    with graph.as_default(), graph.name_scope(""):
        return Variable(0, trainable=False, name="global_step", dtype=dtypes.int64,
                        collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph: Graph | None = None) -> Variable:
    step = get_global_step(graph)
    return step if step is not None else create_global_step(graph)


def global_step(sess, global_step_tensor) -> int:
    """The step's current value in `sess`, as a Python int (TF's tf.train.global_step)."""
    return int(sess.run(global_step_tensor))
