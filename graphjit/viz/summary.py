"""What `repr()` and Jupyter show of a Graph or a compiled function: what it is (inputs,
outputs, plans, kernels), never `<object at 0x...>`. A repr compiles nothing and never
raises: the picture is added only where a plan exists and Graphviz is there.
"""

from __future__ import annotations

import html
from collections import Counter

from graphjit.errors import Error
from graphjit.graph import Graph, Tensor, format_spec
from graphjit.viz.render import can_render, render_svg

LISTED = 6  # names a repr lists before "... and N more"


def _listed(items: list[str], limit: int = LISTED) -> str:
    if not items:
        return "none"
    more = f", ... and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _spec(t: Tensor) -> str:
    return f"{t.name if t.value_index else t.op.name} {format_spec(t.shape, t.dtype)}"


def _outputs(graph: Graph) -> list[Tensor]:
    from graphjit.passes import graph_outputs
    return graph_outputs(graph)


# -- Graph -----------------------------------------------------------------------------
def graph_repr(graph: Graph) -> str:
    ops = graph.get_operations()
    inputs = [_spec(op.outputs[0]) for op in ops if op.type == "Placeholder"]
    outputs = [_spec(t) for t in _outputs(graph)]
    return (f"<graphjit.Graph: {len(ops)} ops; inputs: {_listed(inputs, 4)}; "
            f"outputs: {_listed(outputs, 4)}>")


def graph_html(graph: Graph) -> str:
    ops = graph.get_operations()
    types = Counter(op.type for op in ops)
    rows = [("ops", f"{len(ops)}: " + _listed([f"{n} {t}" for t, n in types.most_common()], 10)),
            ("inputs", _listed([_spec(op.outputs[0]) for op in ops
                                if op.type == "Placeholder"], 20)),
            ("outputs", _listed([_spec(t) for t in _outputs(graph)], 20))]
    picture = _picture(lambda: _graph_svg(graph)) if ops else ""
    return _table("graphjit.Graph", rows) + picture


def _graph_svg(graph: Graph) -> str:
    from graphjit.viz.dot import graph_dot
    return render_svg(graph_dot(graph))


# -- CompiledFunction ---------------------------------------------------------------------
def _latest(fn) -> tuple[str, list]:
    """(the latest plan's input shapes, its steps), compiling nothing."""
    if fn._stages is not None:
        return "made in stages as it runs", []
    if fn._last is None:
        return "", []
    key = next((k for k, v in list(fn._executors.items()) if v is fn._last), None)
    shapes = "" if key is None else ", ".join(
        f"{t.op.name} {format_spec(s, t.dtype)}" for t, s in zip(fn.feeds, key))
    return shapes, list(fn._last[2])


def _function_rows(fn) -> list[tuple[str, str]]:
    inputs = [f"{t.op.name} {format_spec(t.shape, t.dtype)}" for t in fn.feeds]
    outputs = [_spec(leaf) if isinstance(leaf, Tensor) else f"{leaf.name} (op)"
               for leaf in fn.leaves]
    shapes, steps = _latest(fn)
    plans = f"{len(fn._executors)}" + (f" (latest for {shapes})" if shapes else
                                       " (a call plans for its input shapes)")
    return [("inputs", _listed(inputs, 20)), ("outputs", _listed(outputs, 20)),
            ("plans", plans), ("steps", steps)]


def function_repr(fn) -> str:
    rows = _function_rows(fn)
    lines = ["<graphjit.CompiledFunction"]
    for name, value in rows[:3]:
        lines.append(f"  {name}: {value}")
    steps = rows[3][1]
    if steps:
        lines.append(f"  kernels of the latest plan ({len(steps)}): "
                     + _listed([f"{s.name} ({s.kind})" for s in steps], 8))
    return "\n".join(lines) + ">"


def function_html(fn) -> str:
    rows = _function_rows(fn)
    out = _table("graphjit.CompiledFunction", rows[:3])
    steps = rows[3][1]
    if steps:
        body = "".join(f"<tr><td>{html.escape(s.name)}</td><td>{html.escape(str(s.kind))}"
                       f"</td><td>{html.escape(', '.join(s.ops))}</td></tr>" for s in steps)
        out += ("<table><thead><tr><th>kernel</th><th>kind</th><th>fused graph ops</th>"
                f"</tr></thead><tbody>{body}</tbody></table>")
        out += _picture(fn.svg)
    return out


# -- shared ------------------------------------------------------------------------------
def _table(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th style=\"text-align:left\">{html.escape(k)}</th>"
                   f"<td style=\"text-align:left\">{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return f"<div><strong>{html.escape(title)}</strong><table>{body}</table></div>"


def _picture(draw) -> str:
    """An inline SVG picture, or nothing where Graphviz is missing or fails (a repr
    shows what it can)."""
    if not can_render():
        return ""
    try:
        svg = draw()
    except Error:
        return ""
    start = svg.find("<svg")  # (the XML prolog and doctype do not belong inside HTML)
    return f"<div>{svg[start:] if start >= 0 else ''}</div>"
