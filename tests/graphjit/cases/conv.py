"""Cases for Conv2D, MaxPool and AvgPool.

The expectations are slow loop-based NumPy written from TensorFlow's documented
semantics (explicit np.pad for convolution, per-window index checks for pooling),
independent of graphjit's strided-view reference. A Case's attributes are fixed
when it builds its graph, so each stride/dilation/padding configuration is its
own Case and hypothesis draws the batch, image, channel and kernel sizes.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st

import graphjit as tf
from tests.graphjit.cases.base import Case, uniform

MAX_SIDE = 7


def _hw(spec) -> tuple[int, int]:
    """(h, w) of a TF stride/ksize/dilation spec: n, [h, w] or [1, h, w, 1]."""
    if isinstance(spec, int):
        return spec, spec
    return (spec[0], spec[1]) if len(spec) == 2 else (spec[1], spec[2])


def _same_pads(size: int, window: int, stride: int) -> tuple[int, int, int]:
    """TF's SAME: output ceil(size/stride), the odd padded cell goes after the data."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2, total - total // 2


def conv2d_loops(x, f, strides, padding, dilations):
    """Convolution by definition: pad explicitly, then sum each output position's window."""
    x, f = x.astype(np.float64), f.astype(np.float64)
    (n, h, w, _), (kh, kw, _, cout) = x.shape, f.shape
    (sh, sw), (dh, dw) = _hw(strides), _hw(dilations)
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "SAME":
        oh, top, bottom = _same_pads(h, eh, sh)
        ow, left, right = _same_pads(w, ew, sw)
    else:
        oh, top, bottom = math.ceil((h - eh + 1) / sh), 0, 0
        ow, left, right = math.ceil((w - ew + 1) / sw), 0, 0
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = np.zeros((n, oh, ow, cout))
    for b, i, j in itertools.product(range(n), range(oh), range(ow)):
        for a, c in itertools.product(range(kh), range(kw)):
            out[b, i, j] += xp[b, i * sh + a * dh, j * sw + c * dw] @ f[a, c]
    return out


def pool_loops(x, ksize, strides, padding, reduce):
    """Pooling by definition: `reduce` over the real (unpadded) cells of each window."""
    x = x.astype(np.float64)
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = _hw(ksize), _hw(strides)
    if padding == "SAME":
        (oh, top, _), (ow, left, _) = _same_pads(h, kh, sh), _same_pads(w, kw, sw)
    else:
        oh, ow, top, left = math.ceil((h - kh + 1) / sh), math.ceil((w - kw + 1) / sw), 0, 0
    out = np.zeros((n, oh, ow, c))
    for b, i, j, ch in itertools.product(range(n), range(oh), range(ow), range(c)):
        cells = [x[b, r, s, ch]
                 for r in range(i * sh - top, i * sh - top + kh) if 0 <= r < h
                 for s in range(j * sw - left, j * sw - left + kw) if 0 <= s < w]
        out[b, i, j, ch] = reduce(cells)
    return out


def _side(draw, window: int, padding: str) -> int:
    # VALID needs the (dilated) window to fit; SAME accepts any size.
    low = window if padding == "VALID" else 1
    return draw(st.integers(low, max(low, MAX_SIDE)))


@st.composite
def conv_shapes(draw, strides, padding, dilations):
    """((N, H, W, Cin), (KH, KW, Cin, Cout)) with the dilated kernel fitting under VALID."""
    (dh, dw) = _hw(dilations)
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = _side(draw, (kh - 1) * dh + 1, padding), _side(draw, (kw - 1) * dw + 1, padding)
    n, cin, cout = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, h, w, cin), (kh, kw, cin, cout)


@st.composite
def pool_shapes(draw, ksize, padding):
    (kh, kw) = _hw(ksize)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return ((n, _side(draw, kh, padding), _side(draw, kw, padding), c),)


def _conv_case(padding, strides, dilations, tf2=False):
    if tf2:
        def build(x, f):
            return tf.nn.conv2d(x, filters=f, strides=strides, padding=padding,
                                dilations=dilations)
    else:
        def build(x, f):
            return tf.nn.conv2d(x, f, strides, padding, dilations=dilations)
    return Case(f"conv2d{'_tf2' if tf2 else ''}-{padding}-s{strides}-d{dilations}", build,
                lambda x, f: conv2d_loops(x, f, strides, padding, dilations),
                default_shapes=((2, 6, 7, 3), (2, 3, 3, 2)),
                shapes=conv_shapes(strides, padding, dilations),
                # Sums of up to 27 products: float32 rounding can reach ~1e-5 absolute.
                inputs=uniform(-1, 1), rtol={"float32": 1e-5, "float64": 1e-12}, atol=2e-5)


def _pool_case(kind, ksize, strides, padding):
    fn, reduce = {"max": (tf.nn.max_pool, max), "avg": (tf.nn.avg_pool, np.mean)}[kind]
    return Case(f"{kind}_pool-{padding}-k{ksize}-s{strides}",
                lambda x: fn(x, ksize, strides, padding),
                lambda x: pool_loops(x, ksize, strides, padding, reduce),
                default_shapes=((2, 6, 7, 3),), shapes=pool_shapes(ksize, padding), atol=1e-5)


_STRIDES = (1, [2, 1], [1, 2, 2, 1])
_DILATIONS = ([1, 1, 1, 1], 2, [1, 2, 1, 1])
_POOL_WINDOWS = ((1, 1), (2, 2), (3, 1), ([2, 3], [1, 2]), ([1, 3, 2, 1], [1, 2, 3, 1]), (3, 2))

CASES = [
    *(_conv_case(p, s, d) for p in ("SAME", "VALID") for s in _STRIDES for d in _DILATIONS),
    _conv_case("SAME", 2, 1, tf2=True),
    _conv_case("VALID", [1, 2], [2, 1], tf2=True),
    Case("conv2d_lowercase_padding", lambda x, f: tf.nn.conv2d(x, f, 1, "same"),
         lambda x, f: conv2d_loops(x, f, 1, "SAME", 1),
         default_shapes=((1, 4, 5, 2), (3, 2, 2, 3)), inputs=uniform(-1, 1), atol=2e-5),
    *(_pool_case(kind, k, s, p) for kind in ("max", "avg") for p in ("SAME", "VALID")
      for k, s in _POOL_WINDOWS),
    Case("max_pool_tf2_input", lambda x: tf.nn.max_pool(input=x, ksize=2, strides=2,
                                                         padding="SAME"),
         lambda x: pool_loops(x, 2, 2, "SAME", max), default_shapes=((1, 5, 5, 2),),
         shapes=pool_shapes(2, "SAME")),
    # All inputs negative: a max pool that let SAME's zero padding in would return 0.
    Case("max_pool_negative_same", lambda x: tf.nn.max_pool(x, 3, 2, "SAME"),
         lambda x: pool_loops(x, 3, 2, "SAME", max), default_shapes=((2, 4, 5, 3),),
         shapes=pool_shapes(3, "SAME"), inputs=uniform(-5, -1)),
    Case("conv2d_relu_max_pool", lambda x, f: tf.nn.max_pool(
             tf.maximum(tf.nn.conv2d(x, f, 1, "SAME"), 0.0), 2, 2, "VALID"),
         lambda x, f: pool_loops(np.maximum(conv2d_loops(x, f, 1, "SAME", 1), 0), 2, 2,
                                 "VALID", max),
         default_shapes=((2, 6, 6, 3), (3, 3, 3, 4)), inputs=uniform(-1, 1), atol=2e-5),
]
