"""The define phase: Graph, Operation, Tensor and TensorFlow-1-style name scopes.

A Graph owns its operations in creation order (always a topological order,
since an op's inputs exist before it). Names follow TensorFlow's rules so code
that fetches tensors by name keeps working: `add`, `add_1`, `layer1/MatMul`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from graphjit import dtypes
from graphjit.errors import (
    Error,
    GraphError,
    GraphMismatchError,
    InvalidArgumentError,
    NotFoundError,
    ShapeError,
    SourceLine,
    UnknownRankError,
    user_source_line,
)

# The highest rank of a tensor. A kernel nests one loop per dimension, and CPython (so
# Numba) compiles at most 20 nested blocks; 16 leaves room for a kernel's own loops.
MAX_RANK = 16


class TensorShape(tuple):
    """A static shape: a tuple of ints, with None for a dimension unknown until run time."""

    unknown_rank = False  # True for UnknownShape

    def __new__(cls, dims=()):
        if dims is None or isinstance(dims, UnknownShape):
            return UNKNOWN_SHAPE
        return super().__new__(cls, tuple(None if d is None or d == -1 else int(d) for d in dims))

    @property
    def rank(self) -> int:
        return len(self)

    ndims = rank

    def as_list(self) -> list:
        return list(self)

    def is_fully_defined(self) -> bool:
        return all(d is not None for d in self)

    def num_elements(self) -> int | None:
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self:
            n *= d
        return n

    def is_compatible_with(self, other) -> bool:
        if type(other) is tuple and all(type(d) is int and d >= 0 for d in other):
            # an array's shape (every fed value is checked): no TensorShape built
            return len(self) == len(other) and all(
                a is None or a == b for a, b in zip(self, other))
        other = TensorShape(other)
        if other.unknown_rank:
            return True
        return len(self) == len(other) and all(
            a is None or b is None or a == b for a, b in zip(self, other))

    def __eq__(self, other) -> bool:
        if isinstance(other, list):
            other = tuple(other)
        return tuple.__eq__(self, other)

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __getitem__(self, item):
        result = tuple.__getitem__(self, item)
        return TensorShape(result) if isinstance(item, slice) else result

    def __repr__(self) -> str:
        return f"TensorShape({list(self)})"

    def __str__(self) -> str:
        return "(" + ", ".join("?" if d is None else str(d) for d in self) + \
            ("," if len(self) == 1 else "") + ")"


class UnknownShape(TensorShape):
    """The shape of a tensor whose rank is known only when a value is fed: a placeholder
    made without a shape (`tf.placeholder(tf.float32)`) and the ops computed from it.

    Such a graph is specialized per fed rank before it runs (graphjit.specialize). Its
    dims cannot be read at build time: len(), iteration and indexing raise an
    UnknownRankError instead of passing for a scalar's empty tuple.
    """

    unknown_rank = True

    def __new__(cls):
        return tuple.__new__(cls, ())

    @property
    def rank(self) -> None:
        return None

    ndims = rank

    def _unknown(self, *args):
        raise UnknownRankError("the rank of this tensor is unknown until a value is fed "
                               "(a placeholder made without a shape); give the placeholder "
                               "a shape, e.g. shape=[None, 784], where this code needs it")

    __len__ = __iter__ = __getitem__ = __bool__ = _unknown

    def as_list(self) -> list:
        raise UnknownRankError("as_list() is not defined on an unknown TensorShape.")

    def is_fully_defined(self) -> bool:
        return False

    def num_elements(self) -> None:
        return None

    def is_compatible_with(self, other) -> bool:
        return True

    def __eq__(self, other) -> bool:
        return isinstance(other, UnknownShape)

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return "TensorShape(None)"

    def __str__(self) -> str:
        return "<unknown>"


UNKNOWN_SHAPE = UnknownShape()


def format_spec(shape, dtype) -> str:
    """`float32[?,784]`: the compact form errors and dumps use."""
    if shape is None or getattr(shape, "unknown_rank", False):
        return f"{dtype}[<unknown rank>]"
    return f"{dtype}[{','.join('?' if d is None else str(d) for d in shape)}]"


class Tensor:
    """An edge of the graph: the value_index-th output of an operation."""

    __slots__ = ("op", "value_index", "shape", "dtype")
    __array_priority__ = 100  # so numpy_array + tensor calls Tensor.__radd__

    def __init__(self, op: Operation, value_index: int, shape: TensorShape, dtype: dtypes.DType):
        self.op = op
        self.value_index = value_index
        self.shape = shape
        self.dtype = dtype

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def graph(self) -> Graph:
        return self.op.graph

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def get_shape(self) -> TensorShape:
        return self.shape

    def set_shape(self, shape) -> None:
        """Merge `shape` into this tensor's static shape (TF's Tensor.set_shape); shapes
        that do not fit raise ShapeError. See graphjit.ops.core.set_static_shape."""
        from graphjit.ops.core import set_static_shape
        set_static_shape(self, shape)

    def consumers(self) -> list[Operation]:
        return [op for op in self.graph._ops if any(t is self for t in op.inputs)]

    def eval(self, feed_dict=None, session=None):
        """This tensor's value, run in `session` or the default session (TF1's Tensor.eval)."""
        from graphjit.session import run_in_session
        return run_in_session(self, feed_dict, session)

    def __repr__(self) -> str:
        return f"<graphjit.Tensor '{self.name}' shape={self.shape} dtype={self.dtype}>"

    def __bool__(self):
        raise TypeError(
            f"using graphjit.Tensor '{self.name}' as a Python bool is not allowed: its value "
            "is only known when the graph runs; use graphjit.where / logical ops instead")

    def __iter__(self):
        if not self.shape or self.shape[0] is None:
            raise TypeError(f"cannot iterate over tensor '{self.name}' of shape {self.shape}")
        return (self[i] for i in range(self.shape[0]))

    def __len__(self):
        if not self.shape or self.shape[0] is None:
            raise TypeError(f"len() of tensor '{self.name}' of shape {self.shape} is unknown")
        return self.shape[0]

    # Identity semantics (as in TF1): == is not elementwise, use graphjit.equal.
    __hash__ = object.__hash__


class Operation:
    """A node of the graph: an op type from the registry applied to input tensors."""

    __slots__ = ("graph", "name", "type", "inputs", "attrs", "outputs", "source",
                 "control_inputs", "index", "device")

    def __init__(self, graph: Graph, name: str, op_type: str, inputs: tuple[Tensor, ...],
                 attrs: dict, source: SourceLine | None, control_inputs=()):
        self.graph = graph
        self.name = name
        self.type = op_type
        self.inputs = inputs
        self.attrs = attrs
        self.source = source
        self.outputs: tuple[Tensor, ...] = ()
        self.control_inputs = tuple(control_inputs)
        self.index = -1  # its position in graph order, once the graph holds it
        self.device = ""  # the requested device (TF's attribute; graphjit runs on the CPU)

    def values(self) -> tuple[Tensor, ...]:
        return self.outputs

    def get_attr(self, name: str):
        return self.attrs[name]

    def run(self, feed_dict=None, session=None) -> None:
        """Run this op in `session` or the default session (TF1's Operation.run), e.g.
        `graphjit.global_variables_initializer().run()`."""
        from graphjit.session import run_in_session
        run_in_session(self, feed_dict, session)

    def describe(self) -> str:
        """`Add 'c' (float32[2], float32[2])`: how errors name this op."""
        ins = ", ".join(format_spec(t.shape, t.dtype) for t in self.inputs)
        return f"{self.type} '{self.name}' ({ins})"

    def __repr__(self) -> str:
        return f"<graphjit.Operation '{self.name}' type={self.type}>"


_default_graph_stack = threading.local()


def _graph_stack() -> list[Graph]:
    if not hasattr(_default_graph_stack, "stack"):
        _default_graph_stack.stack = []
    return _default_graph_stack.stack


_global_default_graph: Graph | None = None


class Graph:
    """A dataflow graph: the define phase builds it, a Session or `compile` runs it."""

    def __init__(self):
        self._ops: list[Operation] = []
        self._by_name: dict[str, Operation] = {}
        self._names_in_use: dict[str, int] = {}
        self._name_stack = ""
        self._control_stack: list[list[Operation]] = []
        self._device_stack: list = []  # tf.device scopes, outermost first (graphjit.placement)
        self.version = 0  # bumped on every new op; sessions cache plans per version
        self.collections: dict[str, list] = {}
        self.seed: int | None = None  # graph-level random seed (set_random_seed)

    # -- naming ------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        """TF's uniquifying: `name`, then `name_1`, `name_2`, ... (case-insensitive)."""
        if self._name_stack:
            name = self._name_stack + "/" + name
        key = name.lower()
        i = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = i + 1
        if i > 0:
            base = key
            while key in self._names_in_use:
                key = f"{base}_{i}"
                i += 1
            if mark_as_used:
                self._names_in_use[key] = 1
            name = f"{name}_{i - 1}"
        return name

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """Open a scope; yields its prefix ("layer1/"). A name ending in "/" re-enters it."""
        old = self._name_stack
        if not name:
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield new + "/" if new else ""
        finally:
            self._name_stack = old

    def _op_name(self, name: str | None, default: str) -> str:
        if name is not None and not isinstance(name, str):
            raise GraphError(f"{default} at {user_source_line()}: op name must be a string, "
                             f"got {name!r}")
        if name and name.endswith("/"):
            full = name[:-1]  # TF: a scope string names the op exactly (composite ops)
            self._names_in_use.setdefault(full.lower(), 1)
        else:
            full = self.unique_name(name or default)
        if full in self._by_name:
            raise GraphError(f"an operation named '{full}' already exists in the graph")
        return full

    # -- building ----------------------------------------------------------
    def create_op(self, op_type: str, inputs, attrs: dict | None = None,
                  name: str | None = None, default_name: str | None = None, *,
                  source: str | None = None, like: Operation | None = None) -> Operation:
        """Add an op of a registered type; shapes and dtypes are inferred (and checked) now.

        An input of a graph this one is nested in (a cond branch or loop body reading an
        outer tensor) is captured: the op reads the placeholder `capture` gives for it.
        Graph rewrites pass the user's `source` line of the op they rewrite, and `like`,
        an op of the same type and attrs whose inputs had the same shapes and dtypes:
        its outputs' shapes and dtypes are reused instead of inferred again (copying a
        graph stays cheap).
        """
        from graphjit.registry import get_op_def, infer_specs

        op_def = get_op_def(op_type)
        inputs = tuple(inputs)
        attrs = dict(attrs or {})
        for t in inputs:
            if not isinstance(t, Tensor):
                raise GraphError(f"{op_type}: inputs must be Tensors, got {type(t).__name__}")
        if any(t.graph is not self and self.encloses(t.graph) for t in inputs):
            inputs = tuple(t if t.graph is self or not self.encloses(t.graph)
                           else self.capture(t) for t in inputs)
        for t in inputs:
            if t.graph is not self:
                raise GraphMismatchError(
                    f"{op_type} '{name or default_name or op_type}' at {user_source_line()}: "
                    f"input '{t.name}' belongs to another graph than "
                    f"{', '.join(repr(u.name) for u in inputs if u.graph is self) or 'this one'}"
                    "; tensors of two graphs cannot be mixed (create them under the same "
                    "`with graph.as_default():`)")
        full_name = self._op_name(name, default_name or op_type)
        control = [op for deps in self._control_stack for op in deps]
        op = Operation(self, full_name, op_type, inputs, attrs,
                       user_source_line() if source is None else source, control)
        if self._device_stack:
            from graphjit.placement import place
            place(op, self._device_stack)
        if like is not None and like.type == op_type and len(like.inputs) == len(inputs) \
                and all(a.dtype == b.dtype and a.shape == b.shape
                        for a, b in zip(like.inputs, inputs)):
            specs = [(t.shape, t.dtype) for t in like.outputs]
        else:
            try:
                specs = infer_specs(op_def, [(t.shape, t.dtype) for t in inputs], attrs)
            except Error as exc:
                raise type(exc)(f"{op.describe()} at {op.source}: {exc}") from None
            for shape, dtype in specs:
                if shape is not None and not getattr(shape, "unknown_rank", False) \
                        and len(shape) > MAX_RANK:
                    raise ShapeError(f"{op.describe()} at {op.source}: its result "
                                     f"{format_spec(shape, dtype)} has rank {len(shape)}; "
                                     f"graphjit supports ranks up to {MAX_RANK}")
        op.outputs = tuple(Tensor(op, i, shape if type(shape) is TensorShape
                                  else TensorShape(shape), dtype)
                           for i, (shape, dtype) in enumerate(specs))
        op.index = len(self._ops)
        self._ops.append(op)
        self._by_name[full_name] = op
        self.version += 1
        return op

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs) -> Iterator[None]:
        """Ops created inside run after `control_inputs` (used by training updates);
        None, as in TF, clears the enclosing blocks' dependencies inside."""
        if control_inputs is None:
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        ops = [c.op if isinstance(c, Tensor) else c for c in control_inputs]
        self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    @contextlib.contextmanager
    def device(self, device_name_or_function) -> Iterator[None]:
        """Ops created inside record this device in `op.device` (TF's placement scope;
        graphjit.placement says how scopes merge). They run on the CPU all the same."""
        from graphjit.placement import scope_entry
        self._device_stack.append(scope_entry(device_name_or_function))
        try:
            yield
        finally:
            self._device_stack.pop()

    def colocate_with(self, op, ignore_existing: bool = False):
        """Accepted and ignored: every graphjit op runs in the same place."""
        from graphjit.placement import no_op_scope
        return no_op_scope()

    def container(self, container_name: str):
        """Accepted and ignored: variables live per Session, with no containers."""
        from graphjit.placement import no_op_scope
        return no_op_scope()

    # -- nesting -------------------------------------------------------------
    # A function graph (graphjit.function.FuncGraph: a cond branch, a loop body) sits in
    # an outer graph; the tensors of the graphs enclosing it that its ops read are
    # captured, i.e. become its inputs. A plain Graph encloses nothing.
    outer: Graph | None = None

    def encloses(self, graph: Graph) -> bool:
        """True when `graph` is one of the graphs this one is nested in."""
        outer = self.outer
        while outer is not None:
            if outer is graph:
                return True
            outer = outer.outer
        return False

    def capture(self, t: Tensor) -> Tensor:
        """The tensor of this graph standing for `t`, of an enclosing graph."""
        raise GraphMismatchError(f"'{t.name}' belongs to another graph")

    def as_graph_def(self, from_version=None, add_shapes: bool = False):
        """TF's GraphDef protobuf of every op (graphjit.summary.graph_def: tensorboard's
        copies of TF's protobuf classes, so it needs `pip install 'graphjit[tensorboard]'`);
        `add_shapes` adds `_output_shapes` to each node, as TF does."""
        from graphjit.summary.writer import require_tensorboard
        require_tensorboard("Graph.as_graph_def()")
        from graphjit.summary.graph_def import graph_def
        return graph_def(self, add_shapes=add_shapes)

    # -- lookup ------------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        if not isinstance(name, str):
            raise TypeError(f"operation name must be a string, got {type(name).__name__}")
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFoundError(
                f"the graph has no operation named '{name}'{self._similar(name)}") from None

    def get_tensor_by_name(self, name: str) -> Tensor:
        if not isinstance(name, str) or ":" not in name:
            raise NotFoundError(
                f"'{name}' is not a tensor name: tensor names look like 'op_name:0'")
        op_name, _, index = name.rpartition(":")
        op = self.get_operation_by_name(op_name)
        if not index.isdigit() or int(index) >= len(op.outputs):
            raise NotFoundError(f"operation '{op_name}' has {len(op.outputs)} output(s); "
                                f"'{name}' does not exist")
        return op.outputs[int(index)]

    def as_graph_element(self, obj, allow_tensor=True, allow_operation=True):
        """Resolve a Tensor, Operation or name to an element of this graph."""
        if isinstance(obj, str):
            if ":" in obj and allow_tensor:
                return self.get_tensor_by_name(obj)
            if allow_operation:
                return self.get_operation_by_name(obj)
            op = self.get_operation_by_name(obj)
            if len(op.outputs) == 1:
                return op.outputs[0]
            raise NotFoundError(f"'{obj}' names an operation, not a tensor; use '{obj}:0'")
        if isinstance(obj, (Tensor, Operation)):
            if obj.graph is not self:
                raise GraphMismatchError(f"{obj!r} belongs to another graph")
            if isinstance(obj, Tensor) and not allow_tensor:
                return obj.op
            return obj
        raise InvalidArgumentError(f"cannot interpret {type(obj).__name__} {obj!r} as a graph "
                                   "element (expected a Tensor, an Operation or a name)")

    def _similar(self, name: str) -> str:
        import difflib
        close = difflib.get_close_matches(name, list(self._by_name), n=3)
        return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""

    # -- default graph -----------------------------------------------------
    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        stack = _graph_stack()
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()

    def as_text(self, fetches=None) -> str:
        """One line per op: name, type, inputs, output dtype[shape] (the form dumps use).

        With `fetches`, only the ops they need are listed.
        """
        ops = self._ops
        if fetches is not None:
            from graphjit.graph_queries import ops_needed
            ops = ops_needed([f.op if isinstance(f, Tensor) else f for f in fetches], set())
        lines = []
        for op in ops:
            ins = ", ".join(t.name if t.value_index else t.op.name for t in op.inputs)
            outs = ", ".join(format_spec(t.shape, t.dtype) for t in op.outputs)
            attrs = _format_attrs(op)
            lines.append(f"{op.name} = {op.type}({ins}) -> {outs}{attrs}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    def add_to_collection(self, name: str, value) -> None:
        self.collections.setdefault(name, []).append(value)

    def get_collection(self, name: str) -> list:
        return list(self.collections.get(name, []))

    # -- pictures (graphjit.viz) ------------------------------------------------------
    def to_dot(self, max_nodes: int | None = None) -> str:
        """DOT text of this graph: ops, shapes on the edges, name scopes as clusters."""
        from graphjit.viz.dot import MAX_NODES, graph_dot
        return graph_dot(self, MAX_NODES if max_nodes is None else max_nodes)

    def svg(self, max_nodes: int | None = None) -> str:
        """This graph's picture as SVG text; needs Graphviz (a MissingDependencyError
        says what to install)."""
        from graphjit.viz.render import render_svg
        return render_svg(self.to_dot(max_nodes))

    def __repr__(self) -> str:
        from graphjit.viz.summary import graph_repr
        return graph_repr(self)

    def _repr_html_(self) -> str:
        from graphjit.viz.summary import graph_html
        return graph_html(self)


def _format_attrs(op: Operation) -> str:
    parts = []
    for key, value in op.attrs.items():
        if key in ("dtype", "shape") and op.type == "Placeholder":
            continue
        if hasattr(value, "shape") and hasattr(value, "dtype"):  # constant arrays
            value = value.item() if value.size == 1 else f"<{value.dtype}{list(value.shape)}>"
        parts.append(f"{key}={value}")
    return f"  {{{', '.join(parts)}}}" if parts else ""


def building_graph(graph: Graph) -> Graph:
    """The graph new ops reading tensors of `graph` go to: the default graph when it is a
    function graph nested in `graph` (a cond branch reading an outer tensor captures it,
    so the op runs only with the branch), else `graph`."""
    default = get_default_graph()
    return default if default is not graph and default.encloses(graph) else graph


def get_default_graph() -> Graph:
    """The innermost graph of `with g.as_default():`, else the global default graph."""
    stack = _graph_stack()
    if stack:
        return stack[-1]
    global _global_default_graph
    if _global_default_graph is None:
        _global_default_graph = Graph()
    return _global_default_graph


def reset_default_graph() -> None:
    """Replace the global default graph with a new empty one (TF1's reset_default_graph)."""
    if _graph_stack():
        raise GraphError("reset_default_graph() called inside a `with graph.as_default():` "
                         "block, or while a session is the default (close an "
                         "InteractiveSession first)")
    global _global_default_graph
    _global_default_graph = Graph()


def name_scope(name: str | None):
    """`with graphjit.name_scope("layer1"):` on the default graph."""
    return get_default_graph().name_scope(name)


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)
