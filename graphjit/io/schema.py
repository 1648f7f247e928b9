"""The shape of graph.json: parsing it, its header (format and version) and its fields.

Only the structure is checked here (which fields, of which JSON types); what the
values mean (op types, references, attrs, shapes) is checked by the loader in
graphjit.io.native, which can name ops.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from graphjit import dtypes
from graphjit.errors import LoadError
from graphjit.io.attrs_codec import is_dims


def parse_json(path: str, data: bytes):
    """The JSON value of graph.json; strict (no NaN/Infinity tokens)."""
    def reject(token):
        raise ValueError(f"{token} is not JSON (non-finite floats are written as tagged "
                         "strings)")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=reject)
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path}: graph.json is not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LoadError(f"{path}: graph.json is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise LoadError(f"{path}: graph.json is not valid JSON: {exc}") from None
    except RecursionError:
        raise LoadError(f"{path}: graph.json is nested too deeply") from None


def check_header(path: str, doc, format_name: str, version: int) -> None:
    """A graphjit graph file of a version this graphjit reads (checked before the rest,
    whose layout a newer version may have changed)."""
    if not isinstance(doc, dict):
        raise LoadError(f"{path}: graph.json should hold a JSON object, not a "
                        f"{_json_type(doc)}")
    if doc.get("format") != format_name:
        raise LoadError(f"{path}: not a graphjit graph file (its 'format' is "
                        f"{doc.get('format')!r}, expected '{format_name}')")
    found = doc.get("format_version")
    if type(found) is not int or found < 1:
        raise LoadError(f"{path}: 'format_version' should be an integer >= 1, got {found!r}")
    if found > version:
        writer = doc.get("graphjit_version")
        by = f", written by graphjit {writer}" if isinstance(writer, str) else ""
        raise LoadError(f"{path}: file format {found} is newer than this graphjit (reads <= "
                        f"{version}){by}; upgrade graphjit")


def _json_type(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _list_of(check: Callable) -> Callable:
    return lambda v: type(v) is list and all(check(x) for x in v)


def _is_str(v) -> bool:
    return type(v) is str


def _is_name(v) -> bool:
    return type(v) is str and v != ""


def _is_ref(v) -> bool:
    return type(v) is dict and len(v) == 1 and ("tensor" in v or "op" in v) \
        and _is_name(next(iter(v.values())))


Field = tuple[Callable, str]

TOP: dict[str, Field] = {
    "format": (_is_str, "a string"),
    "format_version": (lambda v: type(v) is int, "an integer"),
    "graphjit_version": (_is_str, "a string"),
    "seed": (lambda v: v is None or type(v) is int, "an integer or null"),
    "fetches": (_list_of(_is_name), "a list of tensor or op names"),
    "feeds": (_list_of(_is_name), "a list of tensor names"),
    "variables": (_list_of(lambda v: type(v) is dict), "a list of objects"),
    "variable_values": (lambda v: type(v) is dict and all(_is_name(x) for x in v.values()),
                        "an object mapping variable names to npz keys"),
    "collections": (lambda v: type(v) is dict and all(_list_of(_is_ref)(x) for x in v.values()),
                    'an object mapping names to lists of {"tensor": name} or {"op": name}'),
    "ops": (_list_of(lambda v: type(v) is dict), "a list of objects"),
}
OP: dict[str, Field] = {
    "name": (_is_name, "a non-empty string"),
    "type": (_is_name, "a non-empty string"),
    "inputs": (_list_of(_is_name), "a list of tensor names"),
    "control_inputs": (_list_of(_is_name), "a list of op names"),
    "attrs": (lambda v: type(v) is dict, "an object"),
    "outputs": (_list_of(lambda v: type(v) is dict), "a list of objects"),
}
FUNCTION: dict[str, Field] = {  # an attr's sub-graph: {"function": {...}}
    "name": (_is_name, "a non-empty string"),
    "inputs": (_list_of(_is_name), "a list of tensor names"),
    "outputs": (_list_of(_is_name), "a list of tensor names"),
    "ops": (_list_of(lambda v: type(v) is dict), "a list of objects"),
}
OUTPUT: dict[str, Field] = {
    "shape": (is_dims, "a list of dimensions (integers >= 0 or null), or null (unknown rank)"),
    "dtype": (lambda v: type(v) is str and v in dtypes.names(),
              f"one of {', '.join(sorted(dtypes.NAMES))}"),
}
VARIABLE: dict[str, Field] = {
    "op": (_is_name, "a variable op name"),
    "initial_value": (_is_name, "a tensor name"),
    "initializer": (_is_name, "an op name"),
    "trainable": (lambda v: type(v) is bool, "true or false"),
}


def check_fields(path: str, obj: dict, fields: dict[str, Field], where: str) -> None:
    """`obj` has exactly `fields`, each of its JSON type."""
    for key in obj:
        if key not in fields:
            raise LoadError(f"{path}: {where} has an unknown field '{key}' (expected "
                            f"{', '.join(fields)})")
    for key, (check, what) in fields.items():
        if key not in obj:
            raise LoadError(f"{path}: {where} lacks the field '{key}'")
        if not check(obj[key]):
            value = repr(obj[key])
            value = value if len(value) <= 60 else value[:57] + "..."
            raise LoadError(f"{path}: {where} field '{key}' should be {what}, got {value}")


def check_schema(path: str, doc: dict) -> None:
    """Every field of the document, its ops, their outputs and the variables."""
    check_fields(path, doc, TOP, "graph.json")
    for i, op in enumerate(doc["ops"]):
        where = f"ops[{i}]" + (f" ('{op['name']}')" if _is_name(op.get("name")) else "")
        check_fields(path, op, OP, where)
        for k, output in enumerate(op["outputs"]):
            check_fields(path, output, OUTPUT, f"{where} outputs[{k}]")
    for i, var in enumerate(doc["variables"]):
        check_fields(path, var, VARIABLE, f"variables[{i}]")
