"""tf.nn.embedding_lookup: rows of an embedding table (a gather on axis 0).

A table split into a list of partitions (TF's partitioned variables) is looked up
with TF's partition strategies: "mod" puts id i in partition i % n at row i // n,
"div" gives each partition a contiguous range of ids (the first ones one row more
when the sizes do not divide). TF gathers per partition and stitches the results
together; graphjit has no dynamic_partition/stitch, so it computes each id's row in
the concatenated partitions (an offset per partition, known from their static sizes)
and gathers there once: the same values, and the same gradients per partition.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import GraphError, ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor, graph_of, op_errors
from graphjit.ops.clip_ops import clip_by_norm
from graphjit.ops.core import constant
from graphjit.ops.indexing import INDEX_DTYPES, gather
from graphjit.ops.shape_ops import concat


def _partition_rows(params: list, ids: Tensor, strategy: str) -> Tensor:
    """Each id's row in concat(params): offset of its partition + its row there, or -1
    (which the gather reports out of range) where that row is not in its partition."""
    n = len(params)
    sizes = [p.shape[0] for p in params]
    if any(s is None for s in sizes):
        raise UnsupportedError("a partitioned table needs partitions of static size: "
                               f"got first dims {[('?' if s is None else s) for s in sizes]}")
    offsets = constant(np.cumsum([0] + sizes[:-1]), dtype=ids.dtype, name="offsets")
    if strategy == "mod":
        partition, row = ew.floormod(ids, n), ew.floordiv(ids, n)
    else:  # "div": TF's assignment from the total size
        total = sum(sizes)
        per, extras = total // n, total % n
        if per == 0:  # fewer rows than partitions: id i is partition i's only row
            partition, row = ids, ids - ids
        else:
            partition = ew.maximum(ew.floordiv(ids, per + 1), ew.floordiv(ids - extras, per))
            row = ew.where(partition < extras, ew.floormod(ids, per + 1),
                           ew.floormod(ids - extras, per))
    sizes = constant(sizes, dtype=ids.dtype, name="sizes")
    inside = ew.logical_and(row >= 0, row < gather(sizes, partition))
    return ew.where(inside, gather(offsets, partition) + row, -1)


def embedding_lookup(params, ids, partition_strategy: str = "mod", name: str | None = None,
                     validate_indices=True, max_norm=None) -> Tensor:
    """params[ids]: the rows of `params` (a tensor, or a list of partitions of one table)
    at `ids` (int32/int64, any shape); shape ids.shape + params.shape[1:]. Ids out of
    range are an error. `max_norm` clips each looked-up embedding to that L2 norm."""
    parts = list(params) if isinstance(params, (list, tuple)) else [params]
    graph = graph_of(parts, ids)
    with op_errors("GatherV2", name, "embedding_lookup", [p for p in parts
                                                          if isinstance(p, Tensor)]):
        if not parts:
            raise GraphError("params is an empty list: give the table or its partitions")
        parts = [convert_to_tensor(p, graph=graph) for p in parts]
        ids = convert_to_tensor(ids, graph=graph)
        if ids.dtype not in INDEX_DTYPES:
            raise GraphError(f"ids have dtype {ids.dtype}; embedding_lookup takes int32 or "
                             "int64 ids")
        if partition_strategy not in ("mod", "div"):
            raise GraphError(f"partition_strategy must be 'mod' or 'div', got "
                             f"{partition_strategy!r}")
        if len({p.dtype for p in parts}) > 1 or len({p.ndim for p in parts}) > 1 \
                or any(p.ndim == 0 for p in parts):
            raise ShapeError("the partitions must be tensors of rank >= 1 with one dtype "
                             "and rank, got " + ", ".join(f"{p.dtype}{list(p.shape)}"
                                                          for p in parts))
    with graph.name_scope(name or "embedding_lookup") as scope:
        if len(parts) == 1:
            table, rows = parts[0], ids
        else:
            table, rows = concat(parts, 0), _partition_rows(parts, ids, partition_strategy)
        if max_norm is None:
            return gather(table, rows, name=scope)
        found = gather(table, rows)
        return clip_by_norm(found, max_norm, axes=list(range(ids.ndim, found.ndim)),
                            name=scope)


__all__ = ["embedding_lookup"]
