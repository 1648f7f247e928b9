"""Graphs with tensors of unknown rank, specialized to the ranks of the fed values.

A placeholder made without a shape (`tf.placeholder(tf.float32)`, TF1's default)
has a rank known only when it is fed, and the ops computed from it have unknown
ranks too (their shapes are `UnknownShape`; see graphjit.registry.infer_specs).
Nothing downstream of the define phase handles such shapes: before a run, the ops
the fetches need are copied into a new graph in which the fed tensors have the
ranks of their values, so every op's shape is inferred (and checked) again. Attrs
that depended on the rank (`AxesOfRank`) are resolved, and the DeferredGrad ops
`tf.gradients` left are expanded by the forward op's own gradient rule, now that
its shapes are known. Ops keep their names, so variables and random generators
keep their state. A compiled function keeps one specialization per rank signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.record import MutableRecord
from graphjit.errors import FeedError, ShapeError, UnsupportedError
from graphjit.graph import Graph, Operation, Tensor, TensorShape, format_spec
from graphjit.graph_queries import in_graph_order
from graphjit.registry import AttrKind, get_op_def, resolve_attrs


def has_unknown_rank(fetches, fed) -> bool:
    """True when an op that `fetches` (tensors and ops) need, `fed` tensors cutting the
    graph, has an output of unknown rank."""
    return any(t.shape.unknown_rank for op in _ops_to_copy(fetches, set(fed))
               for t in op.outputs)


@dataclass(eq=False, repr=False)
class Specialized(MutableRecord):
    """A graph specialized to some fed ranks and the map from the old graph into it."""

    graph: Graph
    tensors: dict[Tensor, Tensor]
    ops: dict[Operation, Operation]

    def fetch(self, element):
        """The new tensor or op standing for an old fetch."""
        if isinstance(element, Tensor):
            return self.tensors[element]
        return self.ops[element]


def specialize(fetches, fed_ranks: dict[Tensor, int]) -> Specialized:
    """The ops `fetches` need, copied into a new graph with each fed tensor of the rank
    given for it (its dims unknown there: plans are made per concrete shape anyway)."""
    return _Specializer(fed_ranks).run(_ops_to_copy(fetches, set(fed_ranks)))


def _ops_to_copy(fetches, fed: set[Tensor]) -> list[Operation]:
    """The ops behind `fetches` in graph order: through every input (a ref input too: an
    Assign refers to its variable) and control input, stopping at fed tensors."""
    seen: set[Operation] = set()
    stack = [f.op if isinstance(f, Tensor) else f for f in fetches]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        if all(t in fed for t in op.outputs) and op.outputs:
            continue
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return in_graph_order(seen)


class _Specializer:
    def __init__(self, fed_ranks: dict[Tensor, int]):
        self.fed_ranks = fed_ranks
        self.new = Graph()
        self.tensors: dict[Tensor, Tensor] = {}
        self.ops: dict[Operation, Operation] = {}

    def run(self, ops: list[Operation]) -> Specialized:
        for op in ops:
            self.new.unique_name(op.name)  # reserve: expanded gradients must not take them
        for op in ops:
            fed = [t for t in op.outputs if t in self.fed_ranks]
            if fed:
                self._fed(op, fed)
            elif op.type == "DeferredGrad":
                self._expand_gradient(op)
            else:
                self._copy(op)
        return Specialized(self.new, self.tensors, self.ops)

    def _fed(self, op: Operation, fed: list[Tensor]) -> None:
        """A fed tensor is a placeholder of the value's rank (its producer is not run)."""
        tensor = fed[0]
        rank = self.fed_ranks[tensor]
        if not tensor.shape.unknown_rank and tensor.shape.rank != rank:
            raise FeedError(f"cannot feed a value of rank {rank} for '{tensor.name}' "
                            f"({format_spec(tensor.shape, tensor.dtype)})")
        if op.type == "Placeholder" or (len(op.outputs) == 1 and tensor.shape.unknown_rank):
            shape = TensorShape([None] * rank) if tensor.shape.unknown_rank else tensor.shape
            new = self.new.create_op("Placeholder", [], {"shape": shape,
                                                         "dtype": tensor.dtype},
                                     name=op.name + "/", source=op.source)
            self._bind(op, new)
            return
        if any(t.shape.unknown_rank for t in op.outputs):
            raise UnsupportedError(f"{op.describe()} at {op.source}: feeding one output of an "
                                   "op whose outputs have unknown rank is not supported")
        self._copy(op)

    def _copy(self, op: Operation) -> None:
        if op.type == "Placeholder" and op.outputs[0].shape.unknown_rank:
            raise FeedError(f"missing feed for placeholder '{op.name}' (created at "
                            f"{op.source}): its rank is known only when it is fed")
        inputs = [self.tensors[t] for t in op.inputs]
        _check_sub_graphs(op, inputs)
        rank = inputs[0].shape.rank if inputs else 0
        try:
            attrs = resolve_attrs(op.attrs, rank)
        except ShapeError as exc:
            raise ShapeError(f"{op.describe()} at {op.source}: {exc}") from None
        new = self.new.create_op(op.type, inputs, attrs, name=op.name + "/", source=op.source)
        new.control_inputs = tuple(self.ops[c] for c in op.control_inputs if c in self.ops)
        for old, t in zip(op.outputs, new.outputs):
            _check_fits(op, old, t)
        self._bind(op, new)

    def _expand_gradient(self, op: Operation) -> None:
        """Build the forward op's gradient by its own rule, its shapes now known."""
        from graphjit.ops.shape_ops import zeros_like
        attrs = op.attrs
        n = attrs["n_inputs"]
        forward = self.ops.get(op.graph.get_operation_by_name(attrs["forward"]))
        if forward is None or forward.type == "Placeholder":
            raise UnsupportedError(f"{op.describe()} at {op.source}: the gradient of "
                                   f"'{attrs['forward']}', a fed tensor of unknown rank, is "
                                   "not supported")
        given = iter(self.tensors[t] for t in op.inputs[n + len(forward.outputs):])
        out_grads = [next(given) if g else None for g in attrs["given"]]
        with self.new.as_default(), self.new.name_scope(op.name):
            in_grads = get_op_def(forward.type).grad(forward, out_grads)
            outputs = iter(op.outputs)
            for x, g, floating in zip(forward.inputs, in_grads, attrs["floating"]):
                if not floating:
                    continue
                old = next(outputs)
                g = zeros_like(x) if g is None else g
                _check_fits(op, old, g)
                self.tensors[old] = g

    def _bind(self, op: Operation, new: Operation) -> None:
        self.ops[op] = new
        for old, t in zip(op.outputs, new.outputs):
            self.tensors[old] = t


