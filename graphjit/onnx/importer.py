"""ONNX model -> graphjit Graph: placeholders for the model's inputs, constants for its
initializers, and one converter call per node (graphjit.onnx.convert).

The importer tracks which values it knows at build time (initializers, Constant
nodes, shapes of tensors whose shape is static, and whatever a node computes
from known values only, which it evaluates with graphjit's NumPy reference
interpreter), because graphjit takes shapes, axes and slice bounds as static
arguments: chains such as Shape -> Gather -> Unsqueeze -> Concat -> Reshape
become static. For a value it does not know, it records which model inputs it
came from, so the backend can specialize on exactly those.
"""

from __future__ import annotations

import copy
import os
from collections import ChainMap

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, Error, GraphError, InternalError, UnsupportedError
from graphjit.graph import Graph, Tensor, TensorShape, format_spec
from graphjit.io.npz import DEFAULT_MAX_BYTES, human_bytes
from graphjit.onnx import bfloat16, one_to_one, symbolic  # noqa: F401  (converters register)
from graphjit.onnx.convert import (
    CONVERTERS,
    DEFAULT_DOMAINS,
    SPECS,
    InvalidModelError,
    NodeContext,
    OnnxLoadError,
    StaticValueRequired,
    converted_domains,
    converter_key,
    normal_domain,
)
from graphjit.onnx.trainable import trainable_import, variable
from graphjit.onnx.types import np_dtype, to_dtype
from graphjit.onnx.validate import check_node, node_label
from graphjit.onnx.values import OptionalValue, SequenceValue, flatten, is_value

# Node results computed from known values are evaluated at import when this small:
# shape arithmetic, not weights (the compiler's constant folding handles those).
FOLD_MAX_ELEMENTS = 1 << 16
MIN_OPSET = 13


class OnnxGraph(Graph):
    """A Graph imported from an ONNX model, which remembers the model's interface.

    `inputs`/`outputs` are the tensors of the model's inputs and outputs in model
    order (inputs made constant by `static_inputs`, and initializers listed as
    inputs, are not among `inputs`); every one is also reachable by its ONNX name,
    `graph.get_tensor_by_name("x:0")`.
    """

    def __init__(self):
        super().__init__()
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        # Per ONNX output, how its tensors in `outputs` make its value: "tensor", or
        # a sequence's or optional's layout (graphjit.onnx.values.unflatten).
        self.output_layouts: list = []
        self.opset: int = 0
        # Initializers imported as Variables (import_model's `trainable`), by ONNX name.
        self.initializer_variables: dict = {}
        # Initializers `trainable=True` kept constant: name -> the node needing its value.
        self.kept_constant: dict = {}

    def compile(self, **kwargs):
        """`graphjit.compile` with the model's outputs as fetches and inputs as feeds, in
        model order: call the result with the inputs positionally or by ONNX name.
        Initializers imported as Variables (`trainable`) start in the function's own
        state at their ONNX values; with `state=` given, that state is used as it is."""
        from graphjit.api import compile as compile_graph
        from graphjit.ops.state_ops import group
        fn = compile_graph(self, list(self.outputs), feeds=list(self.inputs), **kwargs)
        if self.initializer_variables and kwargs.get("state") is None:
            with self.as_default():
                init = group(*[v.initializer for v in self.initializer_variables.values()])
            compile_graph(self, [init], feeds=[], state=fn.state)()
        return fn


def load(model_or_path):
    """An onnx.ModelProto from a ModelProto, a path or serialized bytes; anything that
    cannot be read as one is an OnnxLoadError (a graphjit.LoadError) naming the path."""
    import onnx
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    if isinstance(model_or_path, (bytes, bytearray)):
        where = f"the ONNX model bytes ({len(model_or_path)} bytes)"
    elif isinstance(model_or_path, (str, os.PathLike)):
        where = os.fspath(model_or_path)
        if not os.path.isfile(where):
            what = "is a directory, not" if os.path.isdir(where) else "no such file: not"
            raise OnnxLoadError(f"{where}: {what} an ONNX model file")
    else:
        raise TypeError(f"import_model takes an onnx.ModelProto, a path or bytes, got "
                        f"{type(model_or_path).__name__}")
    try:
        if isinstance(model_or_path, (bytes, bytearray)):
            model = onnx.load_from_string(bytes(model_or_path))
        else:
            model = onnx.load(where)  # with its external data, from the model's folder
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError, OSError, onnx's own
        raise OnnxLoadError(f"{where}: not a readable ONNX model (corrupt, truncated or "
                            f"another format): {type(exc).__name__}: {exc}") from None
    if not model.HasField("graph"):
        raise OnnxLoadError(f"{where}: not an ONNX model (it holds no graph)")
    return model


