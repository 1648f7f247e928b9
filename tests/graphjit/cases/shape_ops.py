"""Cases for shape ops and indexing.

A Case's graph is built from placeholders whose dims may all be unknown, so
every static argument (axis, perm, key, sizes) is a function of the rank only,
and hypothesis draws the shapes that argument accepts. Expectations use plain
NumPy indexing and array functions.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, fixed, uniform

NUMERIC = FLOATS + INTS
ANY = NUMERIC + ("bool",)


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    """One input of any shape in the given bounds."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side).map(lambda s: (s,))


def case(name, build, expected, default, strategy=None, dtypes=NUMERIC, **kw):
    return Case(name, build, expected, default_shapes=default, shapes=strategy, dtypes=dtypes,
                **kw)


@st.composite
def _size_multiple_of_6(draw):
    dims = list(draw(hnp.array_shapes(min_dims=0, max_dims=1, min_side=1, max_side=4)))
    for factor in draw(st.sampled_from([[6], [2, 3], [3, 2], [3, 1, 2]])):
        dims.insert(draw(st.integers(0, len(dims))), factor)
    return (tuple(dims),)


@st.composite
def _differ_on(draw, axis, n):
    """`n` shapes equal except on `axis` (an int, negative from the end)."""
    base = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    a = axis % len(base)
    return tuple(base[:a] + (draw(st.integers(0, 4)),) + base[a + 1:] for _ in range(n))


def _same(n, **kw):
    return shapes(**kw).map(lambda s: s * n)


def _gather_shapes(min_params_rank):
    return st.tuples(hnp.array_shapes(min_dims=min_params_rank, max_dims=3, min_side=3,
                                      max_side=4),
                     hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))


_PERMS = {0: [], 1: [0], 2: [1, 0], 3: [2, 0, 1], 4: [1, 3, 0, 2]}
_INDICES = uniform(0, 2)  # valid for any axis of size >= 3

_RESHAPE = [
    case("reshape_flat", lambda x: tf.reshape(x, [-1]), lambda x: x.reshape(-1), ((2, 3),),
         shapes(min_side=0), ANY),
    case("reshape_infer_dim", lambda x: tf.reshape(x, [-1, 2, 3]),
         lambda x: x.reshape(-1, 2, 3), ((4, 3, 2),), _size_multiple_of_6()),
    case("reshape_fixed", lambda x: tf.reshape(x, np.array([3, 2, 2])),
         lambda x: x.reshape(3, 2, 2), ((12,),), fixed(((2, 6),), ((3, 4),), ((2, 2, 3),),
                                                       ((1, 12, 1),))),
    case("reshape_to_scalar", lambda x: tf.reshape(x, []), lambda x: x.reshape(()), ((1, 1),),
         fixed(((1,),), ((),), ((1, 1, 1),))),
    case("transpose_reverse", tf.transpose, np.transpose, ((2, 3, 4),), shapes(), ANY),
    case("transpose_perm", lambda x: tf.transpose(x, _PERMS[x.ndim]),
         lambda x: np.transpose(x, _PERMS[x.ndim]), ((2, 3, 4),), shapes()),
    case("transpose_negative_perm", lambda x: tf.transpose(x, perm=[-1, 0, 1]),
         lambda x: np.moveaxis(x, -1, 0), ((2, 3, 4),), shapes(3, 3)),
    case("expand_dims_first", lambda x: tf.expand_dims(x, 0), lambda x: x[None],
         ((2, 3),), shapes()),
    case("expand_dims_last", lambda x: tf.expand_dims(x, axis=-1), lambda x: x[..., None],
         ((2, 3),), shapes(), ANY),
    case("expand_dims_dim_alias", lambda x: tf.expand_dims(x, dim=1),
         lambda x: np.expand_dims(x, 1), ((2, 3),), shapes(1)),
    case("squeeze_axis", lambda x: tf.squeeze(x, axis=1), lambda x: x[:, 0],
         ((2, 1, 3),), fixed(((2, 1, 3),), ((1, 1),), ((4, 1, 2, 1),))),
    case("squeeze_negative_axes", lambda x: tf.squeeze(x, squeeze_dims=[-1, 0]),
         lambda x: x[0, ..., 0], ((1, 3, 1),), fixed(((1, 1),), ((1, 2, 3, 1),))),
    case("squeeze_known_ones", lambda x: tf.squeeze(tf.expand_dims(tf.expand_dims(x, 0), -1)),
         lambda x: x, ((2, 3),), shapes(min_side=2)),
]

