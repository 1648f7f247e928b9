"""String primitives on graphjit's string tensors (object arrays of bytes, as TF's):
RegexFullMatch (whether each string matches a pattern in full), StringConcat
(elementwise concatenation, broadcasting), StringNormalizer (stopwords dropped, case
changed) and StringSplit; the last two's output sizes depend on the values, so they
are `dynamic_shape`.
Kernels never hold Python objects, so these run on the host with the Python kernels
below (graphjit.lower.partition places every op on strings there).
"""

from __future__ import annotations

import re

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError
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


def _normalizer_infer(specs, attrs):
    _check_strings(specs, "StringNormalizer")
    shape = specs[0][0]
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[0] not in (None, 1)):
        raise ShapeError(f"StringNormalizer takes [C] or [1, C] strings, got {list(shape)}")
    return tuple(shape[:-1]) + (None,), dtypes.string


def _normalizer_reference(x, stopwords, *, case_change_action, is_case_sensitive):
    change = {"LOWER": str.lower, "UPPER": str.upper, "NONE": str}[case_change_action]
    fold = str if is_case_sensitive else str.lower
    stops = {fold(_text(w)) for w in stopwords.reshape(-1)}
    kept = [change(_text(v)).encode("utf-8") for v in x.reshape(-1)
            if fold(_text(v)) not in stops] or [b""]  # all dropped: one empty string
    out = np.empty(len(kept), object)
    out[:] = kept
    return out.reshape(x.shape[:-1] + (len(kept),))


register(OpDef("StringNormalizer", _normalizer_infer, _normalizer_reference, Fusion.HOST,
               Host("how many strings remain depends on the values (stopwords): it runs "
                    "between the plans before and after it"),
               attrs={"case_change_action": Attr(AttrKind.STR),
                      "is_case_sensitive": Attr(AttrKind.BOOL)},
               dynamic_shape=True, differentiable=False, onnx=Onnx("StringNormalizer")))


def string_normalizer(x, stopwords=(), case_change_action: str = "NONE",
                      is_case_sensitive: bool = False, name: str | None = None) -> Tensor:
    """x ([C] or [1, C] strings) without the stopwords (compared case-insensitively
    unless `is_case_sensitive`), then lower- or upper-cased, as ONNX's StringNormalizer;
    [""] (rank kept) where nothing remains."""
    if case_change_action not in ("LOWER", "UPPER", "NONE"):
        raise ValueError(f"StringNormalizer: case_change_action {case_change_action!r} is "
                         "not LOWER, UPPER or NONE")
    x = convert_to_tensor(x)
    stops = convert_to_tensor(np.array([w.encode("utf-8") if isinstance(w, str) else w
                                        for w in stopwords], object).reshape(-1),
                              dtype=dtypes.string, graph=x.graph)
    return make("StringNormalizer", [x, stops], {"case_change_action": case_change_action,
                                                 "is_case_sensitive": bool(is_case_sensitive)},
                name=name, default_name="StringNormalizer")


def _split_infer(specs, attrs):
    _check_strings(specs, "StringSplit")
    shape = tuple(specs[0][0])
    return [(shape + (None,), dtypes.string), (shape, dtypes.int64)]


def _split_reference(x, *, delimiter, maxsplit):
    parts = [_text(v).split(delimiter or None, -1 if maxsplit is None else maxsplit)
             for v in x.reshape(-1)]
    width = max((len(p) for p in parts), default=0)
    out = np.empty((len(parts), width), object)
    for i, p in enumerate(parts):
        out[i] = [w.encode("utf-8") for w in p] + [b""] * (width - len(p))
    counts = np.array([len(p) for p in parts], np.int64)
    return out.reshape(x.shape + (width,)), counts.reshape(x.shape)


register(OpDef("StringSplit", _split_infer, _split_reference, Fusion.HOST,
               Host("how many pieces the longest split has depends on the values: it runs "
                    "between the plans before and after it"),
               attrs={"delimiter": Attr(AttrKind.STR), "maxsplit": Attr(AttrKind.INT_OR_NONE)},
               dynamic_shape=True, differentiable=False, onnx=Onnx("StringSplit")))


def string_split(x, delimiter: str = "", maxsplit: int | None = None,
                 name: str | None = None) -> list[Tensor]:
    """(pieces padded with "" to the longest split, [..., n]; each one's count), as ONNX's
    StringSplit: Python's str.split (an empty delimiter splits at runs of whitespace)."""
    x = convert_to_tensor(x)
    op = x.graph.create_op("StringSplit", [x], {"delimiter": delimiter, "maxsplit": maxsplit},
                           name=name, default_name="StringSplit")
    return list(op.outputs)


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


__all__ = ["regex_full_match", "string_concat", "string_normalizer", "string_split"]
