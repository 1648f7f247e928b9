"""Export a graphjit graph to an ONNX model: deployment beyond graphjit's own runtime.

`export(graph_or_compiled, path, fetches=..., feeds=...)` keeps only what the
fetches need, cut at the feeds: the feeds become the model's inputs, the
fetches its outputs, Const ops initializers, and every other op one or a few
ONNX nodes (one translation per op type: graphjit.onnx.export_ops, export_conv).

Names: a graphjit tensor's ONNX value is named after its op when it is the op's
output 0 (`probs:0` -> "probs", placeholder `x` -> input "x"), else after the
tensor ("split:1"); helper values and nodes are named under the op
("conv1/Conv2D/Transpose"), and the node computing a tensor carries its op's
name. An unknown dim of input "x" is the symbolic dim "x_dim0" (axis 0).
A fetch that is also a feed, or fetched twice, comes out through an Identity
under a fresh name ("x_1").

Variables must be constants in a model: `session=` freezes them with that
session's values (graphjit.freeze), exporting a CompiledFunction uses its own
state; a graph with variables and neither is an error saying so. Only data
edges are exported: control dependencies order side effects, which a frozen
inference graph does not have.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import onnx
from onnx import helper, numpy_helper

import graphjit
from graphjit import dtypes
from graphjit.api import CompiledFunction, _resolve, default_feeds
from graphjit.errors import GraphError, InternalError, UnsupportedError
from graphjit.feeds import flatten_fetches
from graphjit.graph import Graph, Operation, Tensor
from graphjit.graph_queries import data_dependencies
from graphjit.onnx import export_conv, one_to_one  # noqa: F401  (register translations)
from graphjit.onnx.export_ops import TRANSLATIONS, OpContext
from graphjit.passes import optimize as optimize_graph
from graphjit.registry import NoOnnx, get_op_def
from graphjit.session import Session

DEFAULT_OPSET = 17  # onnxruntime >= 1.13 runs it; 18 moved Reduce* axes to inputs
MIN_OPSET = 13  # Squeeze/Unsqueeze/ReduceSum take axes as inputs from 13 on
_VARIABLE_OPS = ("VariableV2", "Assign")


def _check_ranks_known(ops) -> None:
    """The exporter writes every tensor's rank: a placeholder made without a shape has none
    until it is fed."""
    unknown = [op for op in ops if any(t.shape.unknown_rank for t in op.outputs)]
    if unknown:
        op = next((op for op in unknown if op.type == "Placeholder"), unknown[0])
        raise UnsupportedError(f"cannot export {op.describe()} at {op.source}: its rank is "
                               "unknown until a value is fed, and ONNX export needs every "
                               "tensor's rank; give the placeholder a shape (e.g. "
                               "shape=[None, 784])")


def export(graph_or_compiled: Graph | CompiledFunction, path: str | os.PathLike | None = None,
           fetches=None, feeds=None, opset: int | None = None, model_name: str | None = None,
           *, optimize: bool = True, session: Session | None = None) -> onnx.ModelProto:
    """The ONNX model computing `fetches` from `feeds`; also written to `path` if given.

    fetches/feeds default as graphjit.compile's do (a CompiledFunction's own; for a
    graph: its outputs, and the placeholders they need). `opset` (default 17) may
    be 13 up to the newest this onnx knows. `optimize` runs graphjit.optimize first
    (constant folding, CSE, ...). `session` freezes the graph's variables with
    its values. Inputs and outputs are named after the feeds' and fetches' ops
    (see the module docstring). The model passes onnx.checker's full check.
    """
    opset = DEFAULT_OPSET if opset is None else int(opset)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise UnsupportedError(f"export: opset {opset} is not supported; choose one from "
                               f"{MIN_OPSET} to {newest} (the newest this onnx knows)")
    graph, leaves, feed_list, state = _arguments(graph_or_compiled, fetches, feeds)
    if session is not None:
        state = session.state
    needed = _subgraph(leaves, feed_list)
    _check_ranks_known([t.op for t in feed_list] + list(needed))
    variables = [op for op in needed if op.type in _VARIABLE_OPS]
    if variables:
        if state is None:
            raise _freeze_first(variables[0])
        graph, leaves, feed_list = _freeze(state, graph, leaves, feed_list)
    if optimize:
        graph, report = optimize_graph(graph, leaves, keep=feed_list)
        leaves = [report.fetch_map[t] for t in leaves]
        feed_list = [report.lookup(t) for t in feed_list]
    model = _Builder(opset).build(leaves, feed_list, model_name or "graphjit")
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise InternalError(f"export built an ONNX model that onnx.checker rejects (a graphjit "
                            f"bug; please report it with the graph): {exc}") from None
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model


def _arguments(graph_or_compiled, fetches, feeds):
    """(graph, fetched tensors, fed tensors, variable state or None), with compile's defaults."""
    state = None
    if isinstance(graph_or_compiled, CompiledFunction):
        fn = graph_or_compiled
        graph, state = fn.source_graph, fn.state
        leaves = fn.leaves if fetches is None else _leaves(graph, fetches)
        if feeds is None and fetches is None:
            feeds = fn.feeds
    elif isinstance(graph_or_compiled, Graph):
        graph = graph_or_compiled
        leaves = _leaves(graph, _resolve(graph, fetches)[1])
    else:
        raise GraphError(f"export takes a graphjit.Graph or a CompiledFunction, got "
                         f"{type(graph_or_compiled).__name__}")
    for leaf in leaves:
        if isinstance(leaf, Operation):
            raise GraphError(f"export: fetch '{leaf.name}' is an operation ({leaf.type}); "
                             "ONNX outputs are tensors: fetch tensors such as "
                             f"'{leaf.name}:0'")
    if not leaves:
        raise GraphError("export: nothing to export (the graph has no outputs); pass fetches=")
    if feeds is None:
        feeds = default_feeds(leaves)
    elif isinstance(feeds, (Tensor, str)):
        feeds = [feeds]
    feed_list = [graph.as_graph_element(f, allow_operation=False) for f in feeds]
    if len(set(feed_list)) != len(feed_list):
        raise GraphError("export: a tensor is fed twice: " +
                         ", ".join(t.name for t in feed_list if feed_list.count(t) > 1))
    return graph, leaves, feed_list, state