def model_opset(model) -> int:
    """The model's default-domain opset, checked against what graphjit imports (older
    than MIN_OPSET: `upgrade_opset` first); 0 for a model that imports no default domain
    because each of its nodes is in another domain graphjit converts (ai.onnx.preview.
    training's optimizers are exported that way)."""
    import onnx
    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions and _other_domains_only(model):
        return 0
    domains = converted_domains()
    for i, node in enumerate(model.graph.node if not versions else ()):
        if normal_domain(node.domain) and normal_domain(node.domain) not in domains:
            raise unsupported_op(node, 0, i)  # the domain is the problem, not the opset
    if not versions:
        raise UnsupportedError("the ONNX model imports no version of the default ONNX "
                               "domain (opset_import has no '' or 'ai.onnx' entry)")
    opset = int(versions[0])
    if opset < MIN_OPSET:
        raise UnsupportedError(
            f"the ONNX model uses opset {opset}; graphjit imports opsets {MIN_OPSET} to "
            f"{newest}: upgrade it with onnx.version_converter.convert_version(model, "
            f"{MIN_OPSET})")
    if opset > newest:
        raise UnsupportedError(
            f"the ONNX model uses opset {opset}, newer than the installed onnx knows "
            f"({newest}); upgrade onnx")
    return opset


def _other_domains_only(model) -> bool:
    """Whether the model has nodes and each is in a non-default domain graphjit converts."""
    nodes = model.graph.node
    domains = converted_domains()
    return bool(nodes) and all(normal_domain(n.domain) in domains for n in nodes)


def domain_opsets(model, opset: int) -> dict[str, int]:
    """The model's version of each domain it imports, the default one as ''."""
    out = {normal_domain(o.domain): int(o.version) for o in model.opset_import}
    out[""] = opset
    return out


def upgrade_opset(model):
    """`model` itself at opset MIN_OPSET or newer; an older one (most published models are
    opset 7 to 12) converted to MIN_OPSET by onnx.version_converter, which rewrites the
    old forms (attributes that became inputs, changed defaults) into opset-13 nodes.
    The converted model is then checked like any other."""
    import onnx
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions or int(versions[0]) >= MIN_OPSET:
        return model
    if int(versions[0]) < 9 and any(n.op_type == "Scan" for n in model.graph.node):
        raise UnsupportedError(  # (the converter does not rewrite it into Scan-9's form)
            f"the ONNX model uses opset {versions[0]}, whose Scan-8 has a batch axis and "
            "sequence_lens; graphjit imports Scan-9 and later: export at opset 9 or newer")
    from onnx import version_converter
    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:  # noqa: BLE001 - onnx raises RuntimeError, ValueError, its own
        raise UnsupportedError(
            f"the ONNX model uses opset {versions[0]}; graphjit imports opsets {MIN_OPSET} to "
            f"{onnx.defs.onnx_opset_version()}, and onnx.version_converter could not convert "
            f"it to {MIN_OPSET}: {type(exc).__name__}: {str(exc).strip()[:300]}") from None


def import_model(model_or_path, static_inputs: dict | None = None,
                 input_shapes: dict | None = None, check: bool = False,
                 max_bytes: int = DEFAULT_MAX_BYTES, trainable=False) -> OnnxGraph:
    """Import an ONNX model (ModelProto, path or bytes) into a new graphjit Graph; one
    older than opset 13 is converted to 13 first (`upgrade_opset`).

    The model's inputs become placeholders named after them (dimensions without a
    fixed size are None) and its initializers constants; each output is an op
    named after it. `static_inputs` ({name: array}) makes inputs constants of the
    given values (it may also replace an initializer's value), which is what shape
    arguments computed from inputs need; `input_shapes` ({name: shape}) fixes
    input shapes (None for a dimension left free). Initializers that old models
    also list as inputs are constants. `check=True` runs onnx.checker first (stricter
    than runtimes are: it rejects outputs without a shape, for one).

    Every node is checked against ONNX's op schema and what its converter implements
    before the graph is built (graphjit.onnx.validate): a node that breaks the schema
    is an InvalidModelError, one asking for what graphjit lacks an UnsupportedError,
    both naming the node. `max_bytes` (default 4 GiB) bounds any one tensor the graph
    declares statically or the import computes (a Range, an index pattern).

    `trainable` makes initializers graphjit Variables instead of constants, so a TF1
    optimizer's `minimize` trains them (graphjit.onnx.trainable): True for every
    float32/float64 initializer some node reads as data (one whose value a converter
    needs at import stays constant: `graph.kept_constant` says why), or a list of
    initializer names (one needed at import is then an error). The graph's
    `initializer_variables` maps their ONNX names to the Variables.
    """
    model = upgrade_opset(load(model_or_path))
    opset = model_opset(model)
    if check:
        check_model(model)
    static_inputs, input_shapes = dict(static_inputs or {}), dict(input_shapes or {})
    return trainable_import(
        model, trainable, static_inputs,
        lambda names: _Importer(model, opset, static_inputs, input_shapes, max_bytes,
                                variables=names).run())


