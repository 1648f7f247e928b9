"""`graphjit.distributed.compile`: a graph compiled to run over chunked dask arrays.

Row-wise fetches come back as dask arrays chunked like the batch inputs (lazy: one task
per chunk when computed); batch reductions, and what the graph computes from them, come
back as NumPy values, combined from the chunks' partials exactly as one process would
compute them (within float rounding).
"""

from __future__ import annotations

import numpy as np

from graphjit.api import compile as compile_graph
from graphjit.distributed import dask_runner
from graphjit.distributed.split import explain, split
from graphjit.errors import FeedError
from graphjit.graph import Graph, Tensor


def _batch_and_const(graph: Graph, fetches: list[Tensor], batch_inputs):
    from graphjit.distributed.batch_axis import needed_ops
    placeholders = [op.outputs[0] for op in needed_ops(fetches) if op.type == "Placeholder"]
    if batch_inputs is None:
        batch = [t for t in placeholders if t.shape.rank and t.shape[0] is None]
    else:
        batch = [graph.as_graph_element(b, allow_operation=False) for b in batch_inputs]
    const = [t for t in placeholders if t not in batch]
    return batch, const


class DistributedFunction:
    """Call with the inputs by placeholder name (dask arrays for batch inputs, NumPy values
    for the others); returns the fetches' values in order."""

    def __init__(self, graph: Graph, fetches: list, client, batch_inputs=None):
        self.client = client
        self._graph = graph
        self.fetches = [graph.as_graph_element(f, allow_operation=False) for f in fetches]
        batch, const = _batch_and_const(graph, self.fetches, batch_inputs)
        if not batch:
            raise FeedError("no batch input: distributed functions need a placeholder whose "
                            "axis 0 is None (or batch_inputs=[...])")
        self.split = split(self.fetches, batch, const)
        self._shipped = dask_runner.ShippedGraph(client, self.split.key, self.split.data)
        self._finish = None
        self._held_inputs: dict = {}

    def explain(self) -> str:
        """The per-chunk stages, the combine step and the finishing graph, as text."""
        return explain(self.split)

    def _inputs(self, feed_dict, kwargs) -> tuple[dict, list]:
        given = {}
        for k, v in {**(feed_dict or {}), **kwargs}.items():
            name = k.name if isinstance(k, Tensor) else k
            given[name if ":" in name else name + ":0"] = v
        s = self.split
        missing = [n for n in s.batch_inputs + s.const_inputs if n not in given]
        if missing:
            raise FeedError(f"missing input(s) {', '.join(missing)}")
        batch = {n: dask_runner.as_dask(n, given[n]) for n in s.batch_inputs}
        const = [np.asarray(given[n], dtype=s.graph.get_tensor_by_name(n).dtype.np)
                 for n in s.const_inputs]
        return dask_runner.row_chunks(batch), const

    def __call__(self, feed_dict=None, **kwargs) -> list:
        s = self.split
        batch, const = self._inputs(feed_dict, kwargs)
        if len(s.levels) + bool(s.rows) > 1:
            # The inputs' graph goes to the scheduler more than once (a reduction computed
            # now, rows later): optimized differently each time, one key would get two
            # definitions (dask's "different run_spec", then a KeyError). Computed once,
            # held on the workers, they are the same keys every time. They stay held until
            # the next call, for the lazy row results built on them.
            batch = dict(zip(batch, self.client.persist(list(batch.values()))))
            self._held_inputs = batch
        rows = next(iter(batch.values())).chunks[0]
        n_rows = int(sum(rows))
        combined: dict[str, np.ndarray] = {}
        for stage in s.levels:
            feeds_before = [combined[n] for n in stage.feeds[len(batch) + len(const):]]
            results = dask_runner.compute(self._graph, self._shipped, stage.fetches,
                                          stage.feeds, batch, const + feeds_before)
            for j, name in enumerate(stage.reductions):
                red = s.analysis.reductions[name]
                combined[red.output.name] = s.combine(red, [r[j] for r in results], n_rows)
        values: dict[str, object] = {}
        if s.rows:
            reduced = [combined[n] for n in s.rows.feeds[len(batch) + len(const):]]
            tasks = dask_runner.chunk_tasks(self._shipped, s.rows.fetches, s.rows.feeds,
                                            batch, const + reduced)
            fetched = [s.graph.get_tensor_by_name(n) for n in s.rows.fetches]
            values.update(zip(s.rows.fetches, dask_runner.row_arrays(tasks, rows, fetched)))
        if s.finish:
            values.update(zip(s.finish, self._finishing(combined, const)))
        return [values[n] for n in s.fetch_names]

    def _finishing(self, combined: dict, const: list) -> list:
        """The reduced and constant fetches: combined values as they are, the rest from the
        finishing graph (the copy, with every combined reduction fed)."""
        s = self.split
        if all(n in combined for n in s.finish):
            return [combined[n] for n in s.finish]
        if self._finish is None:
            feeds = s.const_inputs + [r.output.name for r in s.reductions]
            self._finish = compile_graph(
                s.graph, fetches=[s.graph.get_tensor_by_name(n) for n in s.finish],
                feeds=[s.graph.get_tensor_by_name(n) for n in feeds])
        results = self._finish(*const, *[combined[r.output.name] for r in s.reductions])
        return [combined.get(n, v) for n, v in zip(s.finish, results)]

    def kinds(self) -> dict[str, str]:
        """Fetch name -> "row", "reduced" or "const"."""
        return {n: self.split.analysis.kind(self.split.graph.get_tensor_by_name(n))
                for n in self.split.fetch_names}


def compile(graph_or_fetches, fetches=None, client=None, batch_inputs=None) -> DistributedFunction:
    """Compile `fetches` of a graph to run over dask arrays on `client`'s cluster.

    Batch inputs default to the placeholders the fetches need whose axis 0 is None;
    other placeholders are fed whole to every chunk. Raises BatchAxisError naming the
    op (and your line) when a fetch needs an op that mixes rows of the batch axis.
    """
    if client is None:
        from dask.distributed import default_client
        client = default_client()
    if isinstance(graph_or_fetches, Graph):
        graph = graph_or_fetches
    else:
        fetches = graph_or_fetches
        graph = (fetches[0] if isinstance(fetches, list) else fetches).graph
    if not isinstance(fetches, list | tuple):
        fetches = [fetches]
    return DistributedFunction(graph, list(fetches), client, batch_inputs)

