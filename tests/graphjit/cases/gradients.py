"""Cases for the primitives that gradients are made of: SumToShapeOf, ReshapeLike,
StridedSliceGrad, ScatterAddLike, Conv2DBackpropInput, Conv2DBackpropFilter,
MaxPoolGrad and AvgPoolGrad.

Each is built directly (these ops have no public function of their own:
graphjit.gradients creates them) and checked against loops written from the
definition of the adjoint: every output element of the forward op sends its
gradient back to the input elements it read.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from graphjit.ops._util import make
from tests.graphjit.cases.base import Case, uniform
from tests.graphjit.cases.conv import _hw, _same_pads, conv_shapes, pool_shapes

TOL = {"rtol": {"float32": 1e-5, "float64": 1e-12}, "atol": 2e-5}


def _geometry(h, w, eh, ew, strides, padding):
    """(oh, ow, top, left) of TF's padding for an effective window eh x ew."""
    (sh, sw) = _hw(strides)
    if padding == "SAME":
        (oh, top, _), (ow, left, _) = _same_pads(h, eh, sh), _same_pads(w, ew, sw)
    else:
        oh, ow, top, left = math.ceil((h - eh + 1) / sh), math.ceil((w - ew + 1) / sw), 0, 0
    return oh, ow, top, left


# -- SumToShapeOf and ReshapeLike ------------------------------------------------------

def _sum_to(g, shape):
    g = g.astype(np.float64)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, d in enumerate(shape):
        if d == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


@st.composite
def _broadcast_pair(draw):
    """(gradient shape, input shape): the input broadcasts to the gradient."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    lead = draw(st.integers(0, len(shape)))
    like = tuple(1 if draw(st.booleans()) else d for d in shape[lead:])
    return shape, like


@st.composite
def _same_size(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    flat = int(np.prod(shape))
    other = draw(st.sampled_from([(flat,), (1, flat), (flat, 1)] + (
        [(2, flat // 2)] if flat % 2 == 0 else [])))
    return shape, other


# -- StridedSliceGrad -------------------------------------------------------------------

_SLICES = ((1, None, 2), (None, None, -1), (-3, -1, 1))


def _slice_grad(dy, like):
    """Zeros with dy written at the sliced positions, found through flat indices."""
    positions = np.arange(like.size).reshape(like.shape)[tuple(slice(*s) for s in _SLICES)]
    out = np.zeros(like.size)
    out[positions.ravel()] = dy.astype(np.float64).ravel()
    return out.reshape(like.shape)


def _sliced_shape(shape):
    return tuple(len(range(*slice(*s).indices(n))) for s, n in zip(_SLICES, shape))


_slice_shapes = hnp.array_shapes(min_dims=3, max_dims=3, min_side=2, max_side=5).map(
    lambda s: (_sliced_shape(s), s))


# -- ScatterAddLike ---------------------------------------------------------------------

def _scatter_add(axis):
    def expected(updates, indices, like):
        out = np.zeros(like.shape)
        updates = np.moveaxis(updates.astype(np.float64), list(range(axis, axis + indices.ndim)),
                              list(range(indices.ndim)))
        for position in np.ndindex(indices.shape):
            target = (slice(None),) * axis + (int(indices[position]),)
            out[target] += updates[position]
        return out
    return expected


@st.composite
def _scatter_shapes(draw, axis):
    like = draw(hnp.array_shapes(min_dims=axis + 1, max_dims=3, min_side=3, max_side=4))
    indices = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    return like[:axis] + indices + like[axis + 1:], indices, like


def _indices(rng, shape, dtype):
    return rng.integers(0, 3, size=shape).astype(dtype)  # valid for axes of size >= 3


# -- convolution and pooling ------------------------------------------------------------

def conv_backprop_input_loops(x, f, dy, strides, padding, dilations):
    (n, h, w, cin), (kh, kw, _, _) = x.shape, f.shape
    (sh, sw), (dh, dw) = _hw(strides), _hw(dilations)
    oh, ow, top, left = _geometry(h, w, (kh - 1) * dh + 1, (kw - 1) * dw + 1, strides, padding)
    big = np.zeros((n, h + 2 * kh * dh + sh, w + 2 * kw * dw + sw, cin))
    for b, i, j in itertools.product(range(n), range(oh), range(ow)):
        for a, c in itertools.product(range(kh), range(kw)):
            big[b, i * sh + a * dh, j * sw + c * dw] += f[a, c].astype(np.float64) @ dy[b, i, j]
    return big[:, top: top + h, left: left + w]


def conv_backprop_filter_loops(x, f, dy, strides, padding, dilations):
    (n, h, w, _), (kh, kw, _, _) = x.shape, f.shape
    (sh, sw), (dh, dw) = _hw(strides), _hw(dilations)
    oh, ow, top, left = _geometry(h, w, (kh - 1) * dh + 1, (kw - 1) * dw + 1, strides, padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), (top, 2 * kh * dh + sh), (left, 2 * kw * dw + sw),
                                       (0, 0)))
    out = np.zeros(f.shape)
    for b, i, j in itertools.product(range(n), range(oh), range(ow)):
        for a, c in itertools.product(range(kh), range(kw)):
            out[a, c] += np.outer(xp[b, i * sh + a * dh, j * sw + c * dw], dy[b, i, j])
    return out


def pool_grad_loops(x, dy, ksize, strides, padding, kind):
    """Max: each window's gradient to its first largest real cell; avg: shared equally
    between the real cells."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = _hw(ksize), _hw(strides)
    oh, ow, top, left = _geometry(h, w, kh, kw, strides, padding)
    out = np.zeros(x.shape)
    for b, i, j, ch in itertools.product(range(n), range(oh), range(ow), range(c)):
        cells = [(r, s) for r in range(i * sh - top, i * sh - top + kh) if 0 <= r < h
                 for s in range(j * sw - left, j * sw - left + kw) if 0 <= s < w]
        if kind == "max":
            best = max(x[b, r, s, ch] for r, s in cells)
            r, s = next(cell for cell in cells if x[b, cell[0], cell[1], ch] == best)
            out[b, r, s, ch] += dy[b, i, j, ch]
        else:
            for r, s in cells:
                out[b, r, s, ch] += dy[b, i, j, ch] / len(cells)
    return out