def check_model(model) -> None:
    import onnx
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise GraphError(f"invalid ONNX model: {exc}") from None
    except ValueError:  # over the protobuf size limit: the checker needs a path then
        pass


def attribute_values(node) -> dict:
    """A node's attributes as Python values: strings decoded, tensors as arrays."""
    from onnx import AttributeProto, helper
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        what = f"attribute '{a.name}'"
        if a.type == AttributeProto.STRING:
            value = value.decode("utf-8", "replace")
        elif a.type == AttributeProto.STRINGS:
            value = [v.decode("utf-8", "replace") for v in value]
        elif a.type == AttributeProto.TENSOR:
            value = tensor_value(value, what)
        elif a.type == AttributeProto.TENSORS:
            value = [tensor_value(v, what) for v in value]
        out[a.name] = value
    return out


def tensor_value(tensor, what: str) -> np.ndarray:
    """A TensorProto's value; its data must be in the model (external data is read only
    by onnx.load from a path) and agree with its dims."""
    from onnx import TensorProto, numpy_helper
    if tensor.data_location == TensorProto.EXTERNAL:
        raise InvalidModelError(f"{what} keeps its data in an external file, which was not "
                                "read: import the model from its path (onnx.load reads the "
                                "external data next to it)")
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # noqa: BLE001 - dims that disagree with the data, bad types
        raise InvalidModelError(f"{what} cannot be read: its data does not fit its type and "
                                f"dims {list(tensor.dims)}: {type(exc).__name__}: {exc}") \
            from None


def unsupported_op(node, opset: int, index: int = 0) -> UnsupportedError:
    """The error for a node no converter handles: its type, version and name."""
    import onnx
    domain = normal_domain(node.domain)
    label = node_label(node, index)
    domains = converted_domains()
    if domain and domain not in domains:
        return UnsupportedError(
            f"ONNX node '{label}' ({node.op_type}) is in domain '{domain}'; graphjit "
            f"imports the default ONNX domain and {', '.join(map(repr, sorted(domains)))} "
            "only")
    if domain:
        ops = sorted(k.split(":", 1)[1] for k in CONVERTERS if k.startswith(domain + ":"))
        return UnsupportedError(
            f"ONNX op {node.op_type} of node '{label}' in domain '{domain}' is not supported "
            f"by graphjit (it converts {', '.join(ops)} of that domain)")
    try:
        since = onnx.defs.get_schema(node.op_type, opset).since_version
        version = f"opset {opset}, {node.op_type}-{since}"
    except Exception:  # not an ONNX op at all
        version = f"opset {opset}"
    return UnsupportedError(
        f"ONNX op {node.op_type} ({version}) of node '{label}' is "
        "not supported by graphjit (no converter)")