_JOIN = [
    case("concat_last", lambda x, y: tf.concat([x, y], -1),
         lambda x, y: np.concatenate([x, y], axis=-1), ((2, 3), (2, 1)), _differ_on(-1, 2), ANY),
    case("concat_first_three", lambda x, y, z: tf.concat([x, y, z], axis=0),
         lambda x, y, z: np.concatenate([x, y, z]), ((1, 3), (0, 3), (2, 3)), _differ_on(0, 3)),
    case("concat_one", lambda x: tf.concat(x, 0), lambda x: x, ((2, 3),), shapes(1)),
    case("stack", lambda x, y: tf.stack([x, y]), lambda x, y: np.array([x, y]),
         ((2, 3), (2, 3)), _same(2, max_dims=3), ANY),
    case("stack_last", lambda x, y, z: tf.stack([x, y, z], axis=-1),
         lambda x, y, z: np.stack([x, y, z], axis=-1), ((2,), (2,), (2,)), _same(3, max_dims=3)),
    case("unstack", lambda x: tf.unstack(x, num=3), lambda x: [x[0], x[1], x[2]], ((3, 2),),
         shapes(0, 3).map(lambda s: ((3,) + s[0],))),
    case("unstack_last", lambda x: tf.unstack(x, num=2, axis=-1),
         lambda x: [x[..., 0], x[..., 1]], ((3, 2),), shapes(0, 3).map(lambda s: (s[0] + (2,),))),
    case("split_sizes", lambda x: tf.split(x, [1, -1, 2], axis=-1),
         lambda x: np.split(x, [1, x.shape[-1] - 2], axis=-1), ((2, 5),),
         shapes(1, 4, min_side=3)),
    case("split_known_sizes", lambda x: tf.split(x, [2, 0, 1], axis=0),
         lambda x: np.split(x, [2, 2], axis=0), ((3, 2),),
         shapes(0, 3).map(lambda s: ((3,) + s[0],))),
    case("split_equal", lambda x: tf.split(tf.reshape(x, [-1, 6]), 3, axis=1),
         lambda x: np.split(x.reshape(-1, 6), 3, axis=1), ((2, 6),), _size_multiple_of_6()),
    case("tile", lambda x: tf.tile(x, [2, 1, 3, 1][:x.ndim]),
         lambda x: np.tile(x, [2, 1, 3, 1][:x.ndim]), ((2, 3),), shapes(), ANY),
    case("tile_zero", lambda x: tf.tile(x, [0, 2]), lambda x: np.tile(x, [0, 2]), ((2, 3),),
         shapes(2, 2)),
    case("broadcast_to", lambda x: tf.broadcast_to(x, [2, 3, 4]),
         lambda x: np.broadcast_to(x, (2, 3, 4)), ((3, 1),),
         hnp.broadcastable_shapes((2, 3, 4), min_dims=0, max_dims=3).map(lambda s: (s,)), ANY),
    case("pad_constant", lambda x: tf.pad(x, [[1, 0], [0, 2], [1, 1], [2, 0]][:x.ndim],
                                          constant_values=3),
         lambda x: np.pad(x, [(1, 0), (0, 2), (1, 1), (2, 0)][:x.ndim], constant_values=3)
         if x.ndim else x,
         ((2, 3),), shapes(min_side=0)),
    case("pad_reflect", lambda x: tf.pad(x, [[2, 1]] * x.ndim, mode="REFLECT"),
         lambda x: np.pad(x, [(2, 1)] * x.ndim, mode="reflect"), ((3, 4),),
         shapes(1, min_side=3)),
    case("pad_symmetric", lambda x: tf.pad(x, [[2, 0], [1, 2]], mode="symmetric"),
         lambda x: np.pad(x, [(2, 0), (1, 2)], mode="symmetric"), ((2, 3),),
         shapes(2, 2, min_side=2)),
]


def _one_hot(indices, depth):
    """Rows of an identity matrix, with an all-zero row for indices outside [0, depth)."""
    eye = np.vstack([np.eye(depth), np.zeros((1, depth))])
    return eye[np.where((indices >= 0) & (indices < depth), indices, depth)]