def _conv_out(x_shape, f_shape, strides, padding, dilations):
    (n, h, w, _), (kh, kw, _, cout) = x_shape, f_shape
    (dh, dw) = _hw(dilations)
    oh, ow, _, _ = _geometry(h, w, (kh - 1) * dh + 1, (kw - 1) * dw + 1, strides, padding)
    return (n, oh, ow, cout)


def _conv_attrs(strides, padding, dilations):
    return {"strides": (1, *_hw(strides), 1), "padding": padding,
            "dilations": (1, *_hw(dilations), 1)}


def _conv_grad_case(op_type, loops, strides, padding, dilations):
    def shapes(pair):
        return (*pair, _conv_out(*pair, strides, padding, dilations))
    default = ((2, 6, 5, 3), (3, 2, 3, 2))
    return Case(f"{op_type}-{padding}-s{strides}-d{dilations}",
                lambda x, f, dy: make(op_type, [x, f, dy],
                                      _conv_attrs(strides, padding, dilations)),
                lambda x, f, dy: loops(x, f, dy, strides, padding, dilations),
                default_shapes=shapes(default),
                shapes=conv_shapes(strides, padding, dilations).map(shapes),
                inputs=uniform(-1, 1), **TOL)


def _pool_grad_case(kind, ksize, strides, padding):
    op_type = {"max": "MaxPoolGrad", "avg": "AvgPoolGrad"}[kind]
    attrs = {"ksize": (1, *_hw(ksize), 1), "strides": (1, *_hw(strides), 1), "padding": padding}

    def shapes(single):
        (n, h, w, c), = single
        oh, ow, _, _ = _geometry(h, w, *_hw(ksize), strides, padding)
        return (n, h, w, c), (n, oh, ow, c)
    return Case(f"{op_type}-{padding}-k{ksize}-s{strides}",
                lambda x, dy: make(op_type, [x, dy], attrs),
                lambda x, dy: pool_grad_loops(x, dy, ksize, strides, padding, kind),
                default_shapes=shapes(((2, 5, 6, 2),)),
                shapes=pool_shapes(ksize, padding).map(shapes), **TOL)


CASES = [
    Case("sum_to_shape_of", lambda g, x: make("SumToShapeOf", [g, x]),
         lambda g, x: _sum_to(g, x.shape), default_shapes=((2, 3, 4), (3, 1)),
         shapes=_broadcast_pair(), **TOL),
    Case("reshape_like", lambda g, x: make("ReshapeLike", [g, x]),
         lambda g, x: g.reshape(x.shape), default_shapes=((2, 6), (3, 4)),
         shapes=_same_size(), dtypes=("float32", "float64", "int32")),
    Case("strided_slice_grad", lambda dy, x: make("StridedSliceGrad", [dy, x],
                                                   {"slices": _SLICES}),
         _slice_grad, default_shapes=((2, 4, 2), (4, 4, 5)), shapes=_slice_shapes),
    *(Case(f"scatter_add_like_axis{axis}",
           lambda u, i, x, axis=axis: make("ScatterAddLike", [u, i, x], {"axis": axis}),
           _scatter_add(axis), default_shapes=((5, 2, 3), (5,), (4, 2, 3)) if axis == 0 else
           ((2, 3, 2, 3), (3, 2), (2, 4, 3)), shapes=_scatter_shapes(axis),
           inputs=(uniform(), _indices, uniform()), input_dtypes={1: dtype}, **TOL)
      for axis, dtype in ((0, "int32"), (1, "int64"))),
    *(_conv_grad_case(op_type, loops, s, p, d)
      for op_type, loops in (("Conv2DBackpropInput", conv_backprop_input_loops),
                             ("Conv2DBackpropFilter", conv_backprop_filter_loops))
      for s, p, d in ((1, "SAME", 1), ([2, 1], "VALID", [1, 2]), (2, "SAME", 2))),
    *(_pool_grad_case(kind, k, s, p) for kind in ("max", "avg")
      for k, s, p in ((2, 2, "VALID"), (3, [1, 2], "SAME"), ([2, 3], 1, "SAME"))),
]