class _Importer:
    def __init__(self, model, opset: int, static_inputs: dict, input_shapes: dict,
                 max_bytes: int = DEFAULT_MAX_BYTES, variables: frozenset = frozenset()):
        self.model = model
        self.variables = variables  # initializers imported as Variables (trainable.py)
        self.max_bytes = max_bytes
        self.opset = opset
        self.static_inputs = static_inputs
        self.input_shapes = input_shapes
        self.graph = OnnxGraph()
        self.graph.opset = opset
        self.domain_opsets = domain_opsets(model, opset)
        self.tensors: dict[str, Tensor] = {}
        self.static: dict[str, np.ndarray] = {}
        self.sources: dict[str, frozenset] = {}
        self.partial: dict[str, np.ndarray] = {}  # shape vectors known in part (symbolic.py)
        self.versions: list[int] = []  # each node's op version, in node order
        # Names of enclosing scopes that the node being converted reads through its
        # subgraphs (their sources are the node's too), and where a subgraph scope
        # reports its own reads of names it does not define (None at the top).
        self._node_reads: set[str] = set()
        self._sink: set[str] | None = None
        # What a subgraph scope knew of the tensors it returned (static value, partial
        # shape vector, sources): kept when a converter returns them as they are (an
        # If whose branch was chosen at build time is imported inline).
        self._known: dict[Tensor, tuple] = {}

    def run(self) -> OnnxGraph:
        g = self.model.graph
        for i, node in enumerate(g.node):
            domain = normal_domain(node.domain)
            if converter_key(domain, node.op_type) not in CONVERTERS:
                raise unsupported_op(node, self.opset, i)
            if domain not in self.domain_opsets:
                raise InvalidModelError(
                    f"ONNX {node.op_type} '{node_label(node, i)}': its domain '{domain}' is "
                    "not among the model's opset_import")
            self.versions.append(check_node(node, i, self.domain_opsets[domain]))
        self._check_names(g)
        known = {i.name for i in g.input} | {t.name for t in g.initializer}
        unknown = sorted(set(self.static_inputs) - known)
        unknown += sorted(set(self.input_shapes) - {i.name for i in g.input})
        if unknown:
            raise GraphError(f"the ONNX model has no input named '{unknown[0]}' (inputs: "
                             f"{', '.join(i.name for i in g.input)})")
        graph = self.graph
        for name in [i.name for i in g.input] + [t.name for t in g.initializer] + \
                [o.name for o in g.output]:
            graph.unique_name(name)  # reserved: converters' ops never take these names
        with graph.as_default():
            self._initializers(g)
            self._inputs(g)
            for node, version in zip(g.node, self.versions):
                self._convert(node, version)
            self._outputs(g)
        return graph

    def _check_names(self, g) -> None:
        """Every value is defined once (ONNX graphs are SSA), by an input, an initializer
        or one node output."""
        defined = {i.name for i in g.input} | {t.name for t in g.initializer}
        for i, node in enumerate(g.node):
            for name in node.output:
                if not name:
                    continue
                if name in defined:
                    raise InvalidModelError(
                        f"ONNX {node.op_type} '{node_label(node, i)}' (opset {self.opset}): "
                        f"its output '{name}' is already defined by an input, an initializer "
                        "or an earlier node (each value must be defined once)")
                defined.add(name)

    # -- sources of values ---------------------------------------------------
    def _constant(self, name: str, value: np.ndarray, exact: bool = True) -> None:
        """An initializer as a constant named after it (`exact`), or, for a subgraph's
        (imported once per unrolled iteration or chosen branch), a name made unique."""
        from graphjit.ops.core import constant
        value = np.asarray(value)
        np_dtype(value.dtype, f"ONNX initializer '{name}'")
        self.tensors[name] = constant(value, dtype=value.dtype,
                                      name=name + "/" if exact else name)
        self.static[name] = self.tensors[name].op.attrs["value"]

    def _initializers(self, g) -> None:
        for init in g.initializer:
            if init.name in self.static_inputs:
                continue
            if init.name in self.variables:  # not static: converters see a run-time value
                value = tensor_value(init, f"ONNX initializer '{init.name}'")
                self.tensors[init.name] = self.graph.initializer_variables[init.name] = \
                    variable(init.name, value)
                self.sources[init.name] = frozenset({(init.name, "value")})
                continue
            self._constant(init.name, tensor_value(init, f"ONNX initializer '{init.name}'"))

    def _inputs(self, g) -> None:
        from graphjit.ops.core import placeholder
        initializers = {t.name for t in g.initializer}
        for info in g.input:
            name = info.name
            if name in self.static_inputs:
                dtype = self._input_type(info)
                self._constant(name, np.asarray(self.static_inputs[name]).astype(dtype.np))
                continue
            if name in initializers:
                continue  # an old-style model listing its initializers: a constant
            if info.type.WhichOneof("value") in ("sequence_type", "optional_type"):
                self.tensors[name] = self._structured_input(info, info.type, name)
                continue
            dtype = self._input_type(info)
            shape = self._input_shape(info)
            t = placeholder(dtype, shape, name=name + "/")
            self._check_size(t, f"ONNX input '{name}': its shape")
            self.tensors[name] = t
            self.sources[name] = frozenset({(name, "value")})
            self.graph.inputs.append(t)
            self.graph.input_names.append(name)
        listed = {i.name for i in g.input}
        for init in g.initializer:  # initializers given new values (in their own dtype)
            if init.name in self.static_inputs and init.name not in listed:
                dtype = to_dtype(init.data_type, f"ONNX initializer '{init.name}'")
                self._constant(init.name, np.asarray(self.static_inputs[init.name],
                                                     dtype=dtype.np))

    def _structured_input(self, info, type_proto, name: str):
        """A sequence or optional input: placeholders for the tensors of the structure
        `input_shapes[name]` gives (a list of shapes for a sequence, None for an empty
        optional), named name[i] for a sequence's elements; the backend gives it from
        the value it runs on."""
        given = self.input_shapes.get(info.name, ...)
        if given is ...:
            raise StaticValueRequired(
                f"ONNX input '{info.name}' is a {type_proto.WhichOneof('value')[:-5]}: "
                "graphjit needs its structure when the graph is built: pass input_shapes="
                f"{{'{info.name}': ...}} (a list of shapes for a sequence, None for an empty "
                "optional)", frozenset({(info.name, "structure")}))
        kind = type_proto.WhichOneof("value")
        if kind == "optional_type":
            if given is None:
                return OptionalValue(None)
            return OptionalValue(self._structured_input(info, type_proto.optional_type.elem_type,
                                                        name))
        if kind == "tensor_type":
            return self._element(info, type_proto, name, given)
        if kind != "sequence_type" or not isinstance(given, list):
            raise UnsupportedError(f"ONNX input '{info.name}' is a {kind} (given {given!r:.40}); "
                                   "graphjit imports tensors, and sequences and optionals of "
                                   "them")
        elem = type_proto.sequence_type.elem_type
        if elem.WhichOneof("value") != "tensor_type":
            raise UnsupportedError(f"ONNX input '{info.name}' is a sequence of "
                                   f"{elem.WhichOneof('value')}; graphjit imports sequences "
                                   "of tensors only")
        items = tuple(self._element(info, elem, f"{name}[{i}]", shape)
                      for i, shape in enumerate(given))
        return SequenceValue(items, elem.tensor_type.elem_type)

    def _element(self, info, type_proto, name: str, shape) -> Tensor:
        from graphjit.ops.core import placeholder
        dtype = to_dtype(type_proto.tensor_type.elem_type, f"ONNX input '{info.name}'")
        t = placeholder(dtype, TensorShape(list(shape)), name=name + "/")
        self.graph.inputs.append(t)
        self.graph.input_names.append(name)
        self.sources[name] = frozenset({(info.name, "value")})
        return t

    def _input_type(self, info):
        if not info.type.HasField("tensor_type"):
            raise UnsupportedError(f"ONNX input '{info.name}' is not a tensor "
                                   f"({info.type.WhichOneof('value')}); graphjit imports "
                                   "tensors only")
        return to_dtype(info.type.tensor_type.elem_type, f"ONNX input '{info.name}'",
                        strings=True)

    def _input_shape(self, info) -> TensorShape:
        name = info.name
        tt = info.type.tensor_type
        declared = None
        if tt.HasField("shape"):
            declared = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        given = self.input_shapes.get(name)
        if given is None:
            if declared is None:
                raise StaticValueRequired(
                    f"ONNX input '{name}' has no declared rank; graphjit needs it: pass "
                    f"input_shapes={{'{name}': [...]}} (None for a free dimension)",
                    frozenset({(name, "shape")}))
            return TensorShape(declared)
        given = [None if d is None else int(d) for d in given]
        if declared is not None and (len(given) != len(declared) or any(
                d is not None and g is not None and d != g for d, g in zip(declared, given))):
            raise GraphError(f"input_shapes gives '{name}' the shape {given}, but the model "
                             f"declares {['?' if d is None else d for d in declared]}")
        return TensorShape(given)

    # -- nodes -----------------------------------------------------------------
    def _value(self, node, name: str):
        if not name:
            return None
        try:
            t = self.tensors[name]
        except KeyError:
            raise InvalidModelError(
                f"ONNX node '{node_label(node, 0)}' ({node.op_type}) reads '{name}', which no "
                "earlier node, input or initializer defines (nodes must be in topological "
                "order)") from None
        if self._sink is not None and name not in self.tensors.maps[0]:
            return self._outer_value(name, t)
        return t

    def _outer_value(self, name: str, t):
        """A subgraph's read of a name of an enclosing scope: a value known at build time
        becomes a constant of the subgraph (so converters fold with it), any other is
        the outer tensor (the control-flow op captures it)."""
        from graphjit.ops.core import constant
        self._sink.add(name)
        value = self.static.get(name)
        if value is None or not isinstance(t, Tensor) or t.op.type == "Const" \
                or np.asarray(value).size > FOLD_MAX_ELEMENTS:
            return t
        local = constant(np.asarray(value, dtype=t.dtype.np), dtype=t.dtype.np)
        self.tensors.maps[0][name] = local
        self.static.maps[0][name] = value
        return local

    def _subgraph(self, node, attr: str, values: list, outer_reads: bool = True) -> list:
        """Import the graph attribute `attr` of `node` into the default graph (a cond
        branch's or loop body's FuncGraph, the importer's graph for a branch chosen at
        build time, or the graph being built for a FlexAttention modifier), its inputs
        bound to `values`; its outputs. Its nodes are checked and converted like the
        model's, under the model's opsets. With `outer_reads` the scope sees every name
        of the enclosing ones (ONNX If, Loop and Scan bodies read outer values by name);
        without, it sees its own inputs, initializers and nodes only, and a read of an
        outer name is refused, naming it."""
        from onnx import AttributeProto
        proto = next(a.g for a in node.attribute
                     if a.name == attr and a.type == AttributeProto.GRAPH)
        domain = normal_domain(node.domain)
        opset = self.domain_opsets[domain]
        where = f"{domain} opset {opset}" if domain else f"opset {opset}"
        prefix = f"ONNX {node.op_type} '{node_label(node, 0)}' ({where}): its graph '{attr}'"
        if len(values) != len(proto.input):
            raise InvalidModelError(prefix + f" takes {len(proto.input)} inputs; the op "
                                    f"passes {len(values)}")
        versions = self._check_subgraph(proto, prefix, outer_reads)
        child = copy.copy(self)
        if outer_reads:
            child.tensors, child.static = ChainMap({}, self.tensors), ChainMap({}, self.static)
            child.sources, child.partial = ChainMap({}, self.sources), ChainMap({}, self.partial)
            child._sink = self._node_reads
        else:
            child.tensors, child.static = ChainMap({}), ChainMap({})
            child.sources, child.partial = ChainMap({}), ChainMap({})
            child._sink = None
        child._node_reads = set()
        for info, value in zip(proto.input, values):
            child.tensors.maps[0][info.name] = value
            if isinstance(value, Tensor) and value.op.type == "Const":
                child.static.maps[0][info.name] = value.op.attrs["value"]
        for init in proto.initializer:
            child._constant(init.name, tensor_value(init, f"{prefix}: initializer "
                                                          f"'{init.name}'"), exact=False)
        for inner, version in zip(proto.node, versions):
            child._convert(inner, version)
        missing = [o.name for o in proto.output if o.name not in child.tensors]
        if missing:
            raise InvalidModelError(f"{prefix}: its output '{missing[0]}' is computed by "
                                    "no node")
        outputs = [child._value(node, o.name) for o in proto.output]
        for i, (o, t) in enumerate(zip(proto.output, outputs)):  # known values as Consts
            value = child.static.get(o.name)
            if isinstance(t, Tensor) and t.op.type != "Const" and value is not None:
                from graphjit.ops.core import constant
                outputs[i] = constant(np.asarray(value, t.dtype.np), dtype=t.dtype.np)
        for o, t in zip(proto.output, outputs):
            if isinstance(t, Tensor):
                self._known[t] = (child.static.get(o.name), child.partial.get(o.name),
                                  child.sources.get(o.name))
        return outputs

    def _check_subgraph(self, proto, prefix: str, outer_reads: bool) -> list[int]:
        """Each node of a subgraph checked before any is built (a converter, a domain the
        model imports, its schema; without `outer_reads`, no read of an outer name):
        their op versions."""
        bound = {i.name for i in proto.input} | {t.name for t in proto.initializer}
        versions = []
        for i, inner in enumerate(proto.node):
            domain = normal_domain(inner.domain)
            if converter_key(domain, inner.op_type) not in CONVERTERS \
                    or domain not in self.domain_opsets:
                raise UnsupportedError(f"{prefix}: {unsupported_op(inner, self.opset, i)}")
            for name in inner.input if not outer_reads else ():
                if name and name not in bound:
                    raise UnsupportedError(f"{prefix}: node '{node_label(inner, i)}' reads "
                                           f"'{name}' from the outer graph, which graphjit "
                                           "does not import into subgraphs")
            bound.update(inner.output)
            versions.append(check_node(inner, i, self.domain_opsets[domain]))
        self._check_names(proto)
        return versions

    def _convert(self, node, version: int) -> None:
        inputs = [self._value(node, n) for n in node.input]
        static = [self.static.get(n) if n else None for n in node.input]
        sources = [self.sources.get(n, frozenset()) for n in node.input]
        partial = [self.partial.get(n) for n in node.input]
        domain = normal_domain(node.domain)
        opset = self.domain_opsets[domain]
        key = converter_key(domain, node.op_type)
        where = f"{domain} opset {opset}" if domain else f"opset {opset}"
        prefix = f"ONNX {node.op_type} '{node_label(node, 0)}' ({where}): "
        try:
            attrs = attribute_values(node)
        except InvalidModelError as exc:
            raise InvalidModelError(prefix + str(exc)) from None
        self._node_reads = set()
        widened = bfloat16.needs_widening(node, inputs)
        ctx = NodeContext(node, opset, attrs, inputs, static, sources, partial,
                          declared_attrs=SPECS[key].attrs, max_bytes=self.max_bytes,
                          version=version, domain_opsets=self.domain_opsets,
                          subgraph=lambda attr, values, outer_reads=True:
                          self._subgraph(node, attr, values, outer_reads))
        if widened:  # computed in float32, its bfloat16 outputs rounded back (bfloat16.py)
            ctx.inputs = bfloat16.widen(inputs)
            ctx.static_values = [v if v is None or t is w else v.astype(w.dtype.np)
                                 for v, t, w in zip(static, inputs, ctx.inputs)]
        try:
            result = CONVERTERS[key](ctx)
        except StaticValueRequired:
            raise
        except InternalError:
            raise
        except Error as exc:
            narrow = sorted({t.dtype.name for t in inputs
                             if isinstance(t, Tensor) and t.dtype.is_narrow})
            if isinstance(exc, DTypeError) and narrow:  # a graphjit limit, not a bad model
                raise UnsupportedError(
                    prefix + f"{', '.join(narrow)} values are storage only in graphjit "
                    "(converted by Cast, CastLike, QuantizeLinear and DequantizeLinear), "
                    f"never computed: {exc}") from None
            if str(exc).startswith("ONNX "):
                raise
            raise _retyped(exc, prefix + str(exc)) from None
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            # The node passed its schema check: a converter that still fails is a bug.
            raise InternalError(prefix + f"the converter failed: {type(exc).__name__}: {exc} "
                                "(a graphjit bug if the model is valid; please report it)"
                                ) from exc
        outputs = [result] if is_value(result) else list(result)
        if widened:
            outputs = bfloat16.narrowed(outputs, bfloat16.bfloat16_outputs(
                node, self.opset, inputs))
            ctx.inputs, ctx.static_values = inputs, static  # what _record folds from
        named = [(i, n) for i, n in enumerate(node.output) if n]
        if any(i >= len(outputs) or outputs[i] is None for i, _ in named):
            raise UnsupportedError(prefix + f"the converter made {len(outputs)} output(s); "
                                   f"the node asks for {len(node.output)}")
        for i, _ in named:
            if isinstance(outputs[i], Tensor):
                self._check_size(outputs[i], prefix + f"output {i}")
        self._record(node, ctx, [(n, outputs[i]) for i, n in named], prefix)

    def _check_size(self, t: Tensor, what: str) -> None:
        """No tensor may be statically bigger than max_bytes (None dims count as 1): a
        ConstantOfShape or Expand of 2**40 elements is refused at import, not run."""
        size = t.dtype.size
        for d in t.shape:
            size *= 1 if d is None else d
        if size > self.max_bytes:
            raise UnsupportedError(f"{what} {format_spec(t.shape, t.dtype)} would take "
                                   f"{human_bytes(size)}, more than max_bytes "
                                   f"({human_bytes(self.max_bytes)}) allows for one tensor; "
                                   "pass a larger max_bytes to import_model if the model is "
                                   "trusted")

    def _record(self, node, ctx: NodeContext, outputs: list, prefix: str) -> None:
        from graphjit.interpreter import evaluate
        present = [(t, v) for t, v in zip(ctx.inputs, ctx.static_values) if t is not None]
        # (a node with subgraphs reads more than its inputs: never folded here)
        all_static = all(v is not None for _, v in present) and not self._node_reads \
            and not any(a.g.node for a in node.attribute if a.HasField("g"))
        foldable = [t for _, t in outputs if isinstance(t, Tensor) and t.op.type != "Const"
                    and all_static
                    and t.shape.is_fully_defined()
                    and (t.shape.num_elements() or 0) <= FOLD_MAX_ELEMENTS]
        folded = {}
        if foldable:
            feeds = {t: v for t, v in present}
            try:
                folded = dict(zip(foldable, evaluate(foldable, feeds)))
            except Error as exc:
                raise _retyped(exc, prefix + f"evaluating it on its constant inputs: {exc}") \
                    from None
        kind_shape = node.op_type in ("Shape", "Size")
        merged = frozenset().union(*ctx.sources) if ctx.sources else frozenset()
        for name in self._node_reads:  # what its subgraphs read of enclosing scopes
            merged |= self.sources.get(name, frozenset())
            if self._sink is not None and name not in self.tensors.maps[0]:
                self._sink.add(name)
        if kind_shape:
            merged = frozenset((name, "shape") for name, _ in merged)
        for name, t in outputs:
            self.tensors[name] = t
            if not isinstance(t, Tensor):  # a sequence or optional: nothing to know more
                continue
            static, partial, sources = self._known.pop(t, (None, None, None))
            if static is not None:
                self.static[name] = static
            elif partial is not None or sources is not None:
                self.sources[name] = merged if sources is None else sources
                if partial is not None:
                    self.partial[name] = partial
            elif t.op.type == "Const":
                self.static[name] = t.op.attrs["value"]
            elif t in folded:
                self._fold(name, folded[t])
            else:
                self.sources[name] = merged
                self._partial(node, ctx, name, t)

    def _fold(self, name: str, value: np.ndarray) -> None:
        """Record a value known at import and read it as a constant from now on: a shape
        computed from the static dims of a tensor with free ones (Shape -> Slice -> Cast
        -> Sqrt in attention's scale) is then not computed again at every call."""
        from graphjit.ops.core import constant
        t = self.tensors[name]
        # C order: the reference may give a transposed view, and kernels take C arrays
        value = np.array(value, dtype=t.dtype.np, order="C")
        self.static[name] = value
        self.tensors[name] = constant(value, dtype=t.dtype, name=t.op.name + "/folded")

    def _partial(self, node, ctx: NodeContext, name: str, t: Tensor) -> None:
        """Track a shape vector known in part; one known in full becomes static."""
        if node.op_type not in symbolic.RULES or t.dtype not in (dtypes.int32, dtypes.int64):
            return
        values = [ctx.partial(i) for i in range(len(ctx.inputs))]
        value = symbolic.evaluate(node.op_type, values, ctx.attrs, ctx.inputs, t)
        if value is None:
            return
        if symbolic.is_partial(value):
            self.partial[name] = value
        else:
            self._fold(name, np.array(value.tolist(), dtype=t.dtype.np).reshape(value.shape))

    def _outputs(self, g) -> None:
        from graphjit.ops.core import identity
        for info in g.output:
            t = self.tensors.get(info.name)
            if t is None:
                raise GraphError(f"ONNX output '{info.name}' is not computed by any node")
            if not isinstance(t, Tensor):
                tensors, layout = flatten(t)
                for i, item in enumerate(tensors):
                    self.graph.outputs.append(identity(item, name=f"{info.name}[{i}]/"))
                    self.graph.output_names.append(f"{info.name}[{i}]")
                self.graph.output_layouts.append(layout)
                continue
            self.graph.output_layouts.append("tensor")
            if t.op.name != info.name:
                t = identity(t, name=info.name + "/")
            self.graph.outputs.append(t)
            self.graph.output_names.append(info.name)


def _retyped(exc: Error, message: str) -> Error:
    """The same kind of error with a message that names the ONNX node."""
    try:
        return type(exc)(message)
    except TypeError:
        return GraphError(message)


def input_names(model) -> list[str]:
    """The model's run-time inputs in order: its graph inputs that are not initializers."""
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]
