"""Fusion: partition the ops of a graph into regions, each one future kernel.

Rules, applied greedily in graph order:
- Elementwise and index ops (broadcasts, transposes, slices, pads, gathers...)
  join a producer's region when their output has the region's domain shape:
  N elementwise ops over one shape become one loop nest.
- A reduction over the trailing axes turns its region into a *row* region: an
  outer loop over rows, an accumulator loop per reduction, and one last loop
  for the full-size results. Elementwise ops on the per-row results (shape
  `domain[:split]` padded with 1s) join at row level, so softmax, log-softmax
  and layer norm each become one kernel that writes no full-size intermediate.
- A merge that would create a cycle (a path leaving the region and coming back)
  is refused.
- Standalone ops (matmul as a BLAS call, convolutions, pooling, argmax...) get a
  region of their own; reshapes of materialized buffers are views.
- An op whose builder is an identity when shapes match (SumToShapeOf: a gradient
  summed back to a broadcast input) is decided here, from the concrete shapes.

Each refusal is noted in a FusionLog (graphjit.lower.fusion_log) where it is decided:
`fn.explain()` tells the user why two steps were not fused from those notes.

How an op takes part is its registry entry's `fusion` (graphjit.registry).
All shapes here are concrete: plans are built per input-shape signature.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from graphjit.graph import Operation, Tensor
from graphjit.graph_queries import read_inputs
from graphjit.lower.conv_pool import fuses_with_pool
from graphjit.lower.conv_tile import fuses_pool
from graphjit.lower.fed_matmul import use_fed_panels
from graphjit.lower.fusion_log import FusionLog, Note, Why
from graphjit.lower.packed_matmul import epilogue_ops, use_packed
from graphjit.lower.pool_epilogue import POOLS
from graphjit.lower.pool_epilogue import epilogue_ops as pool_epilogue_ops
from graphjit.registry import Fusion, KernelBuilder, get_op_def

# Numba and LLVM take superlinear time on very long functions: a region stops growing here
# (a 1,000-op chain compiled in 11.7 s as one kernel), so compile time stays linear.
MAX_REGION_OPS = 256


class RegionKind(str, enum.Enum):
    """What a region lowers to (graphjit.lower.program)."""

    FUSED = "fused"  # one loop-IR kernel: a loop nest, or a row kernel with reductions
    REDUCE = "reduce"  # a reduction over axes other than the trailing ones
    VIEW = "view"  # a reshape of a materialized buffer: no step computes anything
    HOST = "host"  # NumPy runs the op's reference
    STANDALONE = "standalone"  # the op's registered KernelBuilder


@dataclass(eq=False)  # regions compare by identity
class Region:
    """A set of ops lowered together (standalone, view, host and reduce regions hold one)."""

    id: int
    kind: RegionKind
    ops: list[Operation] = field(default_factory=list)
    domain: tuple = ()
    split: int | None = None  # row regions: reductions cover domain[split:]

    @property
    def is_row(self) -> bool:
        return self.split is not None


def only_unit_dims_change(src: tuple, dst: tuple) -> bool:
    """True when a reshape only inserts or removes size-1 dims (a pure index remap)."""
    return tuple(d for d in src if d != 1) == tuple(d for d in dst if d != 1)


def row_scalar_shapes(domain: tuple, split: int) -> set[tuple]:
    """Shapes of per-row values in a row region: with or without the kept 1-dims."""
    lead = tuple(domain[:split])
    return {lead, lead + (1,) * (len(domain) - split)}


class Partitioner:
    def __init__(self, ops: list[Operation], shapes: dict[Tensor, tuple], fed: set[Tensor],
                 log: FusionLog | None = None):
        self.ops = ops
        self.log = FusionLog() if log is None else log
        self.shapes = shapes
        self.fed = fed
        self.region_of: dict[Operation, Region] = {}
        self.regions: list[Region] = []
        self.position = {op: i for i, op in enumerate(ops)}
        # A region runs as one kernel, so it depends on every region it reads from and on
        # what those depend on. _depends holds that closure per region, as a bitset over
        # region ids, kept exact as regions grow (_note_placed) and merge (merge).
        self._depends: dict[Region, int] = {}
        self._readers: dict[Region, set] = {}  # region -> regions reading one of its values
        self.epilogue_of = _epilogues(ops, shapes)  # op -> its packed MatMul or pool

    # -- graph helpers -----------------------------------------------------
    def producer(self, t: Tensor) -> Operation | None:
        if t in self.fed or t.op not in self.region_of:
            return None
        return t.op

    def _depend(self, region: Region, new: int) -> None:
        """`region` now also depends on the regions in `new`, and so does every region
        reading it, directly or not."""
        pending = [region]
        while pending:
            r = pending.pop()
            before = self._depends[r]
            if before | new != before:
                self._depends[r] = before | new
                pending.extend(self._readers.get(r, ()))

    def _note_placed(self, op: Operation, region: Region) -> None:
        self.region_of[op] = region
        self._depends.setdefault(region, 0)
        new = 0
        for t in op.inputs:
            p = self.producer(t)
            if p is not None and self.region_of[p] is not region:
                source = self.region_of[p]
                self._readers.setdefault(source, set()).add(region)
                new |= (1 << source.id) | self._depends[source]
        self._depend(region, new)

    def creates_cycle(self, region: Region, op: Operation, also=()) -> bool:
        """Would adding `op` (and the regions `also`) to `region` create a path
        region -> outside -> region? Ops are placed in graph order, so nothing placed
        depends on `op`: only the inputs of the joined ops can close a cycle, through a
        region that already depends on one of the joined regions."""
        joined = (region, *also)
        ids = 0
        for r in joined:
            ids |= 1 << r.id
        entries = [op] + [m for r in also for m in r.ops] + (list(region.ops) if also else [])
        for m in entries:
            for t in m.inputs:
                p = self.producer(t)
                if p is not None and self.region_of[p] not in joined \
                        and self._depends[self.region_of[p]] & ids:
                    return True
        return False

    def merge(self, target: Region, other: Region) -> None:
        for op in other.ops:
            self.region_of[op] = target
        target.ops = sorted(target.ops + other.ops, key=self.position.__getitem__)
        other.ops = []
        # whatever read or depended on `other` now reads or depends on all of `target`
        for reading in self._readers.values():
            if other in reading:
                reading.discard(other)
                reading.add(target)
        readers = self._readers.setdefault(target, set())
        readers.update(self._readers.pop(other, ()))
        readers.discard(target)
        gained = (1 << target.id) | self._depends[target]
        for r, depends in self._depends.items():
            if depends >> other.id & 1 and r is not other:
                self._depends[r] = depends | gained
        self._depend(target, self._depends.pop(other))

    def new_region(self, kind: RegionKind, op: Operation, domain=(), split=None) -> Region:
        region = Region(len(self.regions), kind, [op], tuple(domain), split)
        self.regions.append(region)
        self._note_placed(op, region)
        return region

    def add(self, region: Region, op: Operation) -> None:
        region.ops.append(op)
        self._note_placed(op, region)

    # -- the rules -----------------------------------------------------------
    def run(self) -> list[Region]:
        for op in self.ops:
            self.place(op)
        return [r for r in self.regions if r.ops]

    def fusion(self, op: Operation) -> Fusion:
        """The op's fusion class, as these concrete shapes and dtypes decide it."""
        return self.classify(op)[0]

    def classify(self, op: Operation) -> tuple[Fusion, str]:
        """The op's fusion class and, for a host or standalone op, why it is one."""
        op_def = get_op_def(op.type)
        lowering = op_def.lowering
        if isinstance(lowering, KernelBuilder) and lowering.identity_if_same_shape \
                and self.shapes[op.inputs[0]] == self.shapes[op.outputs[0]]:
            return Fusion.VIEW, ""  # e.g. SumToShapeOf, when nothing was broadcast
        if op_def.fusion is not Fusion.VIEW and not getattr(lowering, "shape_only", False) \
                and any(t.dtype.name == "float16" for t in op.inputs + op.outputs):
            # Numba has no float16 arithmetic: NumPy computes these ops
            return Fusion.HOST, "float16: Numba has no float16 arithmetic, NumPy computes it"
        if op_def.fusion is not Fusion.VIEW \
                and any(t.dtype.is_narrow for t in op.inputs + op.outputs):
            return Fusion.HOST, ("bfloat16/float8/float4/int4/int2: Numba has no such type, "
                                 "NumPy (ml_dtypes) converts it")
        if any(t.dtype.is_string for t in op.inputs + op.outputs):
            # kernels never hold Python objects (strings: bytes objects)
            return Fusion.HOST, "strings: kernels hold no Python objects"
        if isinstance(lowering, KernelBuilder):
            return op_def.fusion, f"computed by its own '{lowering.region}' step"
        return op_def.fusion, getattr(lowering, "reason", "")  # (Host's reason)

    def place(self, op: Operation) -> None:
        head = self.epilogue_of.get(op)
        if head is not None:  # a bias add or relu computed by a packed MatMul's or a pool's kernel
            self.add(self.region_of[head], op)
            return
        fusion, reason = self.classify(op)
        out_shape = self.shapes[op.outputs[0]]
        if fusion is Fusion.STANDALONE:
            self.log.note_alone(op, Why.STANDALONE, reason)
            self.new_region(RegionKind.STANDALONE, op, out_shape)
            return
        if fusion in (Fusion.HOST, Fusion.SOURCE):
            self.log.note_alone(op, Why.HOST, reason)
            self.new_region(RegionKind.HOST, op, out_shape)
            return
        candidates = []
        for t in op.inputs:
            p = self.producer(t)
            if p is not None:
                r = self.region_of[p]
                if r.kind is RegionKind.FUSED and r not in candidates:
                    candidates.append(r)
        if fusion is Fusion.ROW_REDUCE:
            self.place_reduction(op, candidates)
            return
        for region in candidates:
            refusal = self.misfit(region, op, fusion, out_shape) or self.cycle(region, op)
            if refusal is not None:
                self.refuse(op, region, refusal)
                continue
            # sibling regions over the same domain that feed this op merge in too
            siblings = [r for r in candidates if r is not region and not r.is_row
                        and r.domain == out_shape]
            size = len(region.ops) + sum(len(r.ops) for r in siblings)
            if siblings and size < MAX_REGION_OPS \
                    and not self.creates_cycle(region, op, siblings):
                for r in siblings:
                    self.merge(region, r)
            elif siblings:
                refusal = Note(Why.SIZE, f"merging the kernels of its inputs would pass "
                                         f"{MAX_REGION_OPS} ops") \
                    if size >= MAX_REGION_OPS else Note(Why.CYCLE, _CYCLE)
                for r in siblings:
                    self.refuse(op, r, refusal)
            for r in candidates:  # (notes only where none was noted: the first reason)
                if r is not region and r not in siblings:
                    self.refuse(op, r, _not_mergeable(r, out_shape))
            self.add(region, op)
            return
        if fusion is Fusion.VIEW:
            in_shape = self.shapes[read_inputs(op)[0]]
            self.log.note_alone(op, Why.VIEW, f"a reshape {list(in_shape)} -> "
                                f"{list(out_shape)} of a materialized buffer: a view, no copy")
            self.new_region(RegionKind.VIEW, op, out_shape)  # a reshape of a contiguous buffer
            return
        self.new_region(RegionKind.FUSED, op, out_shape)

    def refuse(self, op: Operation, region: Region, note: Note) -> None:
        """Note why `op` did not join `region`, for the inputs it reads from there."""
        inputs = [t for t in op.inputs
                  if self.producer(t) is not None and self.region_of[t.op] is region]
        self.log.note_refused(op, inputs, note.why, note.detail)

    def cycle(self, region: Region, op: Operation) -> Note | None:
        return Note(Why.CYCLE, _CYCLE) if self.creates_cycle(region, op) else None

    def fits(self, region: Region, op: Operation, fusion: Fusion, out_shape: tuple) -> bool:
        return self.misfit(region, op, fusion, out_shape) is None

    def misfit(self, region: Region, op: Operation, fusion: Fusion,
               out_shape: tuple) -> Note | None:
        """Why `op` cannot join `region` (its cycles aside), or None when it can."""
        if len(region.ops) >= MAX_REGION_OPS:
            return Note(Why.SIZE, f"that kernel holds {MAX_REGION_OPS} ops already, the most "
                                  "one kernel takes (compile time grows faster than its size)")
        # a view fuses as an index map only where it inserts or removes size-1 dims
        if fusion is Fusion.VIEW:
            in_shape = self.shapes[read_inputs(op)[0]]
            if not only_unit_dims_change(in_shape, out_shape):
                return Note(Why.VIEW, f"a reshape {list(in_shape)} -> {list(out_shape)} "
                                      "moves non-unit dims: a view of a written buffer, not "
                                      "an index map inside a loop nest")
        domain = list(region.domain)
        if not region.is_row:
            if out_shape == region.domain:
                return None
            return Note(Why.DOMAIN, f"different iteration domains: its result has shape "
                                    f"{list(out_shape)}, that kernel loops over {domain}")
        reduced = f"that row kernel reduces {domain} over its last " \
                  f"{len(domain) - region.split} axes"
        if fusion is Fusion.INDEX:
            return Note(Why.ROW, f"an index op (slice, pad, gather...) does not join a row "
                                 f"kernel; {reduced}")
        if out_shape == region.domain:
            # A per-row value without its kept 1-dims broadcasts against the trailing
            # axes, not the rows ((n,) * (n, n) reads t[j]): it cannot be a row scalar.
            lead = tuple(region.domain[:region.split])
            if len(lead) == len(out_shape) or not any(
                    self.shapes[t] == lead and self.region_of.get(t.op) is region
                    for t in op.inputs if self.producer(t) is not None):
                return None
            return Note(Why.ROW, f"it broadcasts a per-row value {list(lead)} along the "
                                 f"trailing axes; {reduced}")
        if out_shape in row_scalar_shapes(region.domain, region.split):
            # a per-row value may only depend on per-row values of the region
            if all(self.shapes[t] in row_scalar_shapes(region.domain, region.split)
                   or self.producer(t) is None or self.region_of[t.op] is not region
                   for t in op.inputs if t.op in self.region_of):
                return None
            return Note(Why.ROW, f"a per-row result reading full-size values of the row "
                                 f"kernel; {reduced}")
        return Note(Why.DOMAIN, f"different iteration domains: its result has shape "
                                f"{list(out_shape)}, neither the domain nor a per-row shape; "
                                f"{reduced}")

    def place_reduction(self, op: Operation, candidates: list[Region]) -> None:
        in_shape = self.shapes[op.inputs[0]]
        axes = op.attrs["axes"]
        rank = len(in_shape)
        trailing = tuple(range(rank - len(axes), rank)) == tuple(axes)
        if not trailing or not axes:
            self.log.note_alone(op, Why.REDUCE_AXES, (
                f"a reduction over axes {list(axes)} of {list(in_shape)}, not the last "
                "axes: a reduce kernel of its own" if axes else
                "a reduction over no axes: a reduce kernel of its own"))
            self.new_region(RegionKind.REDUCE, op, in_shape)
            return
        split = rank - len(axes)
        for region in candidates:
            refusal = self.reduction_misfit(region, op, in_shape, split)
            if refusal is not None:
                self.refuse(op, region, refusal)
                continue
            if not region.is_row:
                region.split = split
            self.add(region, op)
            return
        self.new_region(RegionKind.FUSED, op, in_shape, split)

    def reduction_misfit(self, region: Region, op: Operation, in_shape: tuple,
                         split: int) -> Note | None:
        """Why the reduction `op` (its rows: in_shape[:split]) cannot join `region`."""
        if region.domain != in_shape:
            return Note(Why.DOMAIN, f"different iteration domains: it reduces "
                                    f"{list(in_shape)}, that kernel loops over "
                                    f"{list(region.domain)}")
        if len(region.ops) >= MAX_REGION_OPS:
            return Note(Why.SIZE, f"that kernel holds {MAX_REGION_OPS} ops already")
        if self.creates_cycle(region, op):
            return Note(Why.CYCLE, _CYCLE)
        if region.is_row and region.split != split:
            return Note(Why.SPLIT, f"that row kernel reduces over its last "
                                   f"{len(in_shape) - region.split} axes, this reduction "
                                   f"over {len(in_shape) - split}")
        # every op already there must be full-size for the region to become a row region
        if not region.is_row and any(self.shapes[o.outputs[0]] != in_shape for o in region.ops):
            return Note(Why.NOT_FULL_SIZE, "that kernel also computes values smaller than "
                                           f"{list(in_shape)}, so it cannot become a row kernel")
        return None


