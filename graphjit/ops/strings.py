"""String primitives on graphjit's string tensors (object arrays of bytes, as TF's):
RegexFullMatch (whether each string matches a pattern in full) and StringConcat
(elementwise concatenation, broadcasting). Kernels never hold Python objects, so these
run on the host with the Python kernels below (graphjit.lower.partition places every op
on strings there).
"""

from __future__ import annotations

import re

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError
from graphjit.graph import Tensor
from graphjit.ops._util import broadcast_shapes, convert_to_tensor, graph_of, make
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register

_HOST = Host("strings: kernels hold no Python objects")


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _check_strings(specs, op: str) -> None:
    for i, (_, dtype) in enumerate(specs):
        if not dtype.is_string:
            raise DTypeError(f"{op} takes strings; input {i} has dtype {dtype}")


def _regex_infer(specs, attrs):
    _check_strings(specs, "RegexFullMatch")
    return specs[0][0], dtypes.bool_


def _regex_reference(x, *, pattern):
    compiled = re.compile(pattern)
    flat = [compiled.fullmatch(_text(v)) is not None for v in x.reshape(-1)]
    return np.array(flat, bool).reshape(x.shape)


def _concat_infer(specs, attrs):
    _check_strings(specs, "StringConcat")
    return broadcast_shapes(specs[0][0], specs[1][0]), dtypes.string


def _concat_reference(x, y):
    a, b = np.broadcast_arrays(x, y)
    out = np.empty(a.shape, object)
    for i in np.ndindex(a.shape):
        out[i] = _text(a[i]).encode("utf-8") + _text(b[i]).encode("utf-8")
    return out


register(OpDef("RegexFullMatch", _regex_infer, _regex_reference, Fusion.HOST, _HOST,
               attrs={"pattern": Attr(AttrKind.STR)}, differentiable=False,
               onnx=Onnx("RegexFullMatch")))
register(OpDef("StringConcat", _concat_infer, _concat_reference, Fusion.HOST, _HOST,
               differentiable=False, onnx=Onnx("StringConcat")))


def regex_full_match(x, pattern: str, name: str | None = None) -> Tensor:
    """Whether each string of x matches `pattern` (Python's re syntax) in full."""
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"RegexFullMatch: pattern {pattern!r} does not compile: {e}") from None
    x = convert_to_tensor(x)
    return make("RegexFullMatch", [x], {"pattern": str(pattern)}, name=name,
                default_name="RegexFullMatch")


def string_concat(x, y, name: str | None = None) -> Tensor:
    """x + y per element (broadcasting), as ONNX's StringConcat."""
    graph = graph_of(x, y)
    x, y = (convert_to_tensor(v, graph=graph) for v in (x, y))
    return make("StringConcat", [x, y], name=name, default_name="StringConcat")


__all__ = ["regex_full_match", "string_concat"]
