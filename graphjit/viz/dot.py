"""DOT text (Graphviz's language) of a graph, or of a compiled function's latest plan.

A graph is drawn op by op, name scopes as nested clusters; a compiled function is
drawn as the plan runs it: one cluster per step (labelled with its kernel name and
kind), edges with the concrete shapes and dtypes, and the buffers that share memory
marked. Past `max_nodes` a picture collapses (name scopes into one node each, or
steps into one node each) and says so, so a large graph stays readable.
"""

from __future__ import annotations

from collections import defaultdict

from graphjit.graph import Graph, Operation, format_spec
from graphjit.graph_queries import read_inputs

MAX_NODES = 150
_FONT = 'fontname="Helvetica"'
_STEP_COLORS = {"kernel": "#e3ecfa", "extern": "#fdebd3", "view": "#eeeeee", "host": "#fbf5cc"}
_BUFFER_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                  "#17becf", "#bcbd22", "#ff7f0e", "#7f7f7f")


def quote(text: str) -> str:
    """A DOT string: user names may hold quotes or backslashes; newlines become \\n."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _attrs(**attrs) -> str:
    return ", ".join(f"{k}={quote(v)}" for k, v in attrs.items() if v is not None)


def _source(op: Operation) -> str:
    return f"{op.name} ({op.type}) at {op.source}" if op.source else f"{op.name} ({op.type})"


def _node_style(op: Operation) -> dict:
    if op.type == "Placeholder":
        return {"shape": "ellipse", "fillcolor": "#dff3df"}
    if op.type == "Const":
        return {"shape": "box", "fillcolor": "#f4f4f4", "fontcolor": "#555555"}
    return {}


def _header(title: str) -> list[str]:
    return ["digraph graphjit {",
            f"  graph [{_FONT}, fontsize=11, labelloc=t, label={quote(title)}];",
            f'  node [{_FONT}, fontsize=10, shape=box, style="rounded,filled", '
            'fillcolor="#ffffff"];',
            f"  edge [{_FONT}, fontsize=9];"]


# -- a graph -------------------------------------------------------------------
def _scope(op: Operation) -> tuple[str, ...]:
    return tuple(op.name.split("/")[:-1])


def _collapse_depth(ops: list[Operation], max_nodes: int) -> int | None:
    """The deepest scope depth at which drawing fits in `max_nodes` (scopes deeper are one
    node each); None when nothing needs collapsing; 0 when even top-level scopes do not."""
    if len(ops) <= max_nodes:
        return None
    deepest = max((len(_scope(op)) for op in ops), default=0)
    for depth in range(deepest - 1, -1, -1):
        keys = {_scope(op)[:depth + 1] if len(_scope(op)) > depth else op.name for op in ops}
        if len(keys) <= max_nodes:
            return depth + 1
    return 0


def graph_dot(graph: Graph, max_nodes: int = MAX_NODES) -> str:
    """DOT text of `graph`: every op (static shapes on the edges), name scopes as
    clusters; scopes collapse into one node each past `max_nodes` ops."""
    ops = graph.get_operations()
    depth = _collapse_depth(ops, max_nodes)
    key_of: dict[Operation, str] = {}
    collapsed: dict[str, list[Operation]] = defaultdict(list)
    for op in ops:
        scope = _scope(op)
        if depth is not None and depth > 0 and len(scope) >= depth:
            key = "/".join(scope[:depth]) + "/"
            collapsed[key].append(op)
        else:
            key = op.name
        key_of[op] = key
    note = ""
    if depth is not None:
        note = f"\n{len(ops)} ops: name scopes below depth {depth} drawn as one node each"
    drawn = list(dict.fromkeys(key_of.values()))
    if len(drawn) > max_nodes:
        note = f"\n{len(ops)} ops: the first {max_nodes} nodes drawn, {len(drawn) - max_nodes} " \
               "left out (draw a part: graphjit.compile(fetches) or a smaller graph)"
        drawn = drawn[:max_nodes]
    shown = set(drawn)
    lines = _header(f"graphjit.Graph, {len(ops)} ops{note}")
    tree = _ScopeTree()
    first_op = {}
    for op in ops:
        key = key_of[op]
        if key in shown and key not in first_op:
            first_op[key] = op
            scope = tuple(key.rstrip("/").split("/")[:-1]) if key in collapsed else _scope(op)
            tree.add(scope, key)
    for key in drawn:
        op = first_op[key]
        if key in collapsed:
            members = collapsed[key]
            label = f"{key}\n{len(members)} ops"
            tree.lines[key] = f"{quote(key)} [{_attrs(label=label, shape='box3d')}];"
        else:
            attrs = {"label": f"{op.name.split('/')[-1]}\n{op.type}", "tooltip": _source(op),
                     **_node_style(op)}
            tree.lines[key] = f"{quote(key)} [{_attrs(**attrs)}];"
    lines += tree.emit()
    edges: dict[tuple[str, str], list] = {}
    for op in ops:
        dst = key_of[op]
        for t in op.inputs:
            src = key_of[t.op]
            if src != dst and src in shown and dst in shown:
                edges.setdefault((src, dst), []).append(t)
        for c in op.control_inputs:
            src = key_of[c]
            if src != dst and src in shown and dst in shown:
                edges.setdefault((src, dst), [])
    for (src, dst), tensors in edges.items():
        if not tensors:
            lines.append(f"  {quote(src)} -> {quote(dst)} [style=dashed, color=gray];")
            continue
        t = tensors[0]
        label = format_spec(t.shape, t.dtype) + (f" (+{len(tensors) - 1})"
                                                  if len(tensors) > 1 else "")
        lines.append(f"  {quote(src)} -> {quote(dst)} [{_attrs(label=label)}];")
    lines.append("}")
    return "\n".join(lines)


class _ScopeTree:
    """Node lines grouped by name scope, emitted as nested clusters."""

    def __init__(self):
        self.children: dict[tuple, list] = defaultdict(list)  # scope -> child scopes
        self.members: dict[tuple, list[str]] = defaultdict(list)  # scope -> node keys
        self.lines: dict[str, str] = {}

    def add(self, scope: tuple, key: str) -> None:
        self.members[scope].append(key)
        for i in range(len(scope)):
            parent, child = scope[:i], scope[:i + 1]
            if child not in self.children[parent]:
                self.children[parent].append(child)

    def emit(self, scope: tuple = (), indent: str = "  ") -> list[str]:
        out = [indent + self.lines[key] for key in self.members.get(scope, ())]
        for child in self.children.get(scope, ()):
            out.append(f"{indent}subgraph {quote('cluster_' + '/'.join(child))} {{")
            out.append(f'{indent}  label={quote(child[-1])}; style="rounded,dashed"; '
                       'color="#999999";')
            out += self.emit(child, indent + "  ")
            out.append(f"{indent}}}")
        return out


# -- a compiled function ------------------------------------------------------------
def program_dot(program, buffer_of: dict[int, tuple[int, int]], title: str,
                max_nodes: int = MAX_NODES) -> str:
    """DOT text of a lowered program as its plan runs it: a cluster per listed step;
    `buffer_of` (slot -> (buffer, bytes), the plan's) marks the buffers slots share."""
    listed = [s for s in program.steps if s.listed]
    step_of: dict[str, int] = {}
    for i, step in enumerate(listed):
        for name in step.ops:
            step_of.setdefault(name, i)
    fed = [t.op for t, slot in program.slot_of.items() if program.slots[slot].role == "input"]
    ops = list(dict.fromkeys(fed + [op for op in program.ops if op.outputs]))
    by_step = len(ops) > max_nodes
    legend = ("solid edges: values written to memory between steps; dashed: inside one "
              "kernel; a colored edge and 'buffer N': buffers shared by liveness")
    if by_step:
        legend = f"{len(ops)} ops: each step drawn as one node\n" + legend
    lines = _header(f"{title}\n{legend}")
    key_of = {op: (f"step {step_of[op.name]}" if by_step and op.name in step_of else op.name)
              for op in ops}
    for i, step in enumerate(listed):
        fill = _STEP_COLORS.get(str(step.kind), "#ffffff")
        if by_step:
            label = f"{step.name}\n{step.kind}, {len(step.ops)} ops"
            lines.append(f"  {quote(f'step {i}')} [{_attrs(label=label, fillcolor=fill)}];")
            continue
        lines.append(f"  subgraph {quote(f'cluster_{i}')} {{")
        lines.append(f"    label={quote(f'{step.name} ({step.kind})')}; style=filled; "
                     f"fillcolor={quote(fill)}; color=\"#8899aa\";")
        for op in (o for o in ops if step_of.get(o.name) == i):
            lines.append(f"    {_op_node(op)}")
        lines.append("  }")
    for op in ops:
        if op.name not in step_of:
            lines.append(f"  {_op_node(op)}")
    lines += _program_edges(program, ops, key_of, step_of, listed, buffer_of)
    if len(lines) > 40 * max_nodes:  # (edges too: a cap whatever the graph)
        lines = lines[:40 * max_nodes] + ['  "..." [label="picture cut: too many edges"];']
    lines.append("}")
    return "\n".join(lines)


def _op_node(op: Operation) -> str:
    attrs = {"label": f"{op.name}\n{op.type}", "tooltip": _source(op), **_node_style(op)}
    return f"{quote(op.name)} [{_attrs(**attrs)}];"


def _program_edges(program, ops, key_of, step_of, listed, buffer_of) -> list[str]:
    users: dict[int, list[int]] = defaultdict(list)  # buffer -> slots in it
    for slot, (buffer, _) in buffer_of.items():
        users[buffer].append(slot)
    shared = {b: _BUFFER_COLORS[n % len(_BUFFER_COLORS)]
              for n, b in enumerate(b for b, slots in sorted(users.items()) if len(slots) > 1)}
    tensor_of_slot = {slot: t for t, slot in program.slot_of.items()}
    lines, seen = [], set()
    for op in ops:
        dst = key_of[op]
        for t in read_inputs(op):
            if t.op not in key_of:
                continue
            src = key_of[t.op]
            if src == dst or (src, dst, t) in seen:
                continue
            seen.add((src, dst, t))
            shape = program.shapes.get(t, tuple(t.shape))
            label = format_spec(shape, t.dtype)
            attrs: dict = {}
            inside = step_of.get(t.op.name) is not None \
                and step_of.get(t.op.name) == step_of.get(op.name)
            if inside:
                attrs.update(style="dashed", color="#777777")
            slot = program.slot_of.get(t)
            spec = program.slots[slot] if slot is not None else None
            if spec is not None and spec.role == "view" and spec.base in tensor_of_slot:
                label += f"\nview of {tensor_of_slot[spec.base].name}"
            elif slot in buffer_of and buffer_of[slot][0] in shared:
                buffer = buffer_of[slot][0]
                label += f"\nbuffer {buffer} (shared)"
                attrs.update(color=shared[buffer], penwidth="2")
            lines.append(f"  {quote(src)} -> {quote(dst)} [{_attrs(label=label, **attrs)}];")
    return lines
