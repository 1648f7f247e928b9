"""graphjit's own file format: a graph as versioned JSON plus an .npz of its arrays.

`save(graph, "model.gjz")` writes one zip holding `graph.json` and `arrays.npz`;
a path ending in "/" (or naming an existing directory) gets the same two files
in a directory. `load(path)` reads either form and checks everything (JSON
syntax, schema, version, op types, attrs, references and their order, arrays,
then every op's shapes and dtypes by rebuilding it through the registry) before
it returns a graph; nothing in a file can run code. The layout of graph.json is
documented in the README (Saving and loading).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from graphjit.api import CompiledFunction, _resolve, default_feeds
from graphjit.api import compile as compile_graph
from graphjit.errors import GraphError, InternalError, UnsupportedError
from graphjit.feeds import flatten_fetches
from graphjit.graph import Graph, Operation, Tensor, format_spec
from graphjit.io.attrs_codec import AttrError, encode, shape_dims
from graphjit.io.container import GRAPH_ENTRY, open_graph_file, write_graph_file
from graphjit.io.loader import Loader
from graphjit.io.npz import DEFAULT_MAX_BYTES, Budget
from graphjit.io.schema import check_header, check_schema, parse_json
from graphjit.ops.state_ops import read_variable
from graphjit.session import Session
from graphjit.variables import Variable

FORMAT = "graphjit.graph"
FORMAT_VERSION = 1


def state_of(session) -> dict:
    """The variable values of a Session, of anything with a `.state` dict (a
    CompiledFunction), or a state dict itself."""
    state = session if isinstance(session, dict) else getattr(session, "state", None)
    if not isinstance(state, dict):
        raise TypeError(f"expected a Session (or an object with a .state dict, such as a "
                        f"CompiledFunction), got {type(session).__name__}")
    return state


# -- saving ---------------------------------------------------------------------------

def save(graph_or_compiled: Graph | CompiledFunction, path: str | os.PathLike,
         fetches=None, feeds=None, session=None) -> str:
    """Write a graph to `path` (a zip file, or a directory if `path` ends in "/" or is one).

    A CompiledFunction gives its graph, fetches and feeds. Otherwise fetches default,
    as in `graphjit.compile`, to the graph's outputs and feeds to the placeholders the
    fetches need; both are recorded by name for `load`. Every op of the graph is
    saved, not only what the fetches need. With `session` (a Session, or anything
    holding variable values in `.state`), every variable's current value is saved too.
    Returns the path written.
    """
    path = os.fspath(path)
    if isinstance(graph_or_compiled, CompiledFunction):
        graph = graph_or_compiled.source_graph
        fetches = graph_or_compiled.leaves if fetches is None else fetches
        feeds = graph_or_compiled.feeds if feeds is None else feeds
    elif isinstance(graph_or_compiled, Graph):
        graph = graph_or_compiled
    else:
        raise TypeError(f"save() takes a Graph or a CompiledFunction, got "
                        f"{type(graph_or_compiled).__name__}")
    graph, fetches = _resolve(graph, fetches)
    leaves, _ = flatten_fetches(graph, fetches)
    if feeds is None:
        feeds = default_feeds(leaves)
    feed_tensors = [graph.as_graph_element(f, allow_operation=False) for f in feeds]
    arrays: dict[str, np.ndarray] = {}
    doc = _describe(graph, leaves, feed_tensors, arrays, session)
    write_graph_file(path, _dumps(doc).encode("utf-8"), arrays)
    return path


def _describe(graph: Graph, leaves: list, feeds: list[Tensor], arrays: dict,
              session) -> dict:
    counts: dict[str, int] = {}

    def put(prefix: str):  # npz keys: "a0", "a1", ... for attrs, "v0", ... for variables
        def store(array: np.ndarray) -> str:
            counts[prefix] = counts.get(prefix, -1) + 1
            arrays[f"{prefix}{counts[prefix]}"] = array
            return f"{prefix}{counts[prefix]}"
        return store

    import graphjit
    ops = _op_entries(graph, put("a"))
    variables = []
    for op in graph.get_operations():
        if op.outputs and isinstance(op.outputs[0], Variable):
            var = op.outputs[0]
            variables.append({"op": op.name, "initial_value": var.initial_value.name,
                              "initializer": var.initializer.name,
                              "trainable": bool(var.trainable)})
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "graphjit_version": graphjit.__version__, "seed": graph.seed,
            "fetches": [leaf.name for leaf in leaves], "feeds": [t.name for t in feeds],
            "variables": variables,
            "variable_values": _variable_values(graph, session, put("v")),
            "collections": _collections(graph), "ops": ops}


def _op_entries(graph: Graph, put) -> list[dict]:
    """One JSON object per op, in graph order; a sub-graph attr holds its own ops."""
    def put_function(function) -> dict:
        return {"name": function.name, "inputs": [t.name for t in function.inputs],
                "outputs": [t.name for t in function.outputs],
                "ops": _op_entries(function.graph, put)}

    ops, seen = [], set()
    for op in graph.get_operations():
        for dep in [t.op for t in op.inputs] + list(op.control_inputs):
            if dep not in seen:
                raise InternalError(f"cannot save: {op.describe()} uses '{dep.name}', which "
                                    "is not an earlier op of the graph")
        seen.add(op)
        attrs = {}
        for key, value in op.attrs.items():
            try:
                attrs[key] = encode(value, put, put_function)
            except AttrError as exc:
                raise UnsupportedError(f"cannot save {op.describe()}: attr '{key}' "
                                       f"{exc}") from None
        ops.append({"name": op.name, "type": op.type, "inputs": [t.name for t in op.inputs],
                    "control_inputs": [c.name for c in op.control_inputs], "attrs": attrs,
                    "outputs": [{"shape": shape_dims(t.shape), "dtype": t.dtype.name}
                                for t in op.outputs]})
    return ops


def _variable_values(graph: Graph, session, put) -> dict[str, str]:
    if session is None:
        return {}
    state = state_of(session)
    keys = {}
    for op in graph.get_operations():
        if op.type != "VariableV2":
            continue
        value = np.asarray(read_variable(state, op))
        t = op.outputs[0]
        if value.shape != tuple(t.shape) or value.dtype != t.dtype.np:
            raise GraphError(f"cannot save variable '{op.name}' ({format_spec(t.shape, t.dtype)})"
                             f": the session holds a {format_spec(value.shape, value.dtype)} value "
                             "under its name (a session of another graph?)")
        keys[op.name] = put(value)
    return keys


def _collections(graph: Graph) -> dict[str, list]:
    out = {}
    for key, values in graph.collections.items():
        entries = []
        for value in values:
            if isinstance(value, Tensor) and value.graph is graph:
                entries.append({"tensor": value.name})
            elif isinstance(value, Operation) and value.graph is graph:
                entries.append({"op": value.name})
            else:
                warnings.warn(f"save: collection {key!r} holds a {type(value).__name__}, which "
                              "is not saved (only tensors and ops of the graph are)",
                              stacklevel=4)
        if isinstance(key, str):
            out[key] = entries
    return out


def _dumps(doc: dict) -> str:
    """JSON with one op per line: readable, and a diff of two files shows changed ops."""
    parts = []
    for key, value in doc.items():
        if key == "ops":
            body = ",\n  ".join(json.dumps(op, allow_nan=False) for op in value)
            parts.append(f'"ops": [\n  {body}\n ]')
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


# -- loading --------------------------------------------------------------------------

@dataclass
class LoadedGraph:
    """What `load` returns: a new graph, the recorded fetches (tensors, or ops) and feeds
    as its elements, and the variable values saved with a session, by variable name.

    The values are not in any session yet: `restore(sess)` puts them there (as TF's
    loaders restore into a session), `session()` and `compile()` do it for you.
    Running the variables' initializers resets them to their initial values.
    """

    graph: Graph
    fetches: list
    feeds: list[Tensor]
    variable_values: dict[str, np.ndarray] = field(default_factory=dict)
    path: str = ""
    graphjit_version: str = ""  # of the graphjit that wrote the file

    def restore(self, session) -> None:
        """Set the saved variable values in `session` (a Session, or a `.state` holder)."""
        state = state_of(session)
        for name, value in self.variable_values.items():
            state[name] = np.array(value, copy=True, order="C")  # the state owns its arrays

    def session(self, engine: str = "compiled") -> Session:
        """A new Session on the graph, with the saved variable values restored."""
        sess = Session(graph=self.graph, engine=engine)
        self.restore(sess)
        return sess

    def compile(self, passes=None) -> CompiledFunction:
        """`graphjit.compile` of the recorded fetches and feeds, variables restored in its
        state. A single fetch returns its array, as `graphjit.compile(graph)` does."""
        fetches = self.fetches[0] if len(self.fetches) == 1 else list(self.fetches)
        state: dict = {}
        self.restore(state)
        return compile_graph(self.graph, fetches=fetches, feeds=self.feeds, passes=passes,
                             state=state)


def load(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedGraph:
    """Read a graph written by `save`, checking all of it first; LoadError names the
    file and what is wrong. Ops keep their names, so fetching by name still works.

    `max_bytes` (default 4 GiB) bounds what a file can make graphjit spend: the bytes
    read (graph.json and the arrays the graph uses, uncompressed; arrays nothing uses
    are not read) and the static size of any one tensor of the graph (a Fill, Tile or
    Range whose attrs ask for more is refused, naming the op). Sizes are checked as
    declared, before anything is allocated; raise the limit for bigger trusted models.
    """
    path = os.fspath(path)
    budget = Budget(max_bytes)
    with open_graph_file(path, budget) as (graph_bytes, arrays):
        doc = parse_json(path, graph_bytes)
        check_header(path, doc, FORMAT, FORMAT_VERSION)
        check_schema(path, doc)
        graph, fetches, feeds, values = Loader(path, doc, arrays, max_bytes).load()
    return LoadedGraph(graph, fetches, feeds, values, path, doc["graphjit_version"])


__all__ = ["save", "load", "LoadedGraph", "FORMAT", "FORMAT_VERSION", "GRAPH_ENTRY",
           "DEFAULT_MAX_BYTES"]
