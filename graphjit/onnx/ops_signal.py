"""ONNX converters for the signal ops: DFT, STFT, the Hann, Hamming and Blackman windows
and MelWeightMatrix.

A DFT is graphjit's Fft primitive (graphjit.ops.fft), which keeps ONNX's layout (no
complex dtype: real and imaginary parts in a last axis of size 1 or 2) and runs
numpy.fft on the host, in the input's precision, so it rounds as the NumPy references
of the node suite do. STFT gathers its frames with a constant index pattern, weights them by the
window and takes that DFT. The windows and the mel matrix depend on scalar inputs only:
they are computed at import with NumPy (those inputs must be static).
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import translates
from graphjit.onnx.types import to_dtype
from graphjit.ops.fft import fft_real_layout

_DFT_SINCE = 17  # the opset that added DFT


def _scalar(ctx: NodeContext, i: int, what: str):
    value = np.asarray(ctx.require_static(i, what))
    if value.size != 1:
        raise ctx.invalid(f"{what} must be a scalar, got shape {list(value.shape)}")
    return value.reshape(()).item()


def dft(ctx: NodeContext, x: Tensor, shape: list, axis: int, length: int, inverse: bool,
        onesided: bool) -> Tensor:
    """ONNX's DFT of x [..., 1 or 2] (static `shape`) along `axis` (not the last), as
    NumPy's fft, ifft and (inverse and onesided) irfft with n=length: graphjit's Fft
    primitive on the axis moved next to the last. Its result is [..., K, 2] ([..., length,
    1] for irfft); dtypes other than float32 and float64 are transformed in float32."""
    if shape[-1] not in (1, 2):
        raise ctx.invalid(f"the last axis holds the real and imaginary parts: its size must "
                          f"be 1 or 2, got {shape[-1]}")
    if length < 1:
        raise ctx.invalid(f"dft_length must be >= 1, got {length}")
    rank = len(shape)
    perm = [i for i in range(rank - 1) if i != axis] + [axis, rank - 1]
    wide = x.dtype in (gj.float32, gj.float64)
    y = gj.transpose(x, perm) if perm != list(range(rank)) else x
    y = fft_real_layout(y if wide else gj.cast(y, gj.float32), length, inverse, onesided)
    y = y if wide else gj.cast(y, x.dtype)
    return gj.transpose(y, list(np.argsort(perm))) if perm != list(range(rank)) else y


@converter("DFT", attrs=("axis", "inverse", "onesided"))
def convert_dft(ctx: NodeContext) -> Tensor:
    """DFT-17 takes the axis as an attribute (default 1), DFT-20 as input 2 (default -2);
    dft_length (input 1) must be static."""
    x = ctx.inputs[0]
    if ctx.version >= 20:
        axis = -2 if ctx.input(2) is None else int(_scalar(ctx, 2, "axis"))
    else:
        axis = ctx.attr("axis", 1)
    rank = x.ndim
    if not -rank <= axis < rank or axis % rank == rank - 1:
        raise ctx.invalid(f"axis {axis} must name a signal axis of the rank-{rank} input "
                          "(not the last, which holds the real and imaginary parts)")
    axis %= rank
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    shape = list(ctx.require_shape(0, "the DFT matrices"))
    if ctx.input(1) is not None:
        length = int(_scalar(ctx, 1, "dft_length"))
    else:
        length = 2 * (shape[axis] - 1) if inverse and onesided else shape[axis]
    return gj.identity(dft(ctx, x, shape, axis, length, inverse, onesided), name=ctx.name)


@converter("STFT", attrs=("onesided",))
def convert_stft(ctx: NodeContext) -> Tensor:
    """signal [batch, length, 1 or 2] -> [batch, frames, bins, 2]: frames of frame_length
    every frame_step samples (as many as fit), times the window, each transformed."""
    x, window = ctx.inputs[0], ctx.input(2)
    shape = list(ctx.require_shape(0, "the frame pattern"))
    if len(shape) != 3:
        raise ctx.invalid(f"the signal must have shape [batch, length, 1 or 2], got {shape}")
    step = int(_scalar(ctx, 1, "frame_step"))
    if ctx.input(3) is not None:
        frame = int(_scalar(ctx, 3, "frame_length"))
    elif window is not None:
        frame = ctx.require_shape(2, "the frame length")[0]
    else:
        frame = shape[1]
    if window is not None and ctx.require_shape(2, "the window")[0] != frame:
        raise ctx.unsupported(f"a window of length {window.shape[0]} differs from "
                              f"frame_length {frame}")
    if step < 1 or not 1 <= frame <= shape[1]:
        raise ctx.invalid(f"frame_step {step} must be >= 1 and frame_length {frame} in "
                          f"[1, {shape[1]}]")
    frames = 1 + (shape[1] - frame) // step
    index = np.arange(frames)[:, None] * step + np.arange(frame)[None, :]
    framed = gj.gather(x, index.astype(np.int64), axis=1)  # [batch, frames, frame, c]
    if window is not None:
        framed = framed * gj.reshape(gj.cast(window, x.dtype), [1, 1, frame, 1])
    onesided = bool(ctx.attr("onesided", 1))
    framed_shape = [shape[0], frames, frame, shape[2]]
    return gj.identity(dft(ctx, framed, framed_shape, 2, frame, False, onesided),
                       name=ctx.name)


def _window(ctx: NodeContext, terms: tuple[float, ...]) -> Tensor:
    """sum_j terms[j] * cos(2 pi j n / N) (alternating signs are in `terms`), n in
    [0, size), N = size (periodic, the default) or size - 1 (symmetric)."""
    size = int(_scalar(ctx, 0, "size"))
    if size < 0:
        raise ctx.invalid(f"size must be >= 0, got {size}")
    dtype = to_dtype(ctx.attr("output_datatype", 1), f"ONNX {ctx.op_type} output_datatype")
    period = size if ctx.attr("periodic", 1) else size - 1
    n = np.arange(size, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = sum(a * np.cos(2 * np.pi * j * n / period) for j, a in enumerate(terms))
    ctx.check_size(size, dtype.size, "the window")
    return gj.constant(np.asarray(w).astype(dtype.np), dtype=dtype, name=ctx.name)


_WINDOW_ATTRS = ("output_datatype", "periodic")


@converter("HannWindow", attrs=_WINDOW_ATTRS)
def convert_hann_window(ctx: NodeContext) -> Tensor:
    return _window(ctx, (0.5, -0.5))  # sin^2(pi n / N)


@converter("HammingWindow", attrs=_WINDOW_ATTRS)
def convert_hamming_window(ctx: NodeContext) -> Tensor:
    return _window(ctx, (25 / 46, -21 / 46))  # ONNX's alpha = 25/46 (not 0.54)


@converter("BlackmanWindow", attrs=_WINDOW_ATTRS)
def convert_blackman_window(ctx: NodeContext) -> Tensor:
    return _window(ctx, (0.42, -0.5, 0.08))


@converter("MelWeightMatrix", attrs=("output_datatype",))
def convert_mel_weight_matrix(ctx: NodeContext) -> Tensor:
    """[dft_length // 2 + 1, num_mel_bins] triangular filters, equally spaced in mel
    (2595 log10(1 + f / 700)) from lower_edge_hertz to upper_edge_hertz, with the bin
    edges rounded down to DFT bins as ONNX's reference does."""
    bins, length, rate = (int(_scalar(ctx, i, w)) for i, w in
                          enumerate(("num_mel_bins", "dft_length", "sample_rate")))
    low, high = (float(_scalar(ctx, i, w)) for i, w in
                 ((3, "lower_edge_hertz"), (4, "upper_edge_hertz")))
    if bins < 1 or length < 1 or rate < 1:
        raise ctx.invalid(f"num_mel_bins {bins}, dft_length {length} and sample_rate {rate} "
                          "must be >= 1")
    dtype = to_dtype(ctx.attr("output_datatype", 1), "ONNX MelWeightMatrix output_datatype")
    spectrogram_bins = length // 2 + 1
    ctx.check_size(spectrogram_bins * bins, dtype.size, "the mel weight matrix")

    def mel(hz: float) -> float:
        return 2595 * np.log1p(hz / 700) / np.log(10)
    points = np.arange(bins + 2) * ((mel(high) - mel(low)) / (bins + 2)) + mel(low)
    hertz = 700 * np.expm1(points / 2595 * np.log(10))
    edges = (((length + 1) * hertz) // rate).astype(np.int64)
    if edges.min() < 0 or edges.max() >= spectrogram_bins + 1:
        raise ctx.invalid(f"the band [{low}, {high}] Hz reaches past the {spectrogram_bins} "
                          "bins of the spectrogram")
    out = np.zeros((spectrogram_bins, bins))
    j = np.arange(spectrogram_bins)
    for i in range(bins):
        left, center, right = edges[i:i + 3]
        if center == left:
            out[center, i] = 1
        else:
            rise = (j >= left) & (j <= center)
            out[rise, i] = (j[rise] - left) / (center - left)
        if right > center:
            fall = (j >= center) & (j < right)
            out[fall, i] = (right - j[fall]) / (right - center)
    return gj.constant(out.astype(dtype.np), dtype=dtype, name=ctx.name)


@translates("Fft")
def _export_fft(ctx) -> str:
    """graphjit's Fft as a DFT on axis -2 (DFT-17's attribute, DFT-20's input)."""
    if ctx.opset < _DFT_SINCE:
        raise ctx.unsupported(f"ONNX has DFT from opset {_DFT_SINCE} on")
    attrs = ctx.attrs
    length = ctx.const(np.array(attrs["length"], np.int64), hint=f"{ctx.op.name}/length")
    flags = {"inverse": int(attrs["inverse"]), "onesided": int(attrs["onesided"])}
    if ctx.opset >= 20:
        axis = ctx.const(np.array(-2, np.int64), hint=f"{ctx.op.name}/axis")
        return ctx.node("DFT", ctx.inputs[0], length, axis, **flags)
    return ctx.node("DFT", ctx.inputs[0], length, axis=len(ctx.shape(0)) - 2, **flags)
