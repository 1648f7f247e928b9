"""The discrete Fourier transform of a signal in ONNX's real layout, by an FFT.

graphjit has no complex dtype, so the primitive Fft takes and gives complex numbers as
ONNX's DFT does: a last axis of size 2 (real, imaginary) or 1 (a real signal). It
transforms along the axis before that one, as NumPy's fft (forward; `onesided` keeps
bins 0..length//2), ifft (`inverse`) or irfft (`inverse` and `onesided`: the input is
the one-sided half of a Hermitian spectrum, the result real, [..., length, 1]), with
n=length: the signal cut or zero-padded to `length`, the inverse divided by it. A
matrix product with cosine and sine matrices is O(n^2) and rounds differently from an
FFT; the op runs numpy.fft on the host instead, in the input's precision (complex64
for float32, as NumPy 2 computes it). tf.signal.fft and friends take complex tensors,
which graphjit lacks: only this real-layout primitive is offered (graphjit.onnx's DFT
and STFT use it).
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError
from graphjit.graph import Tensor
from graphjit.ops._util import check_dtype, convert_operands, make
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register

_TYPES = frozenset({dtypes.float32, dtypes.float64})


def _bins(length: int, inverse: bool, onesided: bool) -> int:
    """The size of the transformed axis in the result."""
    return length if inverse or not onesided else length // 2 + 1


def _fft_infer(specs, attrs):
    (shape, dtype), = specs
    check_dtype(dtype, _TYPES)
    length, inverse, onesided = attrs["length"], attrs["inverse"], attrs["onesided"]
    if len(shape) < 2:
        raise ShapeError(f"the signal needs a rank >= 2 shape [..., n, 1 or 2], got "
                         f"{list(shape)}")
    if shape[-1] not in (None, 1, 2):
        raise ShapeError(f"the last axis holds the real and imaginary parts: its size must "
                         f"be 1 or 2, got {shape[-1]}")
    if length < 1:
        raise ShapeError(f"length must be >= 1, got {length}")
    parts = 1 if inverse and onesided else 2
    return tuple(shape[:-2]) + (_bins(length, inverse, onesided), parts), dtype


def _fft_reference(x, *, length, inverse, onesided):
    signal = x[..., 0] if x.shape[-1] == 1 else x[..., 0] + 1j * x[..., 1]
    if inverse and onesided:
        return np.fft.irfft(signal, n=length, axis=-1)[..., None].astype(x.dtype)
    out = (np.fft.ifft if inverse else np.fft.fft)(signal, n=length, axis=-1)
    out = out[..., :_bins(length, inverse, onesided)]
    return np.ascontiguousarray(np.stack([out.real, out.imag], axis=-1), x.dtype)


register(OpDef("Fft", _fft_infer, _fft_reference, Fusion.HOST,
               Host("an FFT (NumPy's pocketfft) rounds as the references of DFT models "
                    "do and costs O(n log n); graphjit compiles no complex arithmetic"),
               attrs={"length": Attr(AttrKind.INT), "inverse": Attr(AttrKind.BOOL),
                      "onesided": Attr(AttrKind.BOOL)},
               differentiable=False, onnx=Onnx("DFT", imported=False)))


def fft_real_layout(x, length: int, inverse: bool = False, onesided: bool = False,
                    name: str | None = None) -> Tensor:
    """The Fft primitive: x [..., n, 1 or 2] transformed along axis -2 (see the module
    docstring) to [..., bins, 2], or [..., length, 1] for irfft."""
    (x,) = convert_operands([x])
    attrs = {"length": int(length), "inverse": bool(inverse), "onesided": bool(onesided)}
    return make("Fft", [x], attrs, name=name, default_name="Fft")


__all__ = ["fft_real_layout"]
