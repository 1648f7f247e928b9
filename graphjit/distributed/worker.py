"""What runs inside a Dask worker: load a shipped graph, compile it once, run chunks.

Compiled functions are cached per worker process by (graph content hash, fetches,
feeds), so later tasks on the same graph compile nothing; kernels come from the
worker's own on-disk kernel cache (GRAPHJIT_CACHE_DIR), so a restarted worker
recompiles from it quickly. Errors are graphjit's own classes, raised as they would be
in one process; Dask sends them back to the caller.
"""

from __future__ import annotations

import threading

import numpy as np

from graphjit.api import CompiledFunction
from graphjit.api import compile as compile_graph
from graphjit.distributed.saved import from_bytes

_graphs: dict = {}
_functions: dict = {}
_lock = threading.Lock()
_call_locks: dict = {}
compiles = {"graphs": 0, "functions": 0, "calls": 0}  # loaded, compiled, run (tests read it)


def function(key: str, data: bytes, fetches: tuple, feeds: tuple) -> CompiledFunction:
    """The compiled function for these fetches and feeds of graph `key`, made once."""
    with _lock:
        fn = _functions.get((key, fetches, feeds))
        if fn is not None:
            return fn
        graph = _graphs.get(key)
        if graph is None:
            graph = _graphs[key] = from_bytes(data).graph
            compiles["graphs"] += 1
        fn = compile_graph(graph, fetches=[graph.get_tensor_by_name(n) for n in fetches],
                           feeds=[graph.get_tensor_by_name(n) for n in feeds])
        _functions[(key, fetches, feeds)] = fn
        compiles["functions"] += 1
        return fn


def run_chunk(key: str, data: bytes, fetches: tuple, feeds: tuple, values: list,
              variables: dict | None = None) -> list[np.ndarray]:
    """Run one chunk: `values` for `feeds`, `variables` (op name -> array) into the state."""
    fn = function(key, data, tuple(fetches), tuple(feeds))
    # one call at a time per function: a plan's buffers are reused across calls, and a
    # worker with several threads may run two chunks of one graph at once
    with _call_locks.setdefault(id(fn), threading.Lock()):
        if variables:
            fn.state.update(variables)
        compiles["calls"] += 1
        return fn(*values)


def saved_graph(data: bytes) -> bytes:
    """A task whose result is the saved graph: unlike scattered data, the scheduler can
    make it again if the workers holding it die."""
    return data


def stats() -> dict:
    """Graphs loaded, functions compiled and chunks run by this worker (tests: client.run)."""
    return dict(compiles)