def _leaves(graph: Graph, fetches) -> list:
    """The fetched tensors; a name in a flat list may be an op's ("probs" is "probs:0")."""
    if isinstance(fetches, str):
        fetches = [fetches]
    if isinstance(fetches, (list, tuple)):
        fetches = [graph.as_graph_element(f, allow_operation=False) if isinstance(f, str) else f
                   for f in fetches]
    return flatten_fetches(graph, fetches)[0]


def _subgraph(leaves: list[Tensor], feeds: list[Tensor]) -> list[Operation]:
    """The ops the fetches read through data edges, stopping at fed tensors, in graph order."""
    fed = set(feeds)
    needed = data_dependencies([t.op for t in leaves if t not in fed], fed)
    graph = leaves[0].graph
    return [op for op in graph.get_operations() if op in needed]


def _freeze_first(op: Operation) -> UnsupportedError:
    return UnsupportedError(
        f"cannot export {op.type} '{op.name}' (created at {op.source}): an ONNX model holds "
        "constants, not variables. Freeze the graph first (frozen, outputs = "
        "graphjit.freeze(sess, fetches), or graphjit.graph_util.convert_variables_to_constants)"
        ", or pass session=sess to export it with that session's variable values")


def _freeze(state: dict, graph: Graph, leaves: list, feeds: list):
    """Variables made constants with their values in `state`; feeds are carried along."""
    from graphjit.graph_util import freeze
    frozen, mapped = freeze(SimpleNamespace(state=state, graph=graph), list(leaves) + feeds,
                            graph=graph)
    return frozen, mapped[:len(leaves)], mapped[len(leaves):]


def value_name(t: Tensor) -> str:
    """The ONNX name of a graphjit tensor: its op's name for output 0, else the tensor's."""
    return t.op.name if t.value_index == 0 else t.name


def elem_type(dtype: dtypes.DType) -> int:
    return helper.np_dtype_to_tensor_dtype(dtype.np)


