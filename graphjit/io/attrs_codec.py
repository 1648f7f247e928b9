"""Op attrs <-> JSON with explicit type tags, and the attrs each op type takes.

Every value becomes a one-key object naming its type (`{"int": 3}`,
`{"tuple": [...]}`), so a loaded attr has exactly the Python type it was saved
with: a tuple stays a tuple, a TensorShape a TensorShape, a NumPy scalar a NumPy
scalar. Arrays go to the npz; the JSON holds their key. A sub-graph (a cond's
branch, a loop's body) is `{"function": {...}}`, its ops written as the graph's
(graphjit.io.native) and rebuilt by the loader. Decoding builds only None, bools,
ints, floats, strings, tuples, lists, DTypes, TensorShapes, arrays and sub-graphs of
registered ops: nothing in a file can name code to run.

What each attr holds, and which attrs an op type takes, is the op's registry entry
(`OpDef.attrs`); tests check it covers every attr of the registry's case table.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError
from graphjit.function import Function
from graphjit.graph import TensorShape
from graphjit.ops._util import AxesOfRank, AxisOfRank, UnknownDims
from graphjit.registry import RankDependent, get_op_def


class AttrError(Exception):
    """An attr value that cannot be encoded or decoded; callers add the op, attr and file."""


_FLOAT_WORDS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode(value, put_array: Callable[[np.ndarray], str], put_function: Callable | None = None):
    """The tagged JSON form of `value`; `put_array(array) -> key` stores an array,
    `put_function(function) -> JSON object` describes a sub-graph (an attr's whole value)."""
    if isinstance(value, Function) and put_function is not None:
        return {"function": put_function(value)}
    if value is None:
        return {"none": None}
    if isinstance(value, dtypes.DType):
        return {"dtype": value.name}
    if isinstance(value, TensorShape):  # before tuple: it is one
        return {"shape": shape_dims(value)}
    if isinstance(value, RankDependent):
        return _encode_rank_dependent(value)
    kind = type(value)
    if kind is bool:
        return {"bool": value}
    if kind is int:
        return {"int": value}
    if kind is float:
        if math.isfinite(value):
            return {"float": value}
        return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if kind is str:
        return {"str": value}
    if kind in (tuple, list):
        return {kind.__name__: [encode(v, put_array) for v in value]}
    if isinstance(value, Function):
        raise AttrError(f"holds the sub-graph {value.name!r} inside a list or tuple, which "
                        "the format cannot store (only as an attr's whole value)")
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind in "OSU":  # an object array would need pickle to load
            raise AttrError(f"holds an array of dtype {array.dtype} (strings or Python "
                            "objects), which the format does not store (it stores numeric "
                            "and bool arrays)")
        try:
            dtypes.as_dtype(array.dtype)
        except DTypeError:
            raise AttrError(f"holds an array of dtype {array.dtype}, which graphjit does "
                            "not support") from None
        tag = "array" if kind is np.ndarray else "scalar"
        return {tag: put_array(array)}
    raise AttrError(f"holds a {kind.__name__} ({value!r:.60}), which the format cannot store "
                    "(it stores None, bool, int, float, str, tuple, list, DType, TensorShape "
                    "and NumPy arrays/scalars)")


def decode(obj, get_array: Callable[[str], np.ndarray], get_function: Callable | None = None):
    """The value of a tagged JSON form; AttrError says what is malformed.
    `get_function(payload)` rebuilds a sub-graph (allowed only as an attr's whole value)."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise AttrError(f"expected an object with one type tag such as {{\"int\": 3}}, "
                        f"got {_short(obj)}")
    ((tag, payload),) = obj.items()
    if tag == "function" and get_function is not None:
        return get_function(payload)
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise AttrError(f"unknown type tag '{tag}' (known: {', '.join(_DECODERS)})")
    return decoder(payload, get_array)


def _payload(check: Callable, what: str, build: Callable = lambda p, get: p):
    def decoder(payload, get_array):
        if not check(payload):
            raise AttrError(f"expected {what}, got {_short(payload)}")
        return build(payload, get_array)
    return decoder


def shape_dims(shape: TensorShape) -> list | None:
    """A shape as JSON: its dims, or null for a shape of unknown rank."""
    return None if shape.unknown_rank else list(shape)


def is_dims(p) -> bool:
    """A shape's JSON form: a list of dims (None where unknown), or None (unknown rank)."""
    return p is None or (
        type(p) is list and all(d is None or (type(d) is int and d >= 0) for d in p))


# Attr values that depend on the rank of an op's input, unknown when it was built
# (graphjit.specialize): tag -> (class, its field, what the field holds, the check).
_RANK_DEPENDENT = {
    "axes_of_rank": (AxesOfRank, "axis", "null or a list of integers",
                     lambda p: p is None or (type(p) is list
                                             and all(type(a) is int for a in p))),
    "axis_of_rank": (AxisOfRank, "axis", "an integer", lambda p: type(p) is int),
    "unknown_dims": (UnknownDims, None, "null", lambda p: p is None),
}


def _encode_rank_dependent(value) -> dict:
    for tag, (cls, field, _, _) in _RANK_DEPENDENT.items():
        if type(value) is cls:
            payload = None if field is None else getattr(value, field)
            return {tag: list(payload) if isinstance(payload, tuple) else payload}
    raise AttrError(f"holds a {type(value).__name__}, which the format cannot store")


def _rank_dependent_decoder(tag: str):
    cls, field, what, check = _RANK_DEPENDENT[tag]

    def build(p, get_array):
        if field is None:
            return cls()
        return cls(tuple(p) if isinstance(p, list) else p)
    return _payload(check, what, build)


def _array(p, get_array):
    return get_array(p)


def _scalar(p, get_array):
    array = get_array(p)
    if array.ndim != 0:
        raise AttrError(f"array '{p}' should hold a scalar, has shape {list(array.shape)}")
    return array[()]


_DECODERS = {
    "none": _payload(lambda p: p is None, "null"),
    "bool": _payload(lambda p: type(p) is bool, "true or false"),
    "int": _payload(lambda p: type(p) is int, "an integer"),
    "float": _payload(lambda p: type(p) is float or (type(p) is str and p in _FLOAT_WORDS),
                      "a number with a fraction or exponent, or \"nan\", \"inf\", \"-inf\"",
                      lambda p, get: _FLOAT_WORDS[p] if isinstance(p, str) else p),
    "str": _payload(lambda p: type(p) is str, "a string"),
    "tuple": _payload(lambda p: type(p) is list, "a list",
                      lambda p, get: tuple(decode(v, get) for v in p)),
    "list": _payload(lambda p: type(p) is list, "a list",
                     lambda p, get: [decode(v, get) for v in p]),
    "dtype": _payload(lambda p: type(p) is str and p in dtypes.names(),
                      f"one of {', '.join(dtypes.NAMES)}",
                      lambda p, get: dtypes.names()[p]),
    "shape": _payload(is_dims, "a list of dimensions (integers >= 0 or null), or null",
                      lambda p, get: TensorShape(p)),
    **{tag: _rank_dependent_decoder(tag) for tag in _RANK_DEPENDENT},
    "array": _payload(lambda p: type(p) is str, "an npz key", _array),
    "scalar": _payload(lambda p: type(p) is str, "an npz key", _scalar),
}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- what each attr holds -----------------------------------------------------------

def _ints(v) -> bool:
    return type(v) is tuple and all(type(x) is int for x in v)


def _scalar_number(v) -> bool:
    return type(v) in (bool, int, float) or (isinstance(v, np.generic) and v.dtype.kind in "biuf")


KINDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "int": (lambda v: type(v) is int, "an int"),
    "int or None": (lambda v: v is None or type(v) is int, "an int or None"),
    "bool": (lambda v: type(v) is bool, "a bool"),
    "str": (lambda v: type(v) is str, "a str"),
    "dtype": (lambda v: isinstance(v, dtypes.DType), "a DType"),
    "number": (_scalar_number, "a bool, int or float"),
    "ints": (_ints, "a tuple of ints"),
    "int pairs": (lambda v: type(v) is tuple and all(_ints(p) and len(p) == 2 for p in v),
                  "a tuple of (int, int) pairs"),
    "shape": (lambda v: isinstance(v, TensorShape) or _ints(v),
              "a TensorShape or a tuple of ints"),
    "slices": (lambda v: type(v) is tuple and all(
        type(s) is tuple and all(x is None or type(x) is int for x in s) for s in v),
        "a tuple of (start, stop, step) tuples of ints or None"),
    "array": (lambda v: isinstance(v, np.ndarray), "a NumPy array"),
    "function": (lambda v: isinstance(v, Function), "a sub-graph function"),
}

def attr_kind(op_type: str, name: str) -> str | None:
    """The kind of value attr `name` of `op_type` holds (a key of KINDS), from the op's
    registry entry; None for an attr the op does not take."""
    attr = get_op_def(op_type).attrs.get(name)
    return None if attr is None else attr.kind.value


def check_kind(op_type: str, name: str, value) -> str | None:
    """None if `value` fits the attr, else what was expected."""
    kind = attr_kind(op_type, name)
    if kind is None:
        return "no such attr"
    fits, what = KINDS[kind]
    return None if fits(value) or isinstance(value, RankDependent) else what


@functools.cache
def op_signature(op_type: str) -> tuple[int | None, frozenset, frozenset]:
    """(number of inputs or None if variadic, required attrs, optional attrs): the attrs
    from the op's registry entry, the number of inputs from its reference's positional
    parameters (elementwise references take *arrays: None)."""
    op_def = get_op_def(op_type)
    params = inspect.signature(op_def.reference).parameters.values()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    return (None if variadic else len(positional),
            frozenset(n for n, a in op_def.attrs.items() if a.required),
            frozenset(n for n, a in op_def.attrs.items() if not a.required))