_INDEXING = [
    case("getitem_int", lambda x: x[0], lambda x: x[0], ((2, 3),), shapes(1), ANY),
    case("getitem_negative_int_step", lambda x: x[-1, ::2], lambda x: x[-1, ::2],
         ((3, 4),), shapes(2)),
    case("getitem_reverse", lambda x: x[::-1], lambda x: x[::-1], ((3,),), shapes(1, min_side=0)),
    case("getitem_ellipsis_steps", lambda x: x[1:-1, ..., ::-2], lambda x: x[1:-1, ..., ::-2],
         ((4, 3),), shapes(2)),
    case("getitem_newaxis", lambda x: x[None, ..., 0, tf.newaxis],
         lambda x: x[None, ..., 0, None], ((2, 3),), shapes(1)),
    case("getitem_last", lambda x: x[..., -1], lambda x: x[..., -1], ((2, 3),), shapes(1)),
    case("getitem_mixed", lambda x: x[:, None, 1:, np.int64(-2)],
         lambda x: x[:, None, 1:, -2], ((2, 3, 4),), shapes(3, 4, min_side=2)),
    case("getitem_clamped", lambda x: x[-7:10:3, 2], lambda x: x[-7:10:3, 2], ((5, 3),),
         shapes(2, 3, min_side=3)),
    case("getitem_const_index", lambda x: x[tf.constant(1)], lambda x: x[1], ((2, 3),),
         shapes(1, min_side=2)),
    case("getitem_everything", lambda x: x[...], lambda x: x, ((2, 3),), shapes()),
    case("slice", lambda x: tf.slice(x, [0, 1], [-1, 2]), lambda x: x[:, 1:3], ((2, 4),),
         shapes(2, 2, min_side=3)),
    case("strided_slice_shrink_reverse",
         lambda x: tf.strided_slice(x, [1, 0, 2], [2, 0, 0], [1, 1, -1], begin_mask=0b010,
                                    end_mask=0b110, shrink_axis_mask=0b001),
         lambda x: x[1, :, 2::-1], ((2, 3, 4),), shapes(3, 3, min_side=2)),
    case("strided_slice_ellipsis_newaxis",
         lambda x: tf.strided_slice(x, [0, 0, 1], [0, 0, 0], ellipsis_mask=0b001,
                                    new_axis_mask=0b010, end_mask=0b100),
         lambda x: x[..., None, 1:], ((2, 3),), shapes(1)),
    case("gather", lambda p, i: tf.gather(p, i), lambda p, i: p[i], ((4, 2), (3,)),
         _gather_shapes(1), ANY, inputs=(uniform(), _INDICES), input_dtypes={1: "int32"}),
    case("gather_axis_last_int64", lambda p, i: tf.gather(p, i, axis=-1),
         lambda p, i: np.take(p, i, axis=-1), ((2, 3), (2, 2)), _gather_shapes(1),
         inputs=(uniform(), _INDICES), input_dtypes={1: "int64"}),
    case("gather_axis_1_list", lambda p: tf.gather(p, [2, 0, 2], axis=1),
         lambda p: p[:, [2, 0, 2]], ((2, 3),), shapes(2, 3, min_side=3)),
    case("one_hot", lambda i: tf.one_hot(i, 4), lambda i: _one_hot(i, 4).astype(np.float32),
         ((5,),), shapes(0, 3), INTS, inputs=uniform(-2, 5)),
    case("one_hot_axis0_values", lambda i: tf.one_hot(i, 3, on_value=5.0, off_value=-1.0,
                                                       axis=0, dtype=tf.float64),
         lambda i: np.moveaxis(_one_hot(i, 3) * 6 - 1, -1, 0), ((2, 3),), shapes(0, 3),
         INTS, inputs=uniform(-1, 4)),
]

_FILLED = [
    case("zeros_ones_fill", lambda x: [tf.zeros([2, 3]), tf.ones(4, dtype=x.dtype),
                                       tf.zeros([0, 2], tf.int64), tf.fill([2, 2], 7),
                                       tf.fill([3], np.float64(1.5))],
         lambda x: [np.zeros((2, 3), np.float32), np.ones(4, x.dtype), np.zeros((0, 2), np.int64),
                    np.full((2, 2), 7, np.int32), np.full(3, 1.5)], ((1,),), dtypes=ANY),
    case("zeros_ones_of_shape", lambda x: [tf.zeros(tf.shape(x), x.dtype), tf.ones(tf.shape(x))],
         lambda x: [np.zeros_like(x), np.ones(x.shape, np.float32)], ((2, 3),), shapes(), ANY),
    case("fill_runtime_value", lambda x: tf.fill([2, 3], x[(0,) * x.ndim]),
         lambda x: np.full((2, 3), x.flat[0]), ((2, 2),), shapes()),
    case("zeros_like", tf.zeros_like, np.zeros_like, ((2, 3),), shapes(min_side=0), ANY),
    case("ones_like_dtype", lambda x: tf.ones_like(x, dtype=tf.int64),
         lambda x: np.ones(x.shape, np.int64), ((2, 3),), shapes()),
    case("range", lambda x: [tf.range(5), tf.range(2, 11, 3), tf.range(1.0, 0.0, -0.25),
                             tf.range(3, dtype=tf.float64), tf.range(4, 4)],
         lambda x: [np.arange(5, dtype=np.int32), np.arange(2, 11, 3, dtype=np.int32),
                    np.array([1.0, 0.75, 0.5, 0.25], np.float32), np.arange(3.0),
                    np.zeros(0, np.int32)], ((1,),)),
    case("range_add", lambda x: x + tf.range(3, dtype=x.dtype),
         lambda x: x + np.arange(3), ((2, 3),), shapes(1, 3).map(lambda s: (s[0][:-1] + (3,),))),
    case("shape", lambda x: [tf.shape(x), tf.shape(x, out_type=tf.int64)],
         lambda x: [np.array(x.shape, np.int32), np.array(x.shape, np.int64)], ((2, 3),),
         shapes(min_side=0), ANY),
    case("size_rank", lambda x: [tf.size(x), tf.rank(x)],
         lambda x: [np.int32(x.size), np.int32(x.ndim)], ((2, 3),), shapes(min_side=0), ANY),
]

CASES = _RESHAPE + _JOIN + _INDEXING + _FILLED