class _Builder:
    """Accumulates the nodes, initializers and names of one model."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.constants: dict[str, np.ndarray] = {}  # initializer name -> value
        self.defined: set[str] = set()  # values that exist: inputs, initializers, node outputs
        self.inputs: set[str] = set()
        self._used: set[str] = set()
        self._node_names: set[str] = set()
        self._cache: dict[tuple, str] = {}

    # -- names -----------------------------------------------------------------
    def fresh(self, base: str, used: set | None = None) -> str:
        used = self._used if used is None else used
        name, i = base, 0
        while name in used:
            i += 1
            name = f"{base}_{i}"
        used.add(name)
        return name

    # -- emission --------------------------------------------------------------
    def add_node(self, op_type: str, inputs, outputs, name: str, **attrs) -> onnx.NodeProto:
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node = helper.make_node(op_type, list(inputs), list(outputs),
                                name=self.fresh(name, self._node_names), **attrs)
        self.nodes.append(node)
        self.defined.update(outputs)
        return node

    def add_initializer(self, name: str, value: np.ndarray) -> str:
        value = np.asarray(value)
        self.initializers.append(numpy_helper.from_array(value, name))
        self.constants[name] = value
        self.defined.add(name)
        return name

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        """An initializer holding `value`; small ones are shared by value."""
        value = np.asarray(value)
        if value.size > 16:
            return self.add_initializer(self.fresh(hint), value)
        key = (value.dtype.str, value.shape, value.tobytes())
        if key not in self._cache:
            self._cache[key] = self.add_initializer(self.fresh(hint), value)
        return self._cache[key]

    # -- the model ---------------------------------------------------------------
    def build(self, leaves: list[Tensor], feeds: list[Tensor], model_name: str):
        ops = _subgraph(leaves, feeds)
        for t in feeds:
            self._used.add(value_name(t))
        for op in ops:
            self._used.update(value_name(t) for t in op.outputs)
            self._node_names.add(op.name)  # the node computing its result takes it
        names: dict[Tensor, str] = {}
        graph_inputs = []
        for t in feeds:
            name = names[t] = value_name(t)
            dims = [f"{name}_dim{i}" if d is None else d for i, d in enumerate(t.shape)]
            graph_inputs.append(helper.make_tensor_value_info(name, elem_type(t.dtype), dims))
            self.defined.add(name)
            self.inputs.add(name)
        fetched = set(leaves)
        for op in ops:
            if op.type == "Placeholder":
                t = op.outputs[0]
                raise GraphError(f"export: placeholder '{op.name}' ({t.dtype}, shape {t.shape}, "
                                 f"created at {op.source}) is needed by the fetches but is not "
                                 "among the feeds; add it to feeds=")
            if op.type == "Const":
                t = op.outputs[0]
                name = value_name(t)
                if t in fetched:  # the output's name goes to an Identity (see _outputs)
                    name = self.fresh(f"{name}/value")
                names[t] = self.add_initializer(name, op.attrs["value"])
                continue
            self._translate(op, [names[t] for t in op.inputs], names)
        outputs = self._outputs(leaves, names)
        # A constant only read transposed (a conv filter) would be stored twice.
        read = {v for n in self.nodes for v in n.input} | {o.name for o in outputs}
        initializers = [t for t in self.initializers if t.name in read]
        graph = helper.make_graph(self.nodes, model_name, graph_inputs, outputs,
                                  initializer=initializers)
        opsets = [helper.make_opsetid("", self.opset)]
        return helper.make_model(graph, opset_imports=opsets, producer_name="graphjit",
                                 producer_version=graphjit.__version__,
                                 ir_version=helper.find_min_ir_version_for(opsets))

    def _translate(self, op: Operation, inputs: list[str], names: dict) -> None:
        translation = TRANSLATIONS.get(op.type)
        if translation is None:
            mapping = get_op_def(op.type).onnx
            why = mapping.reason if isinstance(mapping, NoOnnx) else \
                "graphjit has no ONNX translation for it"
            raise UnsupportedError(f"cannot export {op.type} '{op.name}' (created at "
                                   f"{op.source}) to ONNX: {why}")
        start = len(self.nodes)
        results = translation(OpContext(self, op, inputs))
        if isinstance(results, str):
            results = [results]
        for t, result in zip(op.outputs, results):
            names[t] = self._bind(op, result, value_name(t), start)

    def _bind(self, op: Operation, result: str, want: str, start: int) -> str:
        """Give the value a translation computed its tensor's name (a value it merely
        passed through, such as an Identity's input, is used as it is)."""
        new_nodes = self.nodes[start:]
        producer = next((n for n in new_nodes if result in n.output), None)
        if producer is None:
            return result
        if result != want:
            for node in new_nodes:
                for field in (node.input, node.output):
                    for i, v in enumerate(field):
                        if v == result:
                            field[i] = want
            self.defined.add(want)
        if not any(n.name == op.name for n in new_nodes):  # (one node per op takes its name:
            self._node_names.discard(producer.name)  # a second output's has its own)
            producer.name = op.name
        return want

    def _outputs(self, leaves: list[Tensor], names: dict) -> list:
        outputs, taken = [], set()
        for t in leaves:
            name = names[t]
            if name in self.inputs or name in self.constants or name in taken \
                    or name != value_name(t):
                want = value_name(t)
                out = want if want not in self.defined else self.fresh(want)
                self.add_node("Identity", [name], [out], f"{want}/Identity")
                name = out
            taken.add(name)
            outputs.append(helper.make_tensor_value_info(name, elem_type(t.dtype),
                                                         list(t.shape)))
        return outputs


__all__ = ["export", "DEFAULT_OPSET", "MIN_OPSET", "value_name"]
