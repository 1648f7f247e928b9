"""tf.bitcast: a tensor's bytes read as another dtype, without converting values.

The primitive Bitcast runs on the host as a NumPy view (a copy into the output buffer
at most): there is no arithmetic to compile. As TF's, a narrower result dtype adds a
last axis of (input width / output width) elements, a wider one consumes such a last
axis. Bytes are read in the machine's order (little endian on every supported target).
A bool result is refused: a byte other than 0 or 1 is no bool the compiled code
handles, and NumPy's view would make one.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError
from graphjit.graph import Tensor
from graphjit.ops._util import convert_operands, make, op_errors
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register


def _bitcast_infer(specs, attrs):
    (shape, dtype), = specs
    to = attrs["dtype"]
    for d, what in ((dtype, "the input"), (to, "the result")):
        if d == dtypes.string:
            raise DTypeError(f"{what} is a string tensor; bitcast takes fixed-width dtypes")
    if to == dtypes.bool_ and dtype != dtypes.bool_:
        raise DTypeError(f"bitcast to bool from {dtype} is refused: a byte other than 0 or "
                         "1 is no valid bool")
    n_in, n_out = dtype.np.itemsize, to.np.itemsize
    if n_in == n_out:
        return tuple(shape), to
    if n_in > n_out:
        return tuple(shape) + (n_in // n_out,), to
    ratio = n_out // n_in
    if not shape or shape[-1] not in (None, ratio):
        raise ShapeError(f"bitcast from {dtype} to the wider {to} needs a last axis of "
                         f"{ratio} elements, got shape {list(shape)}")
    return tuple(shape[:-1]), to


def _bitcast_reference(x, *, dtype):
    to = dtypes.as_dtype(dtype).np
    out = np.array(x, order="C").view(to)  # the last axis scales by the width ratio
    if x.dtype.itemsize > to.itemsize:
        return out.reshape(x.shape + (x.dtype.itemsize // to.itemsize,))
    if x.dtype.itemsize < to.itemsize:
        return out.reshape(x.shape[:-1])
    return out


register(OpDef("Bitcast", _bitcast_infer, _bitcast_reference, Fusion.HOST,
               Host("a reinterpretation of the input's bytes (a NumPy view): nothing to "
                    "compute, so nothing to compile"),
               attrs={"dtype": Attr(AttrKind.DTYPE)}, differentiable=False,
               onnx=Onnx("BitCast")))


def bitcast(input, type, name: str | None = None) -> Tensor:  # noqa: A002 - TF's names
    """`input`'s bytes as dtype `type`, as TF's tf.bitcast (see the module docstring)."""
    (x,) = convert_operands([input])
    with op_errors("Bitcast", name, "Bitcast", [x]):
        attrs = {"dtype": dtypes.as_dtype(type)}
    return make("Bitcast", [x], attrs, name=name, default_name="Bitcast")


__all__ = ["bitcast"]
