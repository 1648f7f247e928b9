"""The pass manager: `optimize(graph)` runs a pipeline of passes to a fixed point.

Each pass is a pure function Graph -> Graph; the manager follows the caller's
fetches and kept tensors through every pass (they are pinned: each pass must
keep them, under their names) and records what every pass did in a report.

The default pipeline, DEFAULT_PASSES, is constant_folding, simplify,
attention_heads (graphjit.passes.attention_heads), cse, dce:
folding first exposes constants to the algebraic rules, simplification
creates duplicates for CSE to merge, and DCE removes what all of them left
unread. The whole pipeline repeats until one round changes nothing (so a
second `optimize` of the result reports zero changes) or `max_iterations`
rounds have run.

`GRAPHJIT_DUMP=passes` (read at every call) prints the graph after every pass:
into files under `GRAPHJIT_DUMP_DIR` when it is set, else to stderr.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from codegen.record import MutableRecord
from graphjit.errors import Error, InternalError, NotFoundError
from graphjit.graph import Graph, Operation, Tensor
from graphjit.graph_queries import in_graph_order
from graphjit.passes.attention_heads import attention_heads
from graphjit.passes.constant_folding import DEFAULT_MAX_FOLDED_BYTES, constant_folding
from graphjit.passes.cse import cse
from graphjit.passes.dce import dce, live_ops
from graphjit.passes.rebuild import PassContext, PassFunction, PassStats, copy_graph
from graphjit.passes.simplify import simplify

PASSES: dict[str, PassFunction] = {
    "constant_folding": constant_folding,
    "simplify": simplify,
    "attention_heads": attention_heads,
    "cse": cse,
    "dce": dce,
}
DEFAULT_PASSES: tuple[str, ...] = ("constant_folding", "simplify", "attention_heads", "cse",
                                   "dce")
DEFAULT_MAX_ITERATIONS = 8


class UnknownPassError(Error, ValueError):
    """A pass name the optimizer does not know."""


@dataclass(eq=False, repr=False)
class OptimizeReport(MutableRecord):
    """What `optimize` did: one PassStats per pass run, and where the old tensors went."""

    passes: tuple[str, ...]
    runs: list[PassStats] = field(default_factory=list)
    iterations: int = 0
    converged: bool = True
    ops_before: int = 0
    ops_after: int = 0
    seconds: float = 0.0
    fetch_map: dict = field(default_factory=dict)  # original fetch -> its optimized twin
    _tensors: dict = field(default_factory=dict, repr=False)
    _ops: dict = field(default_factory=dict, repr=False)

    @property
    def changes(self) -> int:
        return sum(run.changes for run in self.runs)

    def lookup(self, element: Tensor | Operation) -> Tensor | Operation:
        """The optimized graph's tensor or op for one of the original graph.

        Fetches and kept tensors always have one; other tensors may have been
        folded, merged or removed.
        """
        table = self._ops if isinstance(element, Operation) else self._tensors
        try:
            return table[element]
        except (KeyError, TypeError):
            name = getattr(element, "name", repr(element))
            raise NotFoundError(f"'{name}' has no counterpart in the optimized graph: it was "
                                "folded, merged or removed; pass it in fetches= or keep= to "
                                "preserve it") from None

    def as_dict(self) -> dict:
        return {"passes": list(self.passes), "iterations": self.iterations,
                "converged": self.converged, "ops_before": self.ops_before,
                "ops_after": self.ops_after, "seconds": self.seconds,
                "changes": self.changes, "runs": [run.as_dict() for run in self.runs]}

    def __str__(self) -> str:
        state = "converged" if self.converged else "iteration bound reached"
        lines = [f"optimize: {self.ops_before} -> {self.ops_after} ops, {self.changes} changes, "
                 f"{self.iterations} iteration(s) ({state}), {self.seconds * 1e3:.1f} ms"]
        header = ("iter", "pass", "ms", "ops", "removed", "added", "replaced", "folded",
                  "const bytes", "rewrites")
        rows = [header] + [(
            str(r.iteration), r.name, f"{r.seconds * 1e3:.2f}", f"{r.ops_before}->{r.ops_after}",
            str(r.removed), str(r.added), str(r.replaced), str(r.folded), str(r.const_bytes),
            ", ".join(f"{rule} x{n}" for rule, n in sorted(r.rewrites.items())))
            for r in self.runs]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        for row in rows:
            cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                     enumerate(zip(row, widths))]
            lines.append("  ".join(cells + [row[-1]]).rstrip())
        return "\n".join(lines)


def resolve_passes(passes) -> tuple[str, ...]:
    """Pass names from None/"default", "none", "a,b" or a list of names."""
    if passes is None:
        return DEFAULT_PASSES
    if isinstance(passes, str):
        if passes.strip() == "default":
            return DEFAULT_PASSES
        if passes.strip() == "none":
            return ()
        passes = [p.strip() for p in passes.split(",") if p.strip()]
    names = tuple(passes)
    for name in names:
        if name not in PASSES:
            raise UnknownPassError(
                f"unknown pass {name!r}; valid passes: {', '.join(PASSES)} (or \"none\"; "
                f"the default pipeline is {', '.join(DEFAULT_PASSES)})")
    return names


def graph_outputs(graph: Graph) -> list[Tensor]:
    """Tensors no op consumes, placeholders excluded: the default fetches. Assignments
    (variable initializers and updates) are excluded too: running them by default
    would reset or change the variables."""
    consumed = {t for op in graph.get_operations() for t in op.inputs}
    return [t for op in graph.get_operations() if op.type not in ("Placeholder", "Assign")
            for t in op.outputs if t not in consumed]


def optimize(graph: Graph, fetches=None, passes=None, *, keep: Iterable = (),
             max_folded_bytes: int = DEFAULT_MAX_FOLDED_BYTES,
             max_iterations: int = DEFAULT_MAX_ITERATIONS,
             prune: bool = False) -> tuple[Graph, OptimizeReport]:
    """Optimize a copy of `graph` for `fetches`; the input graph is never changed.

    fetches: Tensors, Operations or names (default: the graph's outputs).
    passes: None or "default" (DEFAULT_PASSES), "none" or [] (an unchanged
        copy), or pass names as a list or a comma-separated string.
    keep: tensors that must stay as they are (feeds): never folded, merged,
        simplified through or removed, so feeding them still works.
    max_folded_bytes: the largest constant constant folding may create.
    prune: first keep only what the fetches and kept tensors need (data and control
        edges), in time proportional to that part: a graph that grows every step
        (a training loop building new ops) costs each new fetch set its own part.
        Stateful ops nothing needs go too (dce keeps them otherwise).
    Returns the new graph and an OptimizeReport; `report.fetch_map` and
    `report.lookup(x)` give the new graph's twin of an original fetch or kept tensor.
    """
    start = time.perf_counter()
    names = resolve_passes(passes)
    if fetches is None:
        fetches = graph_outputs(graph)
    elif isinstance(fetches, (Tensor, Operation, str)):
        fetches = [fetches]
    fetches = [graph.as_graph_element(f) for f in fetches]
    keep = [graph.as_graph_element(k, allow_operation=False) for k in keep]
    report = OptimizeReport(names, ops_before=len(graph.get_operations()))
    source_ops = _needed(fetches, keep) if prune else graph.get_operations()
    tensors = {t: t for op in source_ops for t in op.outputs}
    ops = {op: op for op in source_ops}
    dump = _dumper(graph)
    current = graph

    def step(run: PassFunction) -> PassStats:
        nonlocal current, tensors, ops
        ctx = PassContext([_follow(f, tensors, ops) for f in fetches],
                          [_follow(k, tensors, ops) for k in keep], max_folded_bytes)
        result = run(current, ctx)
        tensors = {o: result.tensor_map[c] for o, c in tensors.items() if c in result.tensor_map}
        ops = {o: result.op_map[c] for o, c in ops.items() if c in result.op_map}
        current = result.graph
        return result.stats

    if prune:
        report.runs.append(step(lambda g, ctx: copy_graph(g, ctx, source_ops, "prune")))
    elif not names:
        step(copy_graph)  # still a new graph: callers may edit it freely
    report.converged = not names
    # A fixed point once every pass ran on the current graph and changed nothing: the
    # passes run in a row without a change, counted across rounds (a change by the first
    # pass alone is confirmed by its own rerun, not by a whole round more).
    unchanged = 0
    for iteration in range(1, max_iterations + 1 if names else 1):
        for name in names:
            stats = step(PASSES[name])
            stats.iteration = iteration
            report.runs.append(stats)
            unchanged = 0 if stats.changes else unchanged + 1
            dump(current, f"{iteration}.{name}")
            if unchanged == len(names):
                break
        report.iterations = iteration
        if unchanged == len(names):
            report.converged = True
            break
    report._tensors, report._ops = tensors, ops
    report.fetch_map = {f: _follow(f, tensors, ops) for f in fetches}
    report.ops_after = len(current.get_operations())
    report.seconds = time.perf_counter() - start
    return current, report


def _needed(fetches: list, keep: list[Tensor]) -> list[Operation]:
    """The ops the fetches and kept tensors reach through data and control edges."""
    roots = {f.op if isinstance(f, Tensor) else f for f in fetches} | {t.op for t in keep}
    return in_graph_order(live_ops(roots))


def _follow(element, tensors: dict, ops: dict):
    table = ops if isinstance(element, Operation) else tensors
    if element not in table:
        raise InternalError(f"optimize lost the fetched or kept '{element.name}'")
    return table[element]


def _dumper(graph: Graph):
    """A function printing a graph after each pass when GRAPHJIT_DUMP includes "passes"."""
    stages = {s.strip() for s in os.environ.get("GRAPHJIT_DUMP", "").split(",")}
    if "passes" not in stages:
        return lambda g, label: None
    directory = os.environ.get("GRAPHJIT_DUMP_DIR")
    text = graph.as_text()
    tag = hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    step = [0]

    def dump(g: Graph, label: str) -> None:
        body = (f"# graphjit optimize {tag}, after {label}: "
                f"{len(g.get_operations())} ops\n{g.as_text()}\n")
        if directory:
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, f"passes-{tag}-{step[0]:02d}-{label}.txt")
            with open(path, "w") as f:
                f.write(body)
        else:
            sys.stderr.write(body)
        step[0] += 1

    dump(graph, "input")
    return dump
