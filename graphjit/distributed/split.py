"""Split fetches into per-chunk stages, a combine step and a finishing graph.

Per chunk, stage k computes the *partials* of the level-k batch reductions (sums,
maxima, minima over the chunk's rows, kept as rank-preserving [1, ...] arrays) with the
combined values of lower levels fed in; the rows stage computes the row-wise fetches
with every combined reduction fed in. Combining stacks the partials of all chunks and
sums, maxes or mins them; a mean divides the summed partials by the summed row counts,
so uneven chunks weigh as their rows. The finishing graph computes the fetches that
come after the reductions (a loss mean times a constant, ...) from the combined values.
All stages are the one copy of the user's graph, with the partial ops added and
different fetches and feeds: nothing is rebuilt by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphjit.distributed.batch_axis import CONST, ROW, Analysis, Reduction, classify
from graphjit.distributed.saved import from_bytes, to_bytes
from graphjit.graph import Graph, Tensor
from graphjit.math import reduce_max, reduce_min, reduce_sum

_PARTIAL_OP = {"sum": reduce_sum, "mean": reduce_sum, "max": reduce_max, "min": reduce_min}
_COMBINE = {"sum": np.sum, "mean": np.sum, "max": np.max, "min": np.min}


@dataclass
class Stage:
    """One per-chunk computation: tensor names fed (batch inputs first) and fetched."""

    name: str
    fetches: list[str]
    feeds: list[str]
    reductions: list[str] = field(default_factory=list)  # of the partials fetched, in order


@dataclass
class Split:
    graph: Graph  # the copy every stage runs: the user's graph plus the partial ops
    key: str  # content hash of the saved copy, what workers cache under
    data: bytes  # the saved copy
    analysis: Analysis
    fetch_names: list[str]
    batch_inputs: list[str]
    const_inputs: list[str]  # placeholders fed whole to every chunk
    reductions: list[Reduction]  # of the copy, by level
    partials: dict[str, str]  # reduction op name -> its partial tensor's name
    levels: list[Stage]
    rows: Stage | None
    finish: list[str]  # reduced or constant fetches the driver computes

    def combine(self, red: Reduction, partials: list[np.ndarray], rows: int) -> np.ndarray:
        """The reduction over all rows, from the chunks' partials (`rows`: the batch size)."""
        total = _COMBINE[red.kind](np.concatenate(partials, axis=0), axis=0, keepdims=True)
        if red.kind == "mean":
            x = red.input
            per_row = int(np.prod([x.shape[a] for a in red.axes if a != 0]))
            total = total / (rows * per_row)
        if not red.keepdims:
            total = np.squeeze(total, axis=red.axes)
        return np.asarray(total, dtype=red.output.dtype.np)


def split(fetches: list[Tensor], batch_inputs: list[Tensor], const_inputs: list[Tensor]) -> Split:
    """Classify the fetches and make the stages (BatchAxisError for a row-mixing op)."""
    graph = fetches[0].graph
    classify(fetches, batch_inputs)  # fail on the user's own graph, with the user's lines
    _, data = to_bytes(graph, fetches, batch_inputs + const_inputs)
    copy = from_bytes(data).graph
    same = [copy.get_tensor_by_name(t.name) for t in fetches]
    batch = [copy.get_tensor_by_name(t.name) for t in batch_inputs]
    analysis = classify(same, batch)
    reductions = sorted(analysis.reductions.values(), key=lambda r: r.level)
    partials = {}
    with copy.as_default(), copy.name_scope("distributed_partials"):
        for red in reductions:
            partials[red.op.name] = _PARTIAL_OP[red.kind](
                red.input, axis=list(red.axes), keepdims=True).name
    batch_names = [t.name for t in batch_inputs]
    const_names = [t.name for t in const_inputs]
    levels = []
    for level in sorted({r.level for r in reductions}):
        now = [r for r in reductions if r.level == level]
        before = [r.output.name for r in reductions if r.level < level]
        levels.append(Stage(f"level {level}", [partials[r.op.name] for r in now],
                            batch_names + const_names + before, [r.op.name for r in now]))
    all_reduced = [r.output.name for r in reductions]
    row_fetches = [t.name for t in same if analysis.kind(t) == ROW]
    rows = Stage("rows", row_fetches, batch_names + const_names + all_reduced) \
        if row_fetches else None
    finish = [t.name for t in same if analysis.kind(t) != ROW]
    key, data = to_bytes(copy, [copy.get_tensor_by_name(n) for s in levels for n in s.fetches]
                         + [t for t in same], None)
    return Split(copy, key, data, analysis, [t.name for t in fetches], batch_names, const_names,
                 reductions, partials, levels, rows, finish)


def explain(s: Split) -> str:
    """What runs where, as text (what `DistributedFunction.explain()` prints)."""
    lines = ["per-chunk graph (one task per chunk of the batch inputs "
             f"{', '.join(s.batch_inputs)}):"]
    for stage in s.levels:
        lines.append(f"  {stage.name}: partials")
        for name in stage.reductions:
            red = next(r for r in s.reductions if r.op.name == name)
            lines.append(f"    {s.partials[name]} = {red.kind} partial of {red.input.name} "
                         f"over axes {red.axes}" + (" (+ row count)" if red.kind == "mean" else ""))
        fed = stage.feeds[len(s.batch_inputs) + len(s.const_inputs):]
        if fed:
            lines.append(f"    fed combined: {', '.join(fed)}")
    if s.rows:
        lines.append(f"  rows: {', '.join(s.rows.fetches)} (dask arrays chunked like the input)")
    lines.append("combine (driver):")
    for red in s.reductions:
        how = {"sum": "sum of partials", "mean": "sum of partials / sum of row counts",
               "max": "max of partials", "min": "min of partials"}[red.kind]
        lines.append(f"  {red.output.name} = {how}")
    combined = {r.output.name for r in s.reductions}
    finishing = [n for n in s.finish if n not in combined]
    if finishing:
        lines.append("finishing graph (driver, combined values fed): " + ", ".join(finishing))
    kinds = {n: s.analysis.kind(s.graph.get_tensor_by_name(n)) for n in s.fetch_names}
    lines.append("fetches: " + ", ".join(f"{n} [{k if k != CONST else 'constant'}]"
                                         for n, k in kinds.items()))
    return "\n".join(lines)
