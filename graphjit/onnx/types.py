"""ONNX element types <-> graphjit dtypes, with errors that name the type graphjit lacks."""

from __future__ import annotations

from graphjit import dtypes
from graphjit.dtypes import DType
from graphjit.errors import UnsupportedError

# TensorProto.DataType numbers (stable in the ONNX spec) of the types graphjit has.
_TO_DTYPE = {
    1: dtypes.float32, 2: dtypes.uint8, 3: dtypes.int8, 5: dtypes.int16, 6: dtypes.int32,
    7: dtypes.int64, 9: dtypes.bool_, 10: dtypes.float16, 11: dtypes.float64, 4: dtypes.uint16,
    12: dtypes.uint32, 13: dtypes.uint64,
}
# The storage-only types (graphjit.dtypes.NARROW, with ml_dtypes installed).
_TO_DTYPE.update({code: getattr(dtypes, name) for code, name in (
    (16, "bfloat16"), (17, "float8_e4m3fn"), (18, "float8_e4m3fnuz"), (19, "float8_e5m2"),
    (20, "float8_e5m2fnuz"), (21, "uint4"), (22, "int4"), (23, "float4_e2m1fn"),
    (24, "float8_e8m0fnu"), (25, "uint2"), (26, "int2")) if hasattr(dtypes, name)})
_FROM_DTYPE = {d: code for code, d in _TO_DTYPE.items()}


def onnx_type_name(elem_type: int) -> str:
    """`UINT16` for 4: the name ONNX gives an element type."""
    from onnx import TensorProto
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


_STRING = 8  # TensorProto.STRING


def to_dtype(elem_type: int, what: str, strings: bool = False) -> DType:
    """The graphjit dtype of an ONNX element type; `what` names the tensor for errors.

    STRING is graphjit.string only with `strings=True` (model inputs): few ops take
    strings (Equal, on the host), and a string made inside a model (a Cast to STRING,
    a constant) would reach ops that refuse it."""
    if int(elem_type) == _STRING and strings:
        return dtypes.string
    dtype = _TO_DTYPE.get(int(elem_type))
    if dtype is None:
        raise UnsupportedError(
            f"{what} has ONNX type {onnx_type_name(elem_type)}, which graphjit does not "
            f"support (graphjit dtypes: {', '.join(d.name for d in dtypes.ALL)})")
    return dtype


def to_onnx(dtype) -> int:
    """The ONNX element type (TensorProto.DataType number) of a graphjit dtype."""
    return _FROM_DTYPE[dtypes.as_dtype(dtype)]


def np_dtype(array_dtype, what: str) -> DType:
    """The graphjit dtype of a NumPy dtype read from ONNX data (initializers, attributes);
    strings are refused, as to_dtype refuses them."""
    try:
        dtype = dtypes.as_dtype(array_dtype)
    except Exception:  # noqa: BLE001
        dtype = None
    # (None == float64 holds: as_dtype(None))
    if dtype is None or dtype not in dtypes.ALL + dtypes.NARROW:
        raise UnsupportedError(f"{what} has dtype {array_dtype}, which graphjit does not "
                               f"support (graphjit dtypes: "
                               f"{', '.join(d.name for d in dtypes.ALL)})")
    return dtype
