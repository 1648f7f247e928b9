"""ONNX Resize, decomposed per axis into gathers and weighted sums (exact for nearest,
which only gathers): interpolation is separable, so each resized axis is
`sum_k x[..., idx[o, k], ...] * coeff[o, k]` with `idx` and `coeff` computed here in
NumPy at import from the static sizes, scales and roi, as ONNX's reference computes
them (modes nearest, linear, cubic; every coordinate_transformation_mode; antialias;
exclude_outside; keep_aspect_ratio_policy; tf_crop_and_resize's extrapolation_value).
The gathers and sums fuse into compiled kernels.
"""

from __future__ import annotations

import math

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_math import axis_of
from graphjit.onnx.symbolic import Dim, Sym

_MODES = ("nearest", "linear", "cubic")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _nearest_coeffs(ratio: float, mode: str) -> list[float]:
    if ratio == 1 or float(ratio).is_integer():
        return [0, 1]
    return {"round_prefer_floor": [ratio <= 0.5, ratio > 0.5],
            "round_prefer_ceil": [ratio < 0.5, ratio >= 0.5],
            "floor": [1, 0], "ceil": [0, 1]}[mode]


def _cubic_coeffs(ratio: float, a: float) -> list[float]:
    r, s = ratio, 1 - ratio
    return [((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
            ((a + 2) * r - (a + 3)) * r * r + 1,
            ((a + 2) * s - (a + 3)) * s * s + 1,
            ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a]


def _cubic_antialias(ratio: float, scale: float, a: float) -> np.ndarray:
    scale = min(scale, 1.0)

    def coeff(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x * x + 1
        return a * x ** 3 - 5 * a * x * x + 8 * a * x - 4 * a if x < 2 else 0.0
    start = int(np.floor(-2 / scale) + 1)
    c = np.array([coeff(scale * (i - ratio)) for i in range(start, 2 - start)])
    return c / c.sum()


def _linear_antialias(ratio: float, scale: float) -> np.ndarray:
    scale = min(scale, 1.0)
    start = int(np.floor(-1 / scale) + 1)
    args = (np.arange(start, start + 2 - 2 * start) - ratio) * scale
    c = np.clip(1 - np.abs(args), 0, 1)
    return c / c.sum()


def _source_coords(mode: str, out: int, scale: float, size: int, roi) -> tuple:
    """Each output position's coordinate in the input (and, for tf_crop_and_resize,
    which fall outside it)."""
    y = np.arange(out, dtype=np.float64)
    width = scale * size
    outside = None
    if mode == "align_corners":
        x = np.zeros(out) if width == 1 else y * (size - 1) / (width - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_crop_and_resize":
        x = (np.full(out, (roi[1] - roi[0]) * (size - 1) / 2) if width == 1
             else y * (roi[1] - roi[0]) * (size - 1) / (width - 1)) + roi[0] * (size - 1)
        outside = (x < 0) | (x > size - 1)
    elif mode == "pytorch_half_pixel":
        x = np.full(out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    else:  # half_pixel_symmetric
        x = size / 2 * (1 - out / width) + (y + 0.5) / scale - 0.5
    return x, outside


def axis_plan(size: int, out: int, scale: float, coeffs, transform: str, roi,
              exclude_outside: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(indices [out, n], coefficients [out, n], outside mask or None) of one axis."""
    x, outside = _source_coords(transform, out, scale, size, roi)
    base = np.floor(x).astype(np.int64)
    ratios = np.where(x == base, 1.0, x - base)
    c = np.array([np.asarray(coeffs(float(r), scale), np.float64) for r in ratios])
    c = c.reshape(out, -1)
    n = c.shape[1]
    pad = int(np.ceil(n / 2))
    padded = x + pad
    p = np.floor(padded).astype(np.int64)
    frac = padded - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    idx = (p + offset)[:, None] + np.arange(n)[None, :] - pad
    if exclude_outside:
        c = np.where((idx < 0) | (idx >= size), 0.0, c)
        total = c.sum(axis=-1, keepdims=True)
        c = c / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, size - 1), c, outside


def _sizes(ctx: NodeContext, x: Tensor, axes: list[int]) -> list[int | None]:
    """The static sizes, None for an axis whose size is x's own free dim there (exporters
    write `interpolate(x, size=(h, w))` as Concat(Shape(x)[:2], [h, w]))."""
    partial = None if ctx.static(3) is not None else ctx.partial(3)
    if partial is not None and partial.ndim == 1 and len(partial) == len(axes) and all(
            not isinstance(v, (Dim, Sym)) or v == Dim(x, d) for v, d in zip(partial, axes)):
        return [None if isinstance(v, Dim) else int(v) for v in partial]
    return [int(v) for v in np.ravel(ctx.require_static(3, "sizes"))]


def _floats(ctx: NodeContext, i: int, what: str) -> list[float] | None:
    if ctx.input(i) is None:
        return None
    value = np.ravel(ctx.require_static(i, what)).astype(np.float64)
    return None if value.size == 0 else [float(v) for v in value]


@converter("Resize", attrs=(
    "mode", "nearest_mode", "coordinate_transformation_mode", "cubic_coeff_a",
    "exclude_outside", "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"))
def _resize(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    rank = x.ndim
    shape = x.shape.as_list()
    mode = _text(ctx.attr("mode", "nearest"))
    transform = _text(ctx.attr("coordinate_transformation_mode", "half_pixel"))
    nearest = _text(ctx.attr("nearest_mode", "round_prefer_floor"))
    policy = _text(ctx.attr("keep_aspect_ratio_policy", "stretch"))
    antialias = bool(ctx.attr("antialias", 0))
    a = float(ctx.attr("cubic_coeff_a", -0.75))
    if mode not in _MODES or nearest not in _NEAREST:
        raise ctx.unsupported(f"mode '{mode}' / nearest_mode '{nearest}' is not implemented")
    if mode == "nearest" and antialias:
        raise ctx.invalid("antialias applies to linear and cubic modes only")
    axes = [axis_of(ctx, int(v), rank) for v in ctx.attr("axes", list(range(rank)))]
    roi = _floats(ctx, 1, "roi")
    scales = _floats(ctx, 2, "scales")
    sizes = _sizes(ctx, x, axes) if ctx.input(3) is not None and scales is None else None
    if (scales is None) == (sizes is None):
        raise ctx.invalid("exactly one of scales and sizes is given")
    given = scales if scales is not None else sizes
    if sizes is not None and None in sizes and policy != "stretch":
        # the kept axes' own scale 1 takes part in the policy's min/max
        ctx.require_static(3, f"sizes (keep_aspect_ratio_policy '{policy}')")
    if len(given) != len(axes) or (roi is not None and len(roi) != 2 * len(axes)):
        raise ctx.invalid(f"scales/sizes/roi have {len(given)}/{roi and len(roi)} values "
                          f"for {len(axes)} axes")
    # An axis kept as is may have any size (a free batch): scale 1, or size Dim(x, d).
    keep = [i for i, d in enumerate(axes) if shape[d] is not None
            or (scales[i] != 1.0 if scales is not None else sizes[i] is not None)
            or (roi and (roi[i], roi[len(axes) + i]) != (0.0, 1.0))]
    roi = roi and [roi[i] for i in keep] + [roi[len(axes) + i] for i in keep]
    axes = [axes[i] for i in keep]
    scales = scales and [scales[i] for i in keep]
    sizes = sizes and [sizes[i] for i in keep]
    if any(shape[d] is None for d in axes):
        raise ctx.unsupported(f"the resized axes {axes} of input {shape} must have known sizes")
    scale = [1.0] * rank
    out = list(shape)
    if scales is not None:
        for d, s in zip(axes, scales):
            if s <= 0:
                raise ctx.invalid(f"scale {s} is not positive")
            scale[d] = s
            out[d] = int(s * shape[d])
    else:
        for d, n in zip(axes, sizes):
            scale[d], out[d] = n / shape[d], n
        if policy != "stretch":
            pick = {"not_larger": min, "not_smaller": max}.get(policy)
            if pick is None:
                raise ctx.unsupported(f"keep_aspect_ratio_policy '{policy}'")
            s = pick(scale[d] for d in axes)
            for d in axes:
                scale[d], out[d] = s, int(s * shape[d] + 0.5)
    full_roi = {d: (roi[i], roi[len(axes) + i]) for i, d in enumerate(axes)} if roi else {}
    coeffs = _coeff_fn(mode, nearest, a, antialias)
    exclude = bool(ctx.attr("exclude_outside", 0))
    extrapolation = float(ctx.attr("extrapolation_value", 0.0))
    if transform == "tf_crop_and_resize" and not full_roi:
        raise ctx.invalid("tf_crop_and_resize needs roi")
    # Interpolation runs in float32 (float64 for float64 and integer inputs) and is cast
    # back once, rounded and saturated, as the reference does; nearest only gathers.
    work = x.dtype if mode == "nearest" or x.dtype in (gj.float32, gj.float64) else (
        gj.float32 if x.dtype == gj.float16 else gj.float64)
    y = x if work == x.dtype else gj.cast(x, work)
    for d in axes:
        r = full_roi.get(d, (0.0, 1.0))
        if math.isclose(scale[d], 1.0) and out[d] == shape[d] \
                and math.isclose(r[0], 0.0) and math.isclose(r[1], 1.0):
            continue
        idx, c, outside = axis_plan(shape[d], out[d], scale[d], coeffs, transform, r, exclude)
        y = _apply_axis(y, d, idx, c, outside, extrapolation, mode == "nearest")
    if work == x.dtype:
        return gj.identity(y, name=ctx.name)
    if x.dtype.is_integer:
        y = gj.clip_by_value(gj.round(y), float(x.dtype.min), float(x.dtype.max))
    return gj.cast(y, x.dtype, name=ctx.name)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _coeff_fn(mode: str, nearest: str, a: float, antialias: bool):
    if mode == "nearest":
        return lambda r, s: _nearest_coeffs(r, nearest)
    if mode == "cubic":
        return (lambda r, s: _cubic_antialias(r, s, a)) if antialias \
            else (lambda r, s: _cubic_coeffs(r, a))
    return _linear_antialias if antialias else (lambda r, s: [1 - r, r])


def _apply_axis(y: Tensor, axis: int, idx: np.ndarray, c: np.ndarray, outside,
                extrapolation: float, nearest: bool) -> Tensor:
    """y resized along `axis`: a gather for nearest (its coefficients are one 1 and
    zeros), else the weighted sum of n gathers in y's type."""
    bshape = [1] * y.ndim
    bshape[axis] = -1
    if nearest:
        pick = idx[np.arange(len(idx)), np.argmax(c, axis=1)].astype(np.int32)
        total = gj.gather(y, pick, axis=axis)
    else:
        total = None
        for k in range(idx.shape[1]):
            term = gj.gather(y, idx[:, k].astype(np.int32), axis=axis) * \
                gj.constant(c[:, k].astype(y.dtype.np).reshape(bshape))
            total = term if total is None else total + term
    if outside is not None and outside.any():
        total = gj.where(outside.reshape(bshape), np.array(extrapolation, y.dtype.np), total)
    return total
