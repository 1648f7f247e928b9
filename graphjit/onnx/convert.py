"""The table of ONNX op converters, and what a converter is given.

A converter turns one ONNX node into graphjit ops. It is registered for an op
type with `@converter("Relu")` (an op of another domain, `domain="ai.onnx.preview"`:
see `converter_key`), receives a `NodeContext` and
returns the graphjit tensors of the node's outputs (one Tensor or a list, in
the node's output order). Converters run inside the importer's
`graph.as_default()`, so they build with the public API (`graphjit.add`, ...).

The registration also declares what the converter implements: the attributes it
reads (`attrs=`; `ctx.attr` refuses any other) and, where it implements fewer than
ONNX defines, how many inputs and outputs (`inputs=`, `outputs=`). Before any
converter runs, graphjit.onnx.validate checks every node against ONNX's op schema
and this declaration, so nothing a node says is silently ignored.

Values that decide shapes (Reshape's shape, Slice's starts, axes, pads, ...)
must be known when the graph is built: `ctx.static(i)` returns input i's value
when the importer knows it (initializers, Constant nodes, shapes computed from
static shapes, and in the backend the run-time values it specializes on), else
None; `ctx.require_static(i, what)` raises a clear error instead. The error is
a `StaticValueRequired` that names the model inputs the value was computed
from, which is how `graphjit.onnx.backend` learns what to specialize on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from graphjit.errors import GraphError, InternalError, LoadError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.io.npz import DEFAULT_MAX_BYTES, human_bytes

# What a value not known at build time was computed from: (model input name, kind),
# kind "value" (its elements) or "shape" (only its shape, through Shape or Size).
Source = tuple[str, str]


class StaticValueRequired(UnsupportedError):
    """A converter needed, at build time, a value computed at run time from model inputs.

    `needs` holds the (input name, "value" | "shape") pairs it was computed from:
    importing again with those inputs' values (`static_inputs=`) or shapes
    (`input_shapes=`) given makes it static.
    """

    def __init__(self, message: str, needs: frozenset[Source] = frozenset()):
        super().__init__(message)
        self.needs = needs


class InvalidModelError(GraphError, ValueError):
    """An ONNX model that breaks ONNX's own rules (its op schemas, names, types): the
    message names the node, input, attribute or initializer at fault."""


class OnnxLoadError(LoadError):
    """An ONNX model that cannot be read at all: a missing file, bytes that are not a
    serialized ModelProto, external data that is not there. The message names the path."""


@dataclass
class NodeContext:
    """One ONNX node as a converter sees it."""

    node: object  # onnx.NodeProto
    opset: int  # the model's opset version for the node's domain (the default one: '')
    attrs: dict  # attribute name -> Python value (strings decoded, tensors as ndarrays)
    inputs: list  # graphjit Tensor per input; None where an optional input is omitted ("")
    static_values: list = field(default_factory=list)  # ndarray or None per input
    sources: list = field(default_factory=list)  # frozenset[Source] per input (see above)
    # Per input, an object array of ints and graphjit.onnx.symbolic.Dim where a shape
    # vector is known in part (Shape of a tensor with free dims), else None.
    partial_values: list = field(default_factory=list)
    # The attributes the converter declared (ctx.attr refuses others); None: not checked.
    declared_attrs: frozenset | None = None
    max_bytes: int = DEFAULT_MAX_BYTES  # the most one tensor made at import may take
    # The node's op version (its schema's since_version at `opset`, one that
    # graphjit.onnx.op_versions lists); 0 where the importer did not resolve it.
    version: int = 0
    # The model's version of each domain it imports ('' the default one): what a
    # subgraph attribute (`subgraph` below) is converted under.
    domain_opsets: dict = field(default_factory=dict)
    # Imports a graph attribute (If's branches, Loop's and Scan's body, FlexAttention's
    # modifiers) into the default graph: subgraph(attr_name, values for its inputs,
    # outer_reads=True) -> its outputs (graphjit.onnx.importer); names the subgraph
    # reads from enclosing scopes resolve there, or, with outer_reads=False, are refused.
    subgraph: Callable | None = None

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def domain(self) -> str:
        """The node's domain, '' for the default ONNX domain (also spelt 'ai.onnx')."""
        return normal_domain(self.node.domain)

    @property
    def where(self) -> str:
        """How errors name the op version in force: 'opset 22', or with its domain."""
        return f"{self.domain} opset {self.opset}" if self.domain else f"opset {self.opset}"

    @property
    def name(self) -> str:
        """The graphjit op name to use: the node's name, else its first output's."""
        return self.node.name or self.node.output[0]

    @property
    def num_outputs(self) -> int:
        """How many outputs the node declares (trailing optional ones included)."""
        return len(self.node.output)

    def attr(self, name: str, default=None):
        if self.declared_attrs is not None and name not in self.declared_attrs:
            raise InternalError(f"the {self.op_type} converter reads attribute '{name}', "
                                "which its @converter(attrs=...) does not declare")
        return self.attrs.get(name, default)

    def check_size(self, elements: int, itemsize: int, what: str) -> None:
        """Refuse, before allocating it, an array the converter would compute at import
        (a Range, an index pattern) bigger than `max_bytes` (import_model's limit)."""
        if elements * itemsize > self.max_bytes:
            raise self.unsupported(
                f"{what} would take {human_bytes(elements * itemsize)} at import, more than "
                f"max_bytes ({human_bytes(self.max_bytes)}); pass a larger max_bytes to "
                "import_model if the model is trusted")

    def input(self, i: int) -> Tensor | None:
        """Input i, or None when it is omitted (absent or named "")."""
        return self.inputs[i] if i < len(self.inputs) else None

    def static(self, i: int) -> np.ndarray | None:
        if i >= len(self.static_values):
            return None
        return self.static_values[i]

    def partial(self, i: int) -> np.ndarray | None:
        """Input i as an object array of ints and `Dim`s (free dims of some tensor) when
        it is a shape vector known in part or in full, else None."""
        from graphjit.onnx.symbolic import as_partial
        if self.static(i) is not None:
            return as_partial(self.static(i))
        return self.partial_values[i] if i < len(self.partial_values) else None

    def _needs(self, i: int, kind: str | None = None) -> frozenset[Source]:
        found = self.sources[i] if i < len(self.sources) else frozenset()
        if kind is None:
            return found
        return frozenset((name, kind) for name, _ in found)

    def require_static(self, i: int, what: str) -> np.ndarray:
        value = self.static(i)
        if value is None:
            needs = self._needs(i)
            origin = _origin(needs)
            raise StaticValueRequired(
                f"ONNX {self.op_type} '{self.name}' ({self.where}): input {i} ({what}) "
                "must be known when the graph is built (an initializer, a Constant, or "
                f"computed from static shapes){origin}; graphjit.onnx.backend specializes "
                "on it at run time", needs)
        return value

    def static_shape(self, i: int) -> tuple | None:
        """Input i's shape when fully known at build time, else None."""
        t = self.input(i)
        if t is None or not t.shape.is_fully_defined():
            return None
        return tuple(t.shape)

    def require_shape(self, i: int, what: str) -> tuple:
        """Input i's shape, which must be fully known at build time (else the backend
        specializes on the shapes of the model inputs it depends on)."""
        shape = self.static_shape(i)
        if shape is None:
            t = self.input(i)
            needs = self._needs(i, "shape")
            raise StaticValueRequired(
                f"ONNX {self.op_type} '{self.name}' ({self.where}): {what} needs the "
                f"full shape of input {i}, which is {t.shape if t is not None else 'absent'} "
                f"at build time{_origin(needs)}; give the model inputs static shapes "
                "(import_model(..., input_shapes=...)); graphjit.onnx.backend does it at "
                "run time", needs)
        return shape

    def unsupported(self, why: str) -> UnsupportedError:
        return UnsupportedError(
            f"ONNX {self.op_type} '{self.name}' ({self.where}): {why}")

    def invalid(self, why: str) -> InvalidModelError:
        """The error for a node whose values break ONNX's rules (not a graphjit limit)."""
        return InvalidModelError(f"ONNX {self.op_type} '{self.name}' ({self.where}): {why}")