_CYCLE = "joining would make a path leave that kernel and come back into it (a cycle)"


def _not_mergeable(region: Region, out_shape: tuple) -> Note:
    """Why `region` stays apart once the op joined another of its input regions: only
    regions over the op's own domain, no row kernels, merge with that one."""
    if region.is_row:
        return Note(Why.ROW, f"it joined another kernel; a row kernel (reducing "
                             f"{list(region.domain)} over its last "
                             f"{len(region.domain) - region.split} axes) merges with none")
    return Note(Why.DOMAIN, f"different iteration domains: it joined another kernel, over "
                            f"{list(out_shape)}; that one loops over {list(region.domain)}")


def _epilogues(ops: list[Operation], shapes: dict) -> dict:
    """The bias adds and relus that packed MatMul kernels (graphjit.lower.packed_matmul.
    epilogue_ops) and pooling kernels (graphjit.lower.pool_epilogue) compute, each mapped
    to its MatMul or pool, and the max pools computed with the conv they read
    (graphjit.lower.conv_pool), mapped to the conv."""
    if not any(op.type == "MatMul" or op.type in POOLS for op in ops):
        return {}
    consumers: dict[Tensor, list] = {}
    for op in ops:
        for t in set(op.inputs):
            consumers.setdefault(t, []).append(op)
    found = {e: op for op in ops if op.type in POOLS
             for e in pool_epilogue_ops(op, shapes, consumers)}
    for op in ops:  # a conv whose only reader is a max pool: one kernel of both
        users = consumers.get(op.outputs[0], []) if op.type == "Conv2D" else []
        if len(users) == 1 and (fuses_with_pool(op, users[0], shapes)
                                or fuses_pool(op, users[0], shapes)):
            found[users[0]] = op
    found.update({e: op for op in ops if use_packed(op, shapes) or use_fed_panels(op, shapes)
                  for e in epilogue_ops(op, shapes, consumers)})
    return found


def partition(ops: list[Operation], shapes: dict[Tensor, tuple],
              fed: set[Tensor], log: FusionLog | None = None) -> list[Region]:
    """Regions in an order that respects dependencies between them; `log` receives the
    reasons ops were kept apart."""
    regions = Partitioner(ops, shapes, fed, log).run()
    return _topological(regions, shapes, fed)


def _topological(regions: list[Region], shapes, fed) -> list[Region]:
    region_of = {op: r for r in regions for op in r.ops}
    deps = {r.id: {region_of[t.op].id for op in r.ops for t in op.inputs
                   if t not in fed and t.op in region_of and region_of[t.op] is not r}
            for r in regions}
    order, done = [], set()
    by_id = {r.id: r for r in regions}

    def visit(rid):
        if rid in done:
            return
        done.add(rid)
        for d in sorted(deps[rid]):
            visit(d)
        order.append(by_id[rid])

    for r in regions:
        visit(r.id)
    return order
