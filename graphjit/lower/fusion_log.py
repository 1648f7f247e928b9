"""Why the partitioner kept ops apart, noted where it decides (graphjit.lower.partition).

`fn.explain()` (graphjit.lower.explain) reads these notes for every boundary between two
steps, so what it tells is what the partitioner did, not a second guess at it. A note
holds Operations and a sentence; it costs nothing to a plan that nobody explains.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from codegen.record import MutableRecord, Record
from graphjit.graph import Operation, Tensor


class Why(str, enum.Enum):
    """The partitioner's reasons, one per rule that keeps two ops in different steps."""

    STANDALONE = "standalone"  # the op's own kernel builder makes its step(s)
    HOST = "host"  # NumPy runs the op on the host
    REDUCE_AXES = "reduce-axes"  # a reduction not over the trailing axes: a reduce kernel
    VIEW = "view"  # a reshape moving non-unit dims: a view of a materialized buffer
    DOMAIN = "domain"  # the op's output shape is not the region's iteration domain
    ROW = "row"  # a row region takes per-row values only from per-row values
    SPLIT = "split"  # a row region already reduces over other axes
    NOT_FULL_SIZE = "not-full-size"  # a region holding smaller values cannot become a row one
    CYCLE = "cycle"  # the merge would make a path leave the region and come back
    SIZE = "size"  # the region reached MAX_REGION_OPS


@dataclass(frozen=True, eq=False, repr=False)
class Note(Record):
    why: Why
    detail: str  # a sentence in the user's terms: op names and shapes


@dataclass(eq=False, repr=False)
class FusionLog(MutableRecord):
    """`alone[op]`: why op's region takes no other op (standalone, host, view, reduce);
    `refused[(op, t)]`: why op did not join the region computing its input `t`."""

    alone: dict[Operation, Note] = field(default_factory=dict)
    refused: dict[tuple[Operation, Tensor], Note] = field(default_factory=dict)

    def note_alone(self, op: Operation, why: Why, detail: str) -> None:
        self.alone[op] = Note(why, detail)

    def note_refused(self, op: Operation, inputs, why: Why, detail: str) -> None:
        note = Note(why, detail)
        for t in inputs:
            self.refused.setdefault((op, t), note)