def _origin(needs: frozenset[Source]) -> str:
    if not needs:
        return ""
    parts = sorted(f"{kind} of '{name}'" for name, kind in needs)
    return f", but it is computed at run time from the {', '.join(parts)}"


Converter = Callable[[NodeContext], "Tensor | list[Tensor]"]
# Keyed by `converter_key`: the op type for the default domain, "domain:op" otherwise.
CONVERTERS: dict[str, Converter] = {}
DEFAULT_DOMAINS = ("", "ai.onnx")  # two spellings of the default ONNX domain


def normal_domain(domain: str) -> str:
    """'' for the default ONNX domain however spelt, else the domain itself."""
    return "" if (domain or "") in DEFAULT_DOMAINS else domain


def converter_key(domain: str, op_type: str) -> str:
    """Where CONVERTERS, SPECS and graphjit.onnx.op_versions list an op: by its type in
    the default domain (most ops, so existing tables read naturally), by
    "domain:op_type" in any other (ai.onnx.preview's FlexAttention is
    "ai.onnx.preview:FlexAttention"), so two domains' ops of one name never clash."""
    domain = normal_domain(domain)
    return f"{domain}:{op_type}" if domain else op_type


def converted_domains() -> frozenset[str]:
    """The non-default domains some converter implements an op of."""
    return frozenset(k.rsplit(":", 1)[0] for k in CONVERTERS if ":" in k)


@dataclass(frozen=True)
class ConverterSpec:
    """What a converter implements of its ONNX op (see `converter`)."""

    attrs: frozenset[str]
    inputs: int | None = None  # None: every input the op's schema defines
    outputs: int | None = None  # None: every output the op's schema defines
    note: str = ""  # why it implements fewer inputs/outputs: added to those errors


SPECS: dict[str, ConverterSpec] = {}


def converter(*op_types: str, attrs: tuple[str, ...] = (), inputs: int | None = None,
              outputs: int | None = None, note: str = "", domain: str = ""
              ) -> Callable[[Converter], Converter]:
    """Register a function as the converter of the given ONNX op types (of `domain`, by
    default the default ONNX domain).

    `attrs` names every attribute it implements (a node with another one that does not
    hold the schema's default is refused, UnsupportedError); `inputs`/`outputs` limit
    the inputs and outputs it implements where ONNX defines more (a node using one
    beyond is refused; `note` says why, in that error).
    """
    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            key = converter_key(domain, op_type)
            if key in CONVERTERS:
                raise RuntimeError(f"ONNX op {key} has two converters")
            CONVERTERS[key] = fn
            SPECS[key] = ConverterSpec(frozenset(attrs), inputs, outputs, note)
        return fn
    return register
