"""Sub-graph functions: the branches of a cond, the cond and body of a while loop.

A Function is a graph of its own (a FuncGraph) with placeholders for its inputs and
tensors for its outputs; the control-flow op holding it in an attr passes the values.
Building one calls the user's Python function once, under its FuncGraph. A tensor of an
enclosing graph that the function reads is *captured*: it becomes a placeholder of the
FuncGraph and the outer tensor an explicit extra input of the op (TF2's FuncGraph does
the same), so the function's ops run only when the op runs them. Constants are copied
rather than captured, so the sub-graph's optimizer still folds them.

The reference interpreter runs a Function op by op (`evaluate`); a compiled plan runs
it through a CompiledFunction of its own (`compiled`), planned once per input-shape
signature and reused for every branch taken and every loop iteration.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from graphjit.errors import GraphError, UnsupportedError
from graphjit.graph import Graph, Operation, Tensor, TensorShape, format_spec, get_default_graph
from graphjit.registry import Spec, get_op_def

MAX_CACHED_SPECS = 256  # output specs a Function remembers, per input specs


class FuncGraph(Graph):
    """The graph of a Function, nested in `outer`: reading a tensor of an enclosing
    graph captures it (graph.create_op calls `capture`)."""

    def __init__(self, outer: Graph | None, name: str, runs_once: bool = False):
        super().__init__()
        self.outer = outer  # (None: loaded from a file, capturing nothing more)
        self.name = name
        # A cond branch runs at most once per run of its op: a random draw in it is made
        # in the enclosing graph and captured (drawn each run, used when the branch runs).
        # A loop body runs many times, and would reuse one draw: there it stays an error.
        self.runs_once = runs_once
        self.seed = None if outer is None else outer.seed
        self.captures: list[tuple[Tensor, Tensor]] = []  # (tensor of `outer`, placeholder)
        self._captured: dict[Tensor, Tensor] = {}

    def capture(self, t: Tensor) -> Tensor:
        new = self._captured.get(t)
        if new is not None:
            return new
        if not self.encloses(t.graph):
            raise GraphError(f"'{t.name}' belongs to a graph that does not enclose "
                             f"function '{self.name}'")
        stack, self._control_stack = self._control_stack, []  # (no control inputs here)
        try:
            with self.name_scope(None):
                if t.op.type == "Const":  # a copy: folding still sees the value
                    new = self.create_op("Const", (), dict(t.op.attrs), name=t.op.name,
                                         source=t.op.source).outputs[0]
                else:
                    outer_value = t if t.graph is self.outer else self.outer.capture(t)
                    new = self.create_op("Placeholder", (), {"shape": t.shape,
                                                             "dtype": t.dtype},
                                         name=t.op.name, source=t.op.source).outputs[0]
                    self.captures.append((outer_value, new))
                    self._captured[outer_value] = new  # (with_captures asks by it)
        finally:
            self._control_stack = stack
        self._captured[t] = new
        return new

    def create_op(self, op_type: str, inputs, attrs: dict | None = None,
                  name: str | None = None, default_name: str | None = None, **kwargs):
        if self.runs_once and self.outer is not None and not tuple(inputs) \
                and draws_random(op_type):
            with self.outer.as_default():
                return self.outer.create_op(op_type, (), attrs, name=name,
                                            default_name=default_name, **kwargs)
        return super().create_op(op_type, inputs, attrs, name=name,
                                 default_name=default_name, **kwargs)

    def __repr__(self) -> str:
        return f"<graphjit.FuncGraph '{self.name}' with {len(self._ops)} ops>"


def draws_random(op_type: str) -> bool:
    """A random op (a seeded draw from the run's state), as opposed to a variable."""
    op_def = get_op_def(op_type)
    return op_def.stateful and "seed" in op_def.attrs


class Function:
    """A FuncGraph with its inputs (placeholders, in the order the op passes values) and
    its outputs. It is an op attr: shared, never edited, by the graphs that copy the op."""

    def __init__(self, graph: FuncGraph, inputs: list[Tensor], outputs: list[Tensor]):
        self.graph = graph
        self.name = graph.name
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self._specs: OrderedDict[tuple, list[Spec]] = OrderedDict()
        self._compiled = None
        self._lock = threading.RLock()

    @property
    def input_specs(self) -> list[Spec]:
        return [(t.shape, t.dtype) for t in self.inputs]

    def output_specs(self, input_specs: list[Spec]) -> list[Spec]:
        """The outputs' (shape, dtype) for inputs of these specs: static ones at build time,
        concrete ones at plan and run time (shapes propagated through the sub-graph)."""
        if len(input_specs) != len(self.inputs):
            raise GraphError(f"function '{self.name}' takes {len(self.inputs)} inputs, "
                             f"got {len(input_specs)}")
        for i, ((shape, dtype), t) in enumerate(zip(input_specs, self.inputs)):
            if dtype != t.dtype or not t.shape.is_compatible_with(shape):
                raise GraphError(f"input {i} of function '{self.name}' is "
                                 f"{format_spec(shape, dtype)}; it takes "
                                 f"{format_spec(t.shape, t.dtype)}")
        key = tuple((tuple(shape), dtype) for shape, dtype in input_specs)
        specs = self._specs.get(key)
        if specs is None:
            specs = self._propagate(input_specs)
            with self._lock:  # (sessions of several threads may share the function)
                self._specs[key] = specs
                while len(self._specs) > MAX_CACHED_SPECS:
                    self._specs.popitem(last=False)
        return specs

    def _propagate(self, input_specs: list[Spec]) -> list[Spec]:
        from graphjit.interpreter import run_time_specs
        if all(tuple(s) == tuple(t.shape) for (s, _), t in zip(input_specs, self.inputs)):
            return [(t.shape, t.dtype) for t in self.outputs]
        shapes = {t: tuple(s) for (s, _), t in zip(input_specs, self.inputs)}
        for op in self.graph.get_operations():
            if op.type == "Placeholder" or not op.outputs:
                continue
            specs = run_time_specs(op, [(shapes.get(t, tuple(t.shape)), t.dtype)
                                        for t in op.inputs])
            for t, (shape, _) in zip(op.outputs, specs):
                shapes[t] = tuple(shape)
        return [(TensorShape(shapes.get(t, tuple(t.shape))), t.dtype) for t in self.outputs]

    def evaluate(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The outputs' values, by the reference interpreter."""
        from graphjit.interpreter import evaluate
        return evaluate(list(self.outputs), dict(zip(self.inputs, arrays)))

    def compiled(self):
        """The CompiledFunction running this function (made once, shared by every plan).
        Not tiered (graphjit.api): a loop body runs many times per call, and the native
        loop driver (graphjit.lower.while_loop) keeps the plans it was built from."""
        if self._compiled is None:
            from graphjit.api import CompiledFunction
            with self._lock:
                if self._compiled is None:
                    self._compiled = CompiledFunction(self.graph, list(self.outputs),
                                                      list(self.inputs), tiered=False)
        return self._compiled

    def inline(self, inputs: list[Tensor]) -> list[Tensor]:
        """Copies of this function's ops in the graph of `inputs` (or the default graph),
        reading `inputs`: its outputs there (a gradient differentiates the copy)."""
        mapping: dict[Tensor, Tensor] = dict(zip(self.inputs, inputs))
        graph = get_default_graph()
        copied: dict[Operation, Operation] = {}
        for op in self.graph.get_operations():
            if op.type == "Placeholder":
                continue
            new = graph.create_op(op.type, [mapping[t] for t in op.inputs], op.attrs,
                                  name=op.name, source=op.source)
            new.control_inputs = tuple(copied[c] for c in op.control_inputs if c in copied)
            copied[op] = new
            mapping.update(zip(op.outputs, new.outputs))
        return [mapping[t] for t in self.outputs]

    def __repr__(self) -> str:
        ins = ", ".join(format_spec(t.shape, t.dtype) for t in self.inputs)
        outs = ", ".join(format_spec(t.shape, t.dtype) for t in self.outputs)
        return f"<function '{self.name}' ({ins}) -> ({outs})>"


def build_function(fn: Callable, args: list[Spec], pack: Callable, outer: Graph, name: str,
                   what: str, errors: Callable, runs_once: bool = False
                   ) -> tuple[Function, object]:
    """Call `fn(*pack(placeholders))` once under a new FuncGraph nested in `outer`, with
    one placeholder per spec of `args`; (the Function, the structure fn returned).
    Inputs: those placeholders, then the captured tensors' (`graph.captures`). `what`
    names the function in errors ("true_fn of cond 'cond'"), raised within `errors()`
    (the op's op_errors: they name the op and the user's line)."""
    from graphjit.ops._util import convert_to_tensor
    from graphjit.ops.core import placeholder
    graph = FuncGraph(outer, name, runs_once)
    enclosing = _enclosing(outer)
    before = [len(g._ops) for g in enclosing]
    with graph.as_default():
        params = [placeholder(dtype, shape, name=f"arg{i}") for i, (shape, dtype)
                  in enumerate(args)]
        result = fn(*pack(params))
        with errors():
            structure, leaves = flatten(result, what)
            outputs = []
            for i, leaf in enumerate(leaves):
                try:
                    t = convert_to_tensor(leaf, graph=graph)
                except GraphError as exc:
                    raise type(exc)(f"{what} returned {leaf!r:.60} as output {i}: "
                                    f"{exc}") from None
                outputs.append(t if t.graph is graph else graph.capture(t))
    with errors():
        for g, n in zip(enclosing, before):
            for op in g._ops[n:]:
                if get_op_def(op.type).stateful and not (runs_once and draws_random(op.type)):
                    raise UnsupportedError(
                        f"{what} created {op.describe()} at {op.source} in an enclosing "
                        "graph: it would run whether or not the function runs; state "
                        "updates (assign) inside control flow are not supported")
        for op in graph.get_operations():
            if get_op_def(op.type).stateful:
                raise UnsupportedError(
                    f"{what} creates {op.describe()} at {op.source}: variables, assignments "
                    "and random draws inside control flow are not supported yet; create "
                    "them outside and read their values inside")
    return Function(graph, params + [p for _, p in graph.captures], outputs), structure


def _enclosing(graph: Graph) -> list[Graph]:
    graphs = []
    while graph is not None:
        graphs.append(graph)
        graph = graph.outer
    return graphs


def with_captures(function: Function, n_args: int, outer_tensors: list[Tensor]) -> Function:
    """`function` taking its `n_args` arguments, then one input per tensor of
    `outer_tensors` (the captures of all the functions of one op, in one order): a
    tensor it does not read becomes an unused input."""
    graph = function.graph
    inputs = list(function.inputs[:n_args]) + [graph.capture(t) for t in outer_tensors]
    return Function(graph, inputs, list(function.outputs))


# -- nested structures (TF's nest, for lists, tuples, namedtuples and dicts) -------------

def flatten(structure, what: str = "") -> tuple[object, list]:
    """(a skeleton to `pack` leaves into, the leaves in order)."""
    leaves: list = []

    def walk(item):
        if isinstance(item, dict):
            return (dict, type(item), [(k, walk(item[k])) for k in sorted(item)])
        if isinstance(item, (list, tuple)):
            return (list, type(item), [walk(x) for x in item])
        if item is None:
            raise GraphError(f"{what} returned None: it must return tensors (or values "
                             "convertible to tensors)")
        leaves.append(item)
        return None
    return walk(structure), leaves


def pack(skeleton, leaves: list):
    """The structure `flatten` took apart, with `leaves` in its places."""
    it = iter(leaves)

    def build(node):
        if node is None:
            return next(it)
        kind, cls, children = node
        if kind is dict:
            return cls((k, build(child)) for k, child in children)
        values = [build(child) for child in children]
        return cls(*values) if hasattr(cls, "_fields") else cls(values)
    return build(skeleton)


def describe_structure(skeleton) -> str:
    """`(., [., .])`: a skeleton for errors (a dot per leaf)."""
    if skeleton is None:
        return "."
    kind, cls, children = skeleton
    if kind is dict:
        return "{" + ", ".join(f"{k!r}: {describe_structure(c)}" for k, c in children) + "}"
    inner = ", ".join(describe_structure(c) for c in children)
    return f"[{inner}]" if cls is list else f"({inner}{',' if len(children) == 1 else ''})"
