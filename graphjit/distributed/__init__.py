"""graphjit.distributed: compiled graphs over chunked dask arrays on a Dask cluster
(`pip install 'graphjit[distributed]'`).

`compile(graph, fetches=[...], client=client)` runs row-wise fetches one task per chunk
and batch reductions as partial + combine; `DataParallel(loss, optimizer, client)`
trains with per-shard gradients combined in the driver. Graphs reach workers in
graphjit's saved format (data only) and each worker compiles them once.
"""

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    from graphjit.errors import MissingDependencyError
    raise MissingDependencyError(
        "graphjit.distributed needs Dask: pip install 'graphjit[distributed]'") from exc

from graphjit.distributed.batch_axis import BatchAxisError
from graphjit.distributed.function import DistributedFunction, compile
from graphjit.distributed.training import DataParallel

__all__ = ["compile", "DistributedFunction", "DataParallel", "BatchAxisError"]
