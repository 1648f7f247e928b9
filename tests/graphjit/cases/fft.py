"""Cases for the Fft primitive (ONNX's real layout: a last axis of real and imaginary
parts): the expectation is an explicit O(n^2) sum of e^(-+2 pi i jk / n) terms in
float64, never numpy.fft."""

from __future__ import annotations

import numpy as np
from hypothesis.extra import numpy as hnp

from graphjit.ops.fft import fft_real_layout
from tests.graphjit.cases.base import Case


def _dft(a, length: int, inverse: bool, onesided: bool) -> np.ndarray:
    """The transform along axis -2 of a [..., n, 1 or 2], by the defining sum."""
    z = a[..., 0].astype(np.float64) + (1j * a[..., 1] if a.shape[-1] == 2 else 0)
    n = z.shape[-1]
    if inverse and onesided:  # irfft: rebuild the Hermitian spectrum of `length` bins
        half = np.zeros(z.shape[:-1] + (length // 2 + 1,), complex)
        half[..., :min(n, half.shape[-1])] = z[..., :half.shape[-1]]
        half[..., 0] = half[..., 0].real
        if length % 2 == 0:
            half[..., -1] = half[..., -1].real
        z = np.concatenate([half, np.conj(half[..., 1:(length + 1) // 2][..., ::-1])], -1)
    else:
        z = z[..., :length] if n >= length else np.concatenate(
            [z, np.zeros(z.shape[:-1] + (length - n,))], -1)
    k = np.arange(length)
    w = np.exp((2j if inverse else -2j) * np.pi * np.outer(k, k) / length)
    y = z @ w / (length if inverse else 1)
    if inverse and onesided:
        return y.real[..., None].astype(a.dtype)
    y = y[..., :length // 2 + 1] if onesided and not inverse else y
    return np.stack([y.real, y.imag], -1).astype(a.dtype)


def _case(name, length, inverse, onesided, parts, default):
    return Case(name, lambda x: fft_real_layout(x, length, inverse, onesided) * 1,
                lambda a: _dft(a, length, inverse, onesided),
                default_shapes=(default + (parts,),),
                shapes=hnp.array_shapes(min_dims=1, max_dims=2, max_side=6).map(
                    lambda s: (s + (parts,),)),
                rtol={"float32": 1e-4, "float64": 1e-10}, atol=1e-4)


CASES = [
    _case("fft_complex", 6, False, False, 2, (2, 5)),  # zero-padded
    _case("fft_real_onesided", 4, False, True, 1, (3, 6)),  # cut
    _case("ifft_complex", 5, True, False, 2, (5,)),
    _case("irfft", 6, True, True, 2, (2, 4)),
]
