"""Copying a graph op by op into a new Graph: the one way every pass edits a graph.

A pass never mutates its input. It walks the old graph in order and, per op,
copies it, rewrites it into other ops, aliases its outputs to tensors that
already exist, folds it to a constant, or drops it. The Rewriter records what
happened, so every pass reports its changes the same way, and keeps the maps
old -> new that let the manager follow fetches and feeds through the pipeline.

Names survive: a copied or rewritten op keeps its exact name (fetching by name
works on the optimized graph), and every old name is reserved in the new graph
before the walk, so helper ops created by a rewrite never take a name that a
later copied op needs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codegen.record import MutableRecord
from graphjit.errors import InternalError
from graphjit.graph import Graph, Operation, Tensor, format_spec
from graphjit.registry import get_op_def


@dataclass(eq=False, repr=False)
class PassContext(MutableRecord):
    """What a pass must respect, in terms of the graph it is given.

    `fetches` are the requested results; `keep` are tensors that must stay as
    they are (fed tensors: their consumers must read them, so no pass may fold,
    merge, simplify through or remove them).
    """

    fetches: list  # Tensor | Operation of the pass's input graph
    keep: list[Tensor]
    max_folded_bytes: int

    def pinned_ops(self) -> set[Operation]:
        """Ops whose outputs must still exist, under their names, after the pass."""
        ops = {f.op if isinstance(f, Tensor) else f for f in self.fetches}
        return ops | {t.op for t in self.keep}


@dataclass(eq=False, repr=False)
class PassStats(MutableRecord):
    """What one run of one pass did (a row of the optimizer's report)."""

    name: str
    iteration: int = 0
    seconds: float = 0.0
    ops_before: int = 0
    ops_after: int = 0
    removed: int = 0  # old ops with no op of their own in the new graph
    added: int = 0  # new ops with no old op behind them
    replaced: int = 0  # old ops whose name now holds a different op
    folded: int = 0  # ops evaluated at compile time
    const_bytes: int = 0  # bytes of the constants this pass created
    rewrites: Counter = field(default_factory=Counter)  # rule -> times applied

    @property
    def changes(self) -> int:
        return self.removed + self.added + self.replaced

    def as_dict(self) -> dict:
        return {"pass": self.name, "iteration": self.iteration, "seconds": self.seconds,
                "ops_before": self.ops_before, "ops_after": self.ops_after,
                "removed": self.removed, "added": self.added, "replaced": self.replaced,
                "folded": self.folded, "const_bytes": self.const_bytes,
                "rewrites": dict(self.rewrites)}


@dataclass(eq=False, repr=False)
class PassResult(MutableRecord):
    graph: Graph
    tensor_map: dict[Tensor, Tensor]  # old tensor -> new tensor, where it survives
    op_map: dict[Operation, Operation]  # old op -> the new op that carries its name
    stats: PassStats


class Rewriter:
    """Builds the new graph of one pass from the old one; see the module docstring."""

    def __init__(self, graph: Graph, ctx: PassContext, name: str, ops=None):
        """`ops`: the ops of `graph` the pass may copy, in graph order (default: all)."""
        self.old = graph
        self.old_ops = graph.get_operations() if ops is None else ops
        self.new = Graph()
        for op in self.old_ops:
            self.new.unique_name(op.name)  # reserve: helpers must not take these names
        self.ctx = ctx
        self.pinned = ctx.pinned_ops()
        self._kept = set(ctx.keep)
        self._opaque: set[Tensor] = set()  # new tensors standing for kept ones
        self._tensors: dict[Tensor, Tensor] = {}
        self._ops: dict[Operation, Operation] = {}
        self._status: dict[Operation, str] = {}  # "kept" or "replaced"; absent: removed
        self._deferred: dict[Operation, np.ndarray] = {}
        self.stats = PassStats(name, ops_before=len(self.old_ops))
        self._start = time.perf_counter()

    # -- queries -------------------------------------------------------------
    def get(self, t: Tensor) -> Tensor:
        """The new tensor standing for old `t` (a folded value becomes a Const now)."""
        new = self._tensors.get(t)
        if new is None:
            if t.op not in self._deferred:
                raise InternalError(f"pass {self.stats.name}: '{t.name}' used before it was "
                                    "copied or after it was dropped")
            new = self._materialize(t.op)
        return new

    def inputs(self, op: Operation) -> list[Tensor]:
        return [self.get(t) for t in op.inputs]

    def frozen(self, op: Operation) -> bool:
        """True for ops no pass may touch: stateful ones, ones with side effects (printing)
        and producers of kept tensors."""
        op_def = get_op_def(op.type)
        return op_def.stateful or op_def.side_effect or any(t in self._kept
                                                            for t in op.outputs)

    def opaque(self, new_tensor: Tensor) -> bool:
        """True for a kept (fed) tensor: its producer and value must not be looked into."""
        return new_tensor in self._opaque

    def const_value(self, new_tensor: Tensor) -> np.ndarray | None:
        """The value of a new-graph tensor known at compile time, else None."""
        if new_tensor.op.type != "Const" or self.opaque(new_tensor):
            return None
        return new_tensor.op.attrs["value"]

    def producer(self, new_tensor: Tensor, *types: str) -> Operation | None:
        """The op computing `new_tensor` if it is one of `types` and may be looked into."""
        op = new_tensor.op
        return op if op.type in types and not self.opaque(new_tensor) else None

    # -- edits ---------------------------------------------------------------
    def copy(self, op: Operation, inputs: list[Tensor] | None = None) -> Operation:
        """The op unchanged (inputs rewired to the new graph), under its own name."""
        new = self._create(op, op.type, self.inputs(op) if inputs is None else inputs,
                           op.attrs, op.name + "/", same_type=True)
        self._bind(op, new, "kept")
        if any(t in self._kept for t in op.outputs):
            self._opaque.update(new.outputs[i] for i, t in enumerate(op.outputs)
                                if t in self._kept)
        return new

    def rewrite(self, op: Operation, op_type: str, inputs: list[Tensor], attrs: dict,
                rule: str) -> Operation:
        """A different op under `op`'s name computes `op`'s outputs."""
        new = self._create(op, op_type, inputs, attrs, op.name + "/")
        self._check_same(op, new.outputs, rule)
        self._bind(op, new, "replaced")
        self.stats.rewrites[rule] += 1
        return new

    def helper(self, like: Operation, op_type: str, inputs: list[Tensor], attrs: dict,
               hint: str) -> Tensor:
        """An extra op that a rewrite of `like` needs, named `<like>/<hint>`."""
        name = self.new.unique_name(f"{like.name}/{hint}")
        new = self._create(like, op_type, inputs, attrs, name + "/", control=op_type != "Const")
        self.stats.added += 1
        if op_type == "Const":
            self.stats.const_bytes += attrs["value"].nbytes
        return new.outputs[0]

    def alias(self, op: Operation, tensors: list[Tensor], rule: str) -> None:
        """`op`'s outputs are `tensors`, which exist already: `op` disappears.

        A pinned (fetched or fed) op keeps its name: it becomes an Identity of
        the tensor, or stays as it is when it already is that Identity.
        """
        self._check_same(op, tensors, rule)
        if op in self.pinned:
            if len(op.outputs) != 1 or (op.type == "Identity"
                                        and self.get(op.inputs[0]) is tensors[0]):
                self.copy(op)
                return
            self.rewrite(op, "Identity", [tensors[0]], {}, rule)
            return
        for old, new in zip(op.outputs, tensors):
            self._tensors[old] = new
        self.stats.rewrites[rule] += 1

    def fold(self, op: Operation, value: np.ndarray) -> None:
        """`op`'s single output is `value`; a Const is created only where it is used."""
        self._deferred[op] = value
        self.stats.folded += 1
        if op in self.pinned:
            self._materialize(op)

    # -- internals -------------------------------------------------------------
    def _materialize(self, op: Operation) -> Tensor:
        value = self._deferred.pop(op)
        new = self._create(op, "Const", [], {"value": value}, op.name + "/", control=False)
        self._check_same(op, new.outputs, "fold")
        self._bind(op, new, "replaced")
        self.stats.const_bytes += value.nbytes
        return new.outputs[0]

    def _create(self, like: Operation, op_type: str, inputs, attrs, name: str,
                control: bool = True, same_type: bool = False) -> Operation:
        # errors keep pointing at the user's line
        new = self.new.create_op(op_type, inputs, attrs, name=name, source=like.source,
                                 like=like if same_type else None)
        if control:
            new.control_inputs = self.control_inputs(like)
        return new

    def control_inputs(self, op: Operation) -> tuple[Operation, ...]:
        """The new ops standing for `op`'s control inputs."""
        out = []
        for c in op.control_inputs:
            new = self._ops.get(c)
            if new is None and c.outputs and c.outputs[0] in self._tensors:
                new = self._tensors[c.outputs[0]].op  # c was aliased: wait for what replaced it
            # Otherwise c was folded away or dropped: it was pure, so the order is moot.
            if new is not None and new not in out:
                out.append(new)
        return tuple(out)

    def _bind(self, op: Operation, new: Operation, status: str) -> None:
        self._ops[op] = new
        self._status[op] = status
        for old, t in zip(op.outputs, new.outputs):
            self._tensors[old] = t

    def _check_same(self, op: Operation, tensors, rule: str) -> None:
        """A rewrite may change how a value is computed, never its dtype or static shape."""
        for old, new in zip(op.outputs, tensors, strict=True):
            if old.dtype != new.dtype or old.shape != new.shape:
                raise InternalError(
                    f"pass {self.stats.name}, rule {rule}: {op.describe()} would change "
                    f"{format_spec(old.shape, old.dtype)} into "
                    f"{format_spec(new.shape, new.dtype)}")

    def finish(self) -> PassResult:
        """The new graph, the maps old -> new and the pass's statistics."""
        stats = self.stats
        stats.replaced = sum(1 for s in self._status.values() if s == "replaced")
        stats.removed = sum(1 for op in self.old_ops if op not in self._status)
        stats.ops_after = len(self.new.get_operations())
        self._copy_collections()
        stats.seconds = time.perf_counter() - self._start
        return PassResult(self.new, dict(self._tensors), dict(self._ops), stats)

    def _copy_collections(self) -> None:
        """Collections follow their tensors and ops; entries that are gone are dropped."""
        for key, values in self.old.collections.items():
            for value in values:
                if isinstance(value, Tensor):
                    value = self._tensors.get(value)
                elif isinstance(value, Operation):
                    value = self._ops.get(value)
                if value is not None:
                    self.new.add_to_collection(key, value)


PassFunction = Callable[[Graph, PassContext], PassResult]


def copy_graph(graph: Graph, ctx: PassContext, ops=None, name: str = "copy") -> PassResult:
    """The identity pass: an unchanged copy (what `passes="none"` runs), of `ops` only
    when given (ops of `graph` in graph order, closed under their inputs)."""
    rw = Rewriter(graph, ctx, name, ops)
    for op in rw.old_ops:
        rw.copy(op)
    return rw.finish()
