"""The Dask side: line the batch inputs up in row chunks, run a stage as one task per
chunk, and wrap row-wise results back into dask arrays chunked like the input.

The saved graph goes to the cluster once per distributed function (a task whose result
it is, keyed by its hash) and reaches tasks as a future: a task carries the graph's hash,
tensor names and its chunk, never code. If a worker dies, Dask reruns its tasks elsewhere
(making the graph's future again if it was lost with it) and the results are the same.
`client.restart()` cancels every future: the graph is then sent again on the next call.
"""

from __future__ import annotations

import re

import dask
import dask.array as da
import numpy as np
from distributed.utils import CancelledError

from graphjit.distributed import worker
from graphjit.errors import Error, FeedError
from graphjit.graph import Graph


class ShippedGraph:
    """The saved graph on the cluster: a future, one per graph (keyed by its hash), made
    again when a restart of the cluster (`client.restart()`) has cancelled it."""

    def __init__(self, client, key: str, data: bytes):
        self.client = client
        self.key = key
        self._data = data
        self._future = None

    def future(self):
        if self._future is None or self._future.status in ("cancelled", "lost"):
            self._future = self.client.submit(worker.saved_graph, self._data,
                                              key=f"graphjit-graph-{self.key}", pure=False)
        return self._future

    def cancelled(self) -> bool:
        return self._future is not None and self._future.status in ("cancelled", "lost")


def row_chunks(arrays: dict) -> dict:
    """The batch inputs rechunked to the first one's row chunks, whole along other axes."""
    first = next(iter(arrays.values()))
    rows = first.chunks[0]
    out = {}
    for name, x in arrays.items():
        if x.shape[0] != first.shape[0]:
            raise FeedError(f"batch input '{name}' has {x.shape[0]} rows, the first batch "
                            f"input has {first.shape[0]} (a placeholder without a batch axis "
                            f"is fed whole: name the batch ones with batch_inputs=[...])")
        out[name] = x.rechunk((rows,) + tuple(-1 for _ in x.shape[1:]))
    return out


def as_dask(name: str, value):
    """A dask array from a dask array or anything NumPy takes (one chunk)."""
    if isinstance(value, da.Array):
        return value
    value = np.asarray(value)
    if value.ndim == 0:
        raise FeedError(f"batch input '{name}' must have a batch axis, got a scalar")
    return da.from_array(value, chunks=value.shape)


def chunk_tasks(shipped: ShippedGraph, fetches: list[str], feeds: list[str], batch: dict,
                others: list, variables: dict | list | None = None) -> list:
    """One delayed task per row chunk, each giving the stage's fetched arrays
    (`variables`: state values for every chunk, or a list of them, one per chunk)."""
    blocks = [x.to_delayed().ravel() for x in batch.values()]
    run = dask.delayed(worker.run_chunk, pure=True)
    data = shipped.future()
    per_chunk = variables if isinstance(variables, list) else [variables] * len(blocks[0])
    return [run(shipped.key, data, tuple(fetches), tuple(feeds), [*chunk, *others], v)
            for chunk, v in zip(zip(*blocks), per_chunk)]


def row_arrays(tasks: list, rows: tuple, fetched) -> list:
    """Dask arrays of the row fetches (`fetched`: their Tensors), from per-chunk tasks."""
    arrays = []
    for j, t in enumerate(fetched):
        rest = tuple(t.shape[1:])
        if any(d is None for d in rest):
            rest = tuple(np.nan if d is None else d for d in rest)
        parts = [da.from_delayed(task[j], shape=(n, *rest), dtype=t.dtype.np)
                 for task, n in zip(tasks, rows)]
        arrays.append(da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0])
    return arrays


def compute(graph: Graph, shipped: ShippedGraph, *stage) -> list:
    """Run a stage's chunk tasks (`stage`: chunk_tasks's arguments after `shipped`) on the
    cluster and gather their results; once more, with the graph sent again, if a restart
    cancelled it meanwhile. A graphjit error raised on a worker is raised here as the same
    class, naming the user's line of the op (`graph`: the user's graph) where the worker
    could only name the shipped copy."""
    client = shipped.client
    try:
        try:
            return client.gather(client.compute(chunk_tasks(shipped, *stage)))
        except CancelledError:
            if not shipped.cancelled():
                raise
            return client.gather(client.compute(chunk_tasks(shipped, *stage)))
    except Error as exc:
        message = _SHIPPED.sub(lambda m: _source(graph, m.group(1)), str(exc))
        try:
            again = type(exc)(message)
        except Exception:  # an error class taking other arguments: raise it as it came
            raise exc from None
        raise again from exc


_SHIPPED = re.compile(r"\S*graphjit-ship-[^/\\]+[/\\]graph\.gjz:([^\s:)]+)")


def _source(graph: Graph, op_name: str) -> str:
    try:
        op = graph.get_operation_by_name(op_name)
    except Error:
        return op_name
    return str(op.source) if op.source else op_name