def _check_fits(op: Operation, old: Tensor, new: Tensor) -> None:
    """What the graph was built for (a shape set at build time) must hold for the ranks
    fed: a keep_prob declared a scalar by dropout, fed a vector, fails here."""
    if old.dtype != new.dtype or not old.shape.is_compatible_with(new.shape):
        raise ShapeError(f"{op.describe()} at {op.source}: with the values fed, "
                         f"'{old.name}' is {format_spec(new.shape, new.dtype)}, but the graph "
                         f"was built for {format_spec(old.shape, old.dtype)}")


def _check_sub_graphs(op: Operation, inputs: list[Tensor]) -> None:
    """A cond branch or loop body was built for its inputs' static shapes: one reading a
    tensor of unknown rank would need specializing too, which graphjit does not do."""
    op_def = get_op_def(op.type)
    if not any(spec.kind == AttrKind.FUNCTION for spec in op_def.attrs.values()):
        return
    unknown = [t for t in op.inputs if t.shape.unknown_rank]
    if unknown:
        raise UnsupportedError(
            f"{op.describe()} at {op.source}: its branches or body read '{unknown[0].name}', "
            "whose rank is unknown until it is fed; graphjit needs that rank when the "
            "control flow is built: give the placeholder a shape")


class RankDispatch:
    """What a compiled function whose graph has tensors of unknown rank runs: one
    CompiledFunction per rank signature of the fed values, on the graph specialized to
    it, all sharing the function's variables."""

    MAX_SPECIALIZATIONS = 16

    def __init__(self, leaves: list, feeds: list[Tensor], passes, state: dict, max_plans: int):
        self.leaves, self.feeds = leaves, feeds
        self.passes, self.state, self.max_plans = passes, state, max_plans
        self._by_ranks: dict[tuple, object] = {}
        self.last = None  # the CompiledFunction of the latest call
        self._last_ranks: tuple | None = None

    def run(self, arrays, state: dict | None) -> list:
        """The values of the tensor leaves, in order, for these fed arrays."""
        inner, used = self._entry(arrays)
        self.last, self._last_ranks = inner, tuple(a.ndim for a in arrays)
        values = inner.run_arrays([arrays[i] for i in used], state)
        return [v for v, leaf in zip(values, self.leaves) if isinstance(leaf, Tensor)]

    def _entry(self, arrays) -> tuple:
        ranks = tuple(a.ndim for a in arrays)
        entry = self._by_ranks.get(ranks)
        if entry is None:
            entry = self._compile(arrays, self._why(ranks))
            if len(self._by_ranks) >= self.MAX_SPECIALIZATIONS:
                del self._by_ranks[next(iter(self._by_ranks))]
            self._by_ranks[ranks] = entry
        return entry

    # Inspecting methods whose positional arguments from this index on are example inputs.
    _EXAMPLES_FROM = {"profile": 0, "ir": 1, "report": 1}

    def inspect(self, fn, name: str, args: tuple, kwargs: dict):
        """fn.<name>(*args, **kwargs) of a function specialized per fed rank: that of the
        specialization its example inputs pick, else of the one called last."""
        start = self._EXAMPLES_FROM.get(name)
        if start is not None:
            head, examples = args[:start], args[start:]
            named = {k: v for k, v in kwargs.items() if k not in ("repeat", "shapes")}
            options = {k: v for k, v in kwargs.items() if k in ("repeat", "shapes")}
            if examples or named:
                arrays = fn._arrays(examples, named)
                inner, used = self._entry(arrays)
                return getattr(inner, name)(*head, *[arrays[i] for i in used], **options)
        if self.last is None:
            if name in ("__repr__", "_repr_html_"):
                text = (f"<graphjit.CompiledFunction of {fn._inputs_text()}: specialized "
                        "to the ranks of the values fed, not called yet>")
                if name == "__repr__":
                    return text
                from html import escape  # (a notebook's view only: not on import)
                return f"<pre>{escape(text)}</pre>"
            raise UnsupportedError(
                f"{name}: this function's plans depend on the ranks of the values fed "
                "(a placeholder made without a shape); call it first, or give example "
                "inputs where the method takes them")
        value = getattr(self.last, name)
        return value if name == "kernels" else value(*args, **kwargs)

    def _ranks_text(self, ranks: tuple) -> str:
        return ", ".join(f"{t.op.name} rank {r}" for t, r in zip(self.feeds, ranks))

    def _why(self, ranks: tuple) -> str:
        """The compile logs' reason for a new specialization."""
        why = f"rank specialization for {self._ranks_text(ranks)}"
        if self._last_ranks is not None:
            why += f" (the previous call's: {self._ranks_text(self._last_ranks)})"
        return why

    def cache_info(self, label: str):
        """The plans of every specialization kept, each labelled with its ranks."""
        from graphjit.plan_info import CacheInfo
        plans, optimize_seconds = [], 0.0
        for ranks, (fn, _) in self._by_ranks.items():
            info = fn.cache_info()
            plans += [r.labelled(self._ranks_text(ranks)) for r in info.plans]
            optimize_seconds += info.optimize_seconds
        return CacheInfo(label, plans, self.max_plans, optimize_seconds)

    def _compile(self, arrays, why: str) -> tuple:
        """The function for these ranks, and the positions of the feeds it reads (a fed
        tensor the fetches do not need is not in the specialized graph)."""
        from graphjit.api import CompiledFunction
        spec = specialize(self.leaves, {t: a.ndim for t, a in zip(self.feeds, arrays)})
        used = [i for i, t in enumerate(self.feeds) if t in spec.tensors]
        fn = CompiledFunction(spec.graph, [spec.fetch(leaf) for leaf in self.leaves],
                              [spec.tensors[self.feeds[i]] for i in used], self.passes,
                              state=self.state, max_plans=self.max_plans, origin=why)
        return fn, used
