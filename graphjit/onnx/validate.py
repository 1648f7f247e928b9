"""Every ONNX node checked against ONNX's op schema and its converter's declaration
before any converter runs, so a malformed node is an error naming it, not an
IndexError deep in a converter, and nothing a node asks for is silently ignored.

The schema (`onnx.defs.get_schema(op, opset)`) gives the input and output counts,
which of them are required, the attributes and their types; a node breaking it is
an InvalidModelError. The converter's `@converter(attrs=, inputs=, outputs=)` says
what graphjit implements: an attribute outside it (unless it holds the schema's
default), or an input or output beyond it, is an UnsupportedError; so is a node of an
op version, or with an attribute value, that graphjit.onnx.op_versions does not list
for its converter.
"""

from __future__ import annotations

from onnx import AttributeProto, defs, helper

from graphjit.errors import UnsupportedError
from graphjit.onnx.convert import (
    SPECS,
    ConverterSpec,
    InvalidModelError,
    converter_key,
    normal_domain,
)
from graphjit.onnx.op_versions import ATTR_VALUES, OP_VERSIONS


def node_label(node, index: int) -> str:
    """How errors name a node: its name, else its first output, else its position."""
    if node.name:
        return node.name
    if len(node.output) and node.output[0]:
        return node.output[0]
    return f"#{index} of the graph"


def check_node(node, index: int, opset: int) -> int:
    """Raise InvalidModelError or UnsupportedError if `node` (with a converter) breaks its
    schema at `opset` (the model's version of the node's domain) or asks for what its
    converter lacks; return its op version (the schema's since_version)."""
    domain = normal_domain(node.domain)
    key = converter_key(domain, node.op_type)
    where = f"{domain} opset {opset}" if domain else f"opset {opset}"
    prefix = f"ONNX {node.op_type} '{node_label(node, index)}' ({where}): "
    try:
        schema = defs.get_schema(node.op_type, opset, domain)
    except defs.SchemaError:
        since = _first_version(node.op_type, domain)
        when = f"it was added in opset {since}" if since else "it is not an ONNX op"
        raise InvalidModelError(prefix + f"the model's {where} has no {node.op_type} "
                                f"({when})") from None
    op = f"{node.op_type}-{schema.since_version}"
    implemented = OP_VERSIONS.get(key, ())
    if schema.since_version not in implemented:
        known = ", ".join(f"{node.op_type}-{v}" for v in implemented) or "none"
        raise UnsupportedError(prefix + f"{op} (the version {where} gives) is not "
                               f"implemented by graphjit's converter ({known}): its meaning "
                               "may have changed; export the model at an older opset")
    _check_count(prefix, op, "input", len(node.input), schema.min_input, schema.max_input)
    _check_count(prefix, op, "output", len(node.output), schema.min_output,
                 schema.max_output)
    _check_required(prefix, op, "input", node.input, schema.inputs)
    _check_required(prefix, op, "output", node.output, schema.outputs)
    spec = SPECS[key]
    _check_attributes(prefix, op, node, schema, spec, key)
    for kind, names, params, limit in (("input", node.input, schema.inputs, spec.inputs),
                                       ("output", node.output, schema.outputs, spec.outputs)):
        if limit is None:
            continue
        for i, name in enumerate(names):
            if i >= limit and name:
                note = f": {spec.note}" if spec.note else ""
                raise UnsupportedError(prefix + f"{kind} {i} ({_param(params, i)}, "
                                       f"'{name}') is not supported by graphjit (its "
                                       f"converter implements the first {limit}){note}")
    return schema.since_version


def _first_version(op_type: str, domain: str = "") -> int | None:
    versions = [s.since_version for s in defs.get_all_schemas_with_history()
                if s.name == op_type and s.domain == domain]
    return min(versions) if versions else None


def _param(params, i: int) -> str:
    """The schema's name of input/output i (the last, variadic one covers the rest)."""
    if not params:
        return "?"
    return params[min(i, len(params) - 1)].name


def _takes(low: int, high: int) -> str:
    if low == high:
        return str(low)
    if high >= 2**31 - 1:
        return f"{low} or more"
    return f"{low} to {high}"


def _check_count(prefix: str, op: str, kind: str, n: int, low: int, high: int) -> None:
    if not low <= n <= high:
        raise InvalidModelError(prefix + f"has {n} {kind}(s); {op} takes {_takes(low, high)}")


def _check_required(prefix: str, op: str, kind: str, names, params) -> None:
    single = defs.OpSchema.FormalParameterOption.Single
    for i, name in enumerate(names):
        if not name and i < len(params) and params[i].option == single:
            raise InvalidModelError(prefix + f"{kind} {i} ({params[i].name}) is required by "
                                    f"{op} but is empty")


def _check_attributes(prefix: str, op: str, node, schema, spec: ConverterSpec,
                      key: str) -> None:
    seen = set()
    defined = schema.attributes
    for a in node.attribute:
        if a.name in seen:
            raise InvalidModelError(prefix + f"has attribute '{a.name}' twice")
        seen.add(a.name)
        if a.name not in defined:
            names = ", ".join(sorted(defined)) or "no attributes"
            raise InvalidModelError(prefix + f"has attribute '{a.name}', which {op} does not "
                                    f"define ({op} defines {names})")
        expected = int(defined[a.name].type)
        if a.ref_attr_name or a.type != expected:
            got = "a reference to a function attribute" if a.ref_attr_name \
                else AttributeProto.AttributeType.Name(a.type)
            raise InvalidModelError(prefix + f"attribute '{a.name}' is {got}; {op} defines it "
                                    f"as {AttributeProto.AttributeType.Name(expected)}")
        if a.name not in spec.attrs:
            default = defined[a.name].default_value
            if default.type == a.type and _same_value(a, default):
                continue  # the default, written out: ignoring it changes nothing
            value = repr(helper.get_attribute_value(a))
            value = value if len(value) <= 40 else value[:37] + "..."
            supported = ", ".join(sorted(spec.attrs)) or "none"
            raise UnsupportedError(prefix + f"attribute '{a.name}' (= {value}) is not "
                                   f"supported by graphjit (its {node.op_type} converter "
                                   f"implements attributes: {supported})")
        allowed = ATTR_VALUES.get(key, {}).get(a.name)
        if allowed is not None:
            value = helper.get_attribute_value(a)
            value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if value not in allowed:
                raise UnsupportedError(prefix + f"attribute {a.name}={value!r} is not "
                                       f"implemented by graphjit's {op} converter (it "
                                       f"implements {', '.join(map(repr, allowed))})")
    for name, attr in defined.items():
        if attr.required and name not in seen:
            raise InvalidModelError(prefix + f"lacks the attribute '{name}', which {op} "
                                    "requires")


def _same_value(a, b) -> bool:
    """Whether two attributes hold the same value (names and doc strings aside)."""
    x, y = AttributeProto(), AttributeProto()
    x.CopyFrom(a)
    y.CopyFrom(b)
    for p in (x, y):
        p.name, p.doc_string = "", ""
    return x.SerializeToString(deterministic=True) == y.SerializeToString(deterministic=True)
