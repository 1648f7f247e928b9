"""Pictures of graphs and compiled functions: DOT text, SVG through Graphviz, and the
HTML that Jupyter shows (`graph.svg()`, `fn.svg()`, `_repr_html_`)."""

from __future__ import annotations

from graphjit.errors import InvalidArgumentError
from graphjit.graph import Graph
from graphjit.viz.dot import MAX_NODES, graph_dot
from graphjit.viz.render import can_render, render_svg


def to_dot(graph_or_fn, max_nodes: int = MAX_NODES) -> str:
    """DOT text of a Graph (its ops, name scopes as clusters) or of a CompiledFunction
    (its latest plan: a cluster per kernel, shapes on the edges, shared buffers marked).
    Past `max_nodes` the picture collapses name scopes, or kernels, into one node each."""
    if isinstance(graph_or_fn, Graph):
        return graph_dot(graph_or_fn, max_nodes)
    from graphjit.api import CompiledFunction
    if isinstance(graph_or_fn, CompiledFunction):
        return graph_or_fn.to_dot(max_nodes)
    raise InvalidArgumentError("graphjit.viz.to_dot takes a Graph or a compiled function, "
                               f"got {type(graph_or_fn).__name__}")


def svg(graph_or_fn, max_nodes: int = MAX_NODES) -> str:
    """The picture as SVG text (needs Graphviz: a MissingDependencyError says how)."""
    return render_svg(to_dot(graph_or_fn, max_nodes))


__all__ = ["MAX_NODES", "can_render", "render_svg", "svg", "to_dot"]
