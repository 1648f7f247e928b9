"""Reading graph.json into a Graph: the checks that need to know ops, then the rebuild.

The order is: unique names; per op, its type, inputs (exist, come earlier, index
in range; a cycle is named as one), attrs (names the op's reference takes, tags,
kinds, npz keys; arrays are read here, only those named); then every op is
rebuilt through the registry (inference re-checks shapes and dtypes, which must
equal those the file records, and no output may be statically bigger than
max_bytes, checked before the op exists, so a Fill of 2**40 is never run); then
variables, collections, fetches, feeds and saved variable values are resolved.
Any failure is a LoadError naming the file; the half-built graph is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from graphjit.errors import GraphError, LoadError, SourceLine
from graphjit.function import FuncGraph, Function
from graphjit.graph import Graph, Operation, Tensor, format_spec
from graphjit.io.attrs_codec import AttrError, check_kind, decode, op_signature, shape_dims
from graphjit.io.container import ARRAYS_ENTRY
from graphjit.io.npz import NpzReader, human_bytes
from graphjit.io.schema import FUNCTION, OP, OUTPUT, check_fields
from graphjit.registry import all_op_defs, get_op_def, infer_specs
from graphjit.variables import Variable


@dataclass(frozen=True)
class FileSource(SourceLine):
    """Where a loaded op comes from: errors about it show `file:op name`."""

    op_name: str = ""

    def __str__(self) -> str:
        return f"{self.filename}:{self.op_name}"


class Loader:
    """Checks and rebuilds one parsed graph.json (already schema-checked) with its arrays;
    a Loader of its own rebuilds each sub-graph (`function`: its name) an attr holds."""

    def __init__(self, path: str, doc: dict, arrays: NpzReader, max_bytes: int,
                 function: str | None = None):
        self.path, self.doc, self.arrays, self.max_bytes = path, doc, arrays, max_bytes
        self.ops: list[dict] = doc["ops"]
        self.position: dict[str, int] = {}
        self.variables = {v["op"]: v for v in doc["variables"]}
        self.known_types = all_op_defs()
        self.function = function

    def fail(self, message: str) -> NoReturn:
        where = f"in function '{self.function}': " if self.function else ""
        raise LoadError(f"{self.path}: {where}{message}")

    def load_function(self) -> Function:
        """The sub-graph of a function attr (its payload checked by `_function`)."""
        for i, entry in enumerate(self.ops):
            first = self.position.setdefault(entry["name"], i)
            if first != i:
                self.fail(f"ops[{first}] and ops[{i}] are both named '{entry['name']}'")
        graph = self._build([self._check_op(i, entry) for i, entry in enumerate(self.ops)])
        inputs = [self._element(graph, name, f"inputs[{i}]", tensor=True)
                  for i, name in enumerate(self.doc["inputs"])]
        for name, t in zip(self.doc["inputs"], inputs):
            if t.op.type != "Placeholder":
                self.fail(f"input '{name}' is not a placeholder")
        if len({t.op for t in inputs}) != len(inputs) or len(inputs) != sum(
                op.type == "Placeholder" for op in graph.get_operations()):
            self.fail("the inputs must name each placeholder of the function once")
        outputs = [self._element(graph, name, f"outputs[{i}]", tensor=True)
                   for i, name in enumerate(self.doc["outputs"])]
        return Function(graph, inputs, outputs)

    def _function(self, payload) -> Function:
        """Decoder of a {"function": payload} attr: a nested Loader rebuilds it."""
        what = "a sub-graph"
        if type(payload) is not dict:
            raise AttrError(f"{what} should be an object, got {type(payload).__name__}")
        try:
            check_fields(self.path, payload, FUNCTION, what)
            for i, op in enumerate(payload["ops"]):
                check_fields(self.path, op, OP, f"{what} ops[{i}]")
                for k, output in enumerate(op["outputs"]):
                    check_fields(self.path, output, OUTPUT, f"{what} ops[{i}] outputs[{k}]")
        except LoadError as exc:
            raise AttrError(str(exc).removeprefix(f"{self.path}: ")) from None
        name = payload["name"]
        doc = {"ops": payload["ops"], "variables": [], "seed": self.doc["seed"],
               "inputs": payload["inputs"], "outputs": payload["outputs"]}
        try:
            return Loader(self.path, doc, self.arrays, self.max_bytes, name).load_function()
        except LoadError as exc:  # the op and attr holding it are named around it
            raise AttrError(str(exc).removeprefix(f"{self.path}: ")) from None

    def load(self) -> tuple[Graph, list, list[Tensor], dict[str, np.ndarray]]:
        """(graph, fetches, feeds, saved variable values by name), all checked."""
        for i, entry in enumerate(self.ops):
            first = self.position.setdefault(entry["name"], i)
            if first != i:
                self.fail(f"ops[{first}] and ops[{i}] are both named '{entry['name']}' "
                          "(op names must be unique)")
        attrs = [self._check_op(i, entry) for i, entry in enumerate(self.ops)]
        for name in self.variables:
            if name not in self.position or self.ops[self.position[name]]["type"] != "VariableV2":
                self.fail(f"'variables' lists '{name}', which is not a VariableV2 op of the file")
        graph = self._build(attrs)
        self._restore_variables(graph)
        for key, entries in self.doc["collections"].items():
            for entry in entries:
                is_tensor = "tensor" in entry
                name = entry["tensor" if is_tensor else "op"]
                element = self._element(graph, name, f"collection '{key}'", tensor=is_tensor)
                if not is_tensor and not isinstance(element, Operation):
                    self.fail(f"collection '{key}': '{name}' should name an op, not a tensor")
                graph.add_to_collection(key, element)
        fetches = [self._element(graph, name, f"fetches[{i}]")
                   for i, name in enumerate(self.doc["fetches"])]
        feeds = [self._element(graph, name, f"feeds[{i}]", tensor=True)
                 for i, name in enumerate(self.doc["feeds"])]
        return graph, fetches, feeds, self._variable_values(graph)

    # -- checks before building -------------------------------------------------------
    def _check_op(self, i: int, entry: dict) -> dict:
        name, op_type = entry["name"], entry["type"]
        what = f"op '{name}' ({op_type})"
        if op_type not in self.known_types:
            self.fail(f"op '{name}' has unknown op type '{op_type}' (not an op of this "
                      "graphjit; was the file written by a newer one?)")
        signature = op_signature(op_type)
        if signature is not None and signature[0] is not None \
                and len(entry["inputs"]) != signature[0]:
            self.fail(f"{what} has {len(entry['inputs'])} input(s); {op_type} takes "
                      f"{signature[0]}")
        for ref in entry["inputs"]:
            op_name, sep, index = ref.rpartition(":")
            if not sep or not op_name or not index.isdigit():
                self.fail(f"{what} input '{ref}' is not a tensor name like 'op:0'")
            j = self._reference(i, what, f"input '{ref}'", op_name)
            n = len(self.ops[j]["outputs"])
            if int(index) >= n:
                self.fail(f"{what} input '{ref}': op '{op_name}' has {n} output(s), so output "
                          f"index {index} is out of range")
        for ref in entry["control_inputs"]:
            self._reference(i, what, f"control input '{ref}'", ref)
        return self._decode_attrs(what, op_type, entry["attrs"], signature)

    def _reference(self, i: int, what: str, label: str, op_name: str) -> int:
        j = self.position.get(op_name)
        if j is None:
            self.fail(f"{what} {label}: the file has no op named '{op_name}' (a dangling input)")
        if j >= i:
            cycle = self._cycle(i, j)
            if cycle:
                self.fail(f"{what} {label}: the ops form a cycle ({' -> '.join(cycle)}); "
                          "a graph must be acyclic")
            self.fail(f"{what} {label}: op '{op_name}' is listed after it (ops[{j}] vs "
                      f"ops[{i}]); ops must be in topological order")
        return j

    def _uses(self, j: int) -> list[int]:
        entry = self.ops[j]
        names = [r.rpartition(":")[0] for r in entry["inputs"]] + entry["control_inputs"]
        return [self.position[n] for n in names if n in self.position]

    def _cycle(self, i: int, j: int) -> list[str] | None:
        """Op names along a path i -> j -> ... -> i of 'uses' edges, if there is one."""
        parent, stack = {j: i}, [j]
        while stack:
            k = stack.pop()
            for u in self._uses(k):
                if u == i:
                    path = [k]
                    while path[-1] != i:
                        path.append(parent[path[-1]])
                    return [self.ops[n]["name"] for n in [i, *reversed(path[:-1]), i]]
                if u not in parent:
                    parent[u] = k
                    stack.append(u)
        return None

    def _decode_attrs(self, what: str, op_type: str, encoded: dict, signature) -> dict:
        if signature is not None:
            _, required, optional = signature
            takes = ", ".join(sorted(required | optional)) or "no attrs"
            for key in sorted(required - encoded.keys()):
                self.fail(f"{what} lacks attr '{key}' ({op_type} takes {takes})")
            for key in sorted(encoded.keys() - required - optional):
                self.fail(f"{what} has attr '{key}', which {op_type} does not take "
                          f"({op_type} takes {takes})")
        attrs = {}
        for key, obj in encoded.items():
            try:
                value = decode(obj, self._array, self._function)
            except AttrError as exc:
                self.fail(f"{what} attr '{key}': {exc}")
            except RecursionError:
                self.fail(f"{what} attr '{key}' is nested too deeply")
            expected = check_kind(op_type, key, value)
            if expected is not None:
                self.fail(f"{what} attr '{key}': expected {expected}, got "
                          f"{type(value).__name__} {value!r:.60}")
            attrs[key] = value
        return attrs

    def _read(self, key: str) -> np.ndarray | None:
        """Array `key`, read now; errors lose the path prefix (the caller adds its op)."""
        try:
            return self.arrays.get(key)
        except LoadError as exc:
            raise AttrError(str(exc).removeprefix(f"{self.path}: ")) from None

    def _array(self, key: str) -> np.ndarray:
        array = self._read(key)
        if array is None:
            raise AttrError(f"{ARRAYS_ENTRY} has no array '{key}'")
        array.flags.writeable = False  # graph constants are never written
        return array

    # -- building -----------------------------------------------------------------------
    def _build(self, attrs: list[dict]) -> Graph:
        graph = Graph() if self.function is None else FuncGraph(None, self.function)
        reserved: set[str] = set()
        for entry in self.ops:  # scopes too: a later name_scope("dense") gets "dense_1"
            parts = entry["name"].split("/")
            for k in range(1, len(parts) + 1):
                prefix = "/".join(parts[:k])
                if prefix.lower() not in reserved:
                    reserved.add(prefix.lower())
                    graph.unique_name(prefix)
        graph.seed = self.doc["seed"]
        built: dict[str, Operation] = {}
        for i, (entry, op_attrs) in enumerate(zip(self.ops, attrs)):
            name, op_type = entry["name"], entry["type"]
            inputs = [built[n].outputs[int(k)] for n, _, k in
                      (ref.rpartition(":") for ref in entry["inputs"])]
            specs = ", ".join(format_spec(t.shape, t.dtype) for t in inputs)
            try:
                # Inference first, for its bare message (create_op adds the caller's line).
                out = infer_specs(get_op_def(op_type), [(t.shape, t.dtype) for t in inputs],
                                  op_attrs)
            except Exception as exc:  # noqa: BLE001 - any failure of a file's op is a LoadError
                self.fail(f"op '{name}' ({op_type}) cannot be rebuilt from inputs ({specs}): "
                          f"{exc}")
            self._check_size(name, op_type, out)
            try:
                op = graph.create_op(op_type, inputs, op_attrs, name=name + "/")
            except Exception as exc:  # noqa: BLE001
                self.fail(f"op '{name}' ({op_type}) cannot be rebuilt from inputs ({specs}): "
                          f"{exc}")
            op.control_inputs = tuple(built[c] for c in entry["control_inputs"])
            op.source = FileSource(self.path, i, name if self.function is None
                                   else f"{self.function}/{name}")
            self._check_outputs(op, entry["outputs"])
            if name in self.variables:
                var = Variable.__new__(Variable)  # the Variable class, without new ops
                Tensor.__init__(var, op, 0, op.outputs[0].shape, op.outputs[0].dtype)
                op.outputs = (var,)
            built[name] = op
        return graph

    def _check_size(self, name: str, op_type: str, specs: list) -> None:
        """No output may be statically bigger than max_bytes: a Fill of 2**40 elements is
        refused here, not found by the run it would make (None dims count as 1)."""
        for k, (shape, dtype) in enumerate(specs):
            size = dtype.size
            if shape is None or getattr(shape, "unknown_rank", False):
                continue  # known once fed, and checked then
            for d in shape:
                size *= 1 if d is None else d
            if size > self.max_bytes:
                self.fail(f"op '{name}' ({op_type}) output {k} would be "
                          f"{format_spec(shape, dtype)}: {human_bytes(size)}, more than "
                          f"max_bytes ({human_bytes(self.max_bytes)}) allows for one tensor; "
                          "if the file is trusted, pass a larger max_bytes")

    def _check_outputs(self, op: Operation, recorded: list[dict]) -> None:
        what = f"op '{op.name}' ({op.type})"
        if len(recorded) != len(op.outputs):
            self.fail(f"{what} has {len(op.outputs)} output(s) when rebuilt, but the file "
                      f"records {len(recorded)}")
        for t, spec in zip(op.outputs, recorded):
            if t.dtype.name != spec["dtype"] or shape_dims(t.shape) != spec["shape"]:
                self.fail(f"output '{t.name}' of {what} is {format_spec(t.shape, t.dtype)} "
                          "when rebuilt, but the file records "
                          f"{format_spec(spec['shape'], spec['dtype'])}")

    def _element(self, graph: Graph, name: str, where: str, tensor: bool = False):
        if tensor and ":" not in name:
            self.fail(f"{where} '{name}' is not a tensor name like 'op:0'")
        try:
            return graph.as_graph_element(name)
        except GraphError as exc:
            self.fail(f"{where} '{name}': {exc}")

    def _restore_variables(self, graph: Graph) -> None:
        for name, meta in self.variables.items():
            var = graph.get_operation_by_name(name).outputs[0]
            where = f"variable '{name}'"
            var.initial_value = self._element(graph, meta["initial_value"],
                                              f"{where} initial_value", tensor=True)
            init = self._element(graph, meta["initializer"], f"{where} initializer")
            if not isinstance(init, Operation) or init.type != "Assign" \
                    or init.inputs[0] is not var:
                self.fail(f"{where}: its initializer '{meta['initializer']}' is not an Assign "
                          "to it")
            var.initializer = init
            var.trainable = meta["trainable"]

    def _variable_values(self, graph: Graph) -> dict[str, np.ndarray]:
        values, ops = {}, graph.get_operations()  # in file order: ops[position[name]]
        for name, key in self.doc["variable_values"].items():
            op = ops[self.position[name]] if name in self.position else None
            if op is None or op.type != "VariableV2":
                self.fail(f"'variable_values' has a value for '{name}', which is not a "
                          "variable of the graph")
            try:
                array = self._read(key)
            except AttrError as exc:
                self.fail(f"the saved value of variable '{name}': {exc}")
            if array is None:
                self.fail(f"the value of variable '{name}' should be array '{key}', which "
                          f"{ARRAYS_ENTRY} does not have")
            t = op.outputs[0]
            if array.shape != tuple(t.shape) or array.dtype != t.dtype.np:
                self.fail(f"the saved value of variable '{name}' is "
                          f"{format_spec(array.shape, array.dtype)}; the variable is "
                          f"{format_spec(t.shape, t.dtype)}")
            values[name] = array
        return values

