"""graphjit's dtypes: TensorFlow-style names over NumPy dtypes.

`graphjit.float32` etc. compare equal to each other, convert to NumPy with
`.as_numpy_dtype`, and `as_dtype` accepts a DType, a NumPy dtype or type, or a
name, so user code can pass whichever it has.

`string` is TF's byte-string dtype: its arrays are NumPy object arrays of `bytes`
(as TF1's sess.run returns them). Kernels never compute strings: ops that read or
write them run on the host (summaries, identities of constants), and `ALL` lists
only the dtypes kernels compute, so an op checking its dtypes against it refuses them.
"""

from __future__ import annotations

import sys

import numpy as np

from graphjit.errors import DTypeError


class DType:
    """A tensor element type (immutable, one instance per type)."""

    __slots__ = ("name", "_np", "_kind", "_narrow")

    def __init__(self, name: str, np_dtype: np.dtype, narrow_kind: str | None = None):
        self.name = name
        self._np = np.dtype(np_dtype)
        # ml_dtypes' types have NumPy kind "V" (but float8_e5m2 "f"): they say their own
        self._kind = narrow_kind or self._np.kind
        self._narrow = narrow_kind is not None

    @property
    def is_narrow(self) -> bool:
        """A storage-only dtype (bfloat16, float8, float4, int4, int2: NARROW): the host
        converts it, kernels never compute it."""
        return self._narrow

    @property
    def as_numpy_dtype(self) -> type:
        return self._np.type

    @property
    def np(self) -> np.dtype:
        """The NumPy dtype object (what arrays of this dtype have)."""
        return self._np

    @property
    def is_floating(self) -> bool:
        return self._kind == "f"

    @property
    def is_integer(self) -> bool:
        return self._kind in "iu"

    @property
    def is_unsigned(self) -> bool:
        return self._kind == "u"

    @property
    def is_bool(self) -> bool:
        return self._np.kind == "b"

    @property
    def is_string(self) -> bool:
        return self._np.kind == "O"

    @property
    def is_numeric(self) -> bool:
        return self._kind in "iuf"

    @property
    def size(self) -> int:
        return self._np.itemsize

    @property
    def min(self):
        return _info(self).min

    @property
    def max(self):
        return _info(self).max

    def __eq__(self, other) -> bool:
        if isinstance(other, DType):
            return self is other
        try:
            return self is as_dtype(other)
        except (DTypeError, TypeError):
            return False

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"graphjit.{self.name}"

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        return as_dtype, (self.name,)


float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
uint16 = DType("uint16", np.uint16)
uint32 = DType("uint32", np.uint32)
uint64 = DType("uint64", np.uint64)
bool_ = DType("bool", np.bool_)
string = DType("string", np.object_)  # an object array of bytes

half = float16
double = float64

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
       bool_)  # kernels' dtypes


# ONNX's storage types, from the ml_dtypes package where it is installed (the `onnx`
# extra): values that are only converted to and from the other dtypes (Cast and the
# quantize ops, on the host with NumPy), never computed by kernels or ops checking
# their dtypes against ALL. Importing ml_dtypes costs about 0.5 s of CPU, more than the
# rest of graphjit's import, so it is imported on the first use of one of these types
# (a name below, NARROW or EVERY, or an array of such a dtype), not with graphjit.
_NARROW_KINDS = {"bfloat16": "f", "float8_e4m3fn": "f", "float8_e4m3fnuz": "f",
                 "float8_e5m2": "f", "float8_e5m2fnuz": "f", "float8_e8m0fnu": "f",
                 "float4_e2m1fn": "f", "int4": "i", "uint4": "u", "int2": "i", "uint2": "u"}
_narrow: tuple[DType, ...] | None = None


def _load_narrow() -> tuple[DType, ...]:
    """The storage-only dtypes (empty without ml_dtypes), made on the first call."""
    global _narrow
    if _narrow is None:
        try:
            import ml_dtypes
        except ImportError:
            ml_dtypes = None
        made = tuple(DType(name, getattr(ml_dtypes, name), kind)
                     for name, kind in _NARROW_KINDS.items() if hasattr(ml_dtypes, name))
        for d in made:
            globals()[d.name] = d
            _BY_NAME[d.name] = d
            _BY_NP[d.np] = d
            _TF_ONLY.discard(d.name)
        _narrow = made
    return _narrow


def __getattr__(name: str):
    """NARROW, EVERY and the storage-only dtypes, which import ml_dtypes when first asked."""
    if name == "NARROW":
        return _load_narrow()
    if name == "EVERY":
        return _COMPUTED + _load_narrow()
    if name in _NARROW_KINDS:
        _load_narrow()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_COMPUTED = ALL + (string,)
# TF's names (tf.as_dtype): "float" is float32, as in TF, not NumPy's float64.
_BY_NAME = {d.name: d for d in _COMPUTED} | {"half": float16, "float": float32,
                                             "double": float64}
# Names TF knows that graphjit has no dtype for (the narrow ones leave once loaded).
_TF_ONLY = {"bfloat16", "complex64", "complex128", "qint8", "quint8", "qint16", "quint16",
            "qint32", "resource", "variant"}
_BY_NP = {d.np: d for d in _COMPUTED}
# Every dtype name graphjit may have, known without importing ml_dtypes (for messages).
NAMES = tuple(d.name for d in _COMPUTED) + tuple(_NARROW_KINDS)


def names() -> dict[str, DType]:
    """Each dtype by its own name (EVERY; the narrow ones where ml_dtypes is installed)."""
    _load_narrow()
    return {d.name: d for d in _COMPUTED + _narrow}


def _info(dtype: DType):
    if dtype.is_narrow:
        import ml_dtypes
        return ml_dtypes.finfo(dtype.np) if dtype.is_floating else ml_dtypes.iinfo(dtype.np)
    return np.finfo(dtype.np) if dtype.is_floating else np.iinfo(dtype.np)


def as_dtype(value) -> DType:
    """Convert a DType, NumPy dtype/type or name into a graphjit DType."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        name = value[:-4] if value.endswith("_ref") else value  # TF1's reference dtypes
        if name in _NARROW_KINDS:
            _load_narrow()
        if name in _BY_NAME:
            return _BY_NAME[name]
        if name in _TF_ONLY:
            raise DTypeError(f"dtype '{value}' is not supported by graphjit "
                             f"(supported: {', '.join(d.name for d in ALL)})")
        raise DTypeError(f"cannot convert {value!r} to a dtype: TF's names are "
                         f"{', '.join(sorted(_BY_NAME))} (and {', '.join(sorted(_TF_ONLY))})")
    if value is float:
        return float32  # TF: Python floats default to float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    try:
        npd = np.dtype(value)
    except TypeError as exc:
        raise DTypeError(f"cannot interpret {value!r} as a dtype") from exc
    if npd.kind in "SU":  # NumPy's fixed-width strings: TF's string
        return string
    if npd not in _BY_NP and npd.kind in "Vfiu" and "ml_dtypes" in sys.modules:
        _load_narrow()  # (an array of ml_dtypes' types: ml_dtypes is imported already)
    if npd not in _BY_NP:
        raise DTypeError(f"dtype {npd} is not supported by graphjit "
                         f"(supported: {', '.join(d.name for d in _COMPUTED + _load_narrow())})")
    return _BY_NP[npd]
