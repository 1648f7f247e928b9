"""Shape ops reject bad arguments at build time with graphjit errors that name the op,
its name and the user's line; composites carry TF's names and static shapes."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here as check
from tests.graphjit.error_check import caller_line as _line


@pytest.fixture
def x():
    with tf.Graph().as_default():
        yield tf.placeholder(tf.float32, [2, 3], name="x")


# -- axes and perms ---------------------------------------------------------------

def test_expand_dims_bad_axis(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.expand_dims(x, 3, name="e")  # noqa: E702
    check(info, "ExpandDims 'e'", "float32[2,3]", "axis 3", line=line)


def test_squeeze_non_one_dim(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.squeeze(x, axis=1)  # noqa: E702
    check(info, "Squeeze 'Squeeze'", "axis 1 of size 3", line=line)


@pytest.mark.parametrize("perm", [[0, 0], [0, 1, 2], [1, 2]])
def test_transpose_bad_perm(x, perm):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.transpose(x, perm)  # noqa: E702
    check(info, "Transpose 'transpose'", "permutation", line=line)


def test_concat_bad_axis(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.concat([x, x], axis=-3)  # noqa: E702
    check(info, "ConcatV2 'concat'", "axis -3", line=line)


def test_gather_bad_axis(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.gather(x, [0], axis=2)  # noqa: E702
    check(info, "GatherV2 'GatherV2'", "axis 2", line=line)


# -- sizes ------------------------------------------------------------------------

def test_reshape_size_mismatch(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.reshape(x, [4, 2], name="r")  # noqa: E702
    check(info, "Reshape 'r'", "6 elements", "[4, 2]", line=line)
    assert isinstance(info.value, ValueError)


def test_reshape_two_unknown_dims(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.reshape(x, [-1, -1])  # noqa: E702
    check(info, "Reshape 'Reshape'", "one -1", line=line)


def test_reshape_not_divisible():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 6])
        with pytest.raises(tf.ShapeError) as info:
            line = _line(); tf.reshape(x, [4, 5])  # noqa: E702
        check(info, "Reshape 'Reshape'", "float32[?,6]", line=line)
        assert tf.reshape(x, [-1, 3]).shape == [None, 3]


def test_concat_mismatching_shapes(x):
    y = tf.placeholder(tf.float32, [3, 4], name="y")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.concat([x, y], axis=0, name="c")  # noqa: E702
    check(info, "ConcatV2 'c'", "float32[2,3]", "float32[3,4]", "dimension 1", line=line)


def test_concat_mismatching_dtypes(x):
    n = tf.placeholder(tf.int32, [2, 3], name="n")
    with pytest.raises(tf.DTypeError) as info:
        line = _line(); tf.concat([x, n], 1)  # noqa: E702
    check(info, "ConcatV2 'concat'", "int32", line=line)


def test_stack_mismatching_shapes(x):
    y = tf.placeholder(tf.float32, [3, 2], name="y")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.stack([x, y])  # noqa: E702
    check(info, "ConcatV2 'stack'", line=line)


def test_split_uneven(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.split(x, 2, axis=1)  # noqa: E702
    check(info, "'split'", "size 3", line=line)
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.split(x, [1, 1], axis=1)  # noqa: E702
    check(info, "do not add up to 3", line=line)


def test_unstack_needs_num():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2])
        with pytest.raises(tf.ShapeError) as info:
            line = _line(); tf.unstack(x)  # noqa: E702
        check(info, "'unstack'", "pass num", line=line)


def test_broadcast_to_incompatible(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.broadcast_to(x, [2, 4])  # noqa: E702
    check(info, "BroadcastTo 'BroadcastTo'", "[2, 4]", line=line)


def test_tile_wrong_length(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.tile(x, [2])  # noqa: E702
    check(info, "Tile 'Tile'", "multiples", line=line)


def test_pad_reflect_too_wide(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.pad(x, [[0, 0], [3, 0]], mode="REFLECT")  # noqa: E702
    check(info, "Pad 'Pad'", "axis 1 of size 3", line=line)


def test_range_zero_delta():
    with tf.Graph().as_default():
        with pytest.raises(tf.ShapeError) as info:
            line = _line(); tf.range(0, 5, 0)  # noqa: E702
    check(info, "Range 'range'", "delta", line=line)


# -- indexing ---------------------------------------------------------------------

@pytest.mark.parametrize("key, fragment", [
    (5, "index 5 is out of range for axis 0 with size 2"),
    (-3, "index -3 is out of range for axis 0 with size 2"),
    ((0, 3), "index 3 is out of range for axis 1 with size 3"),
    ((0, 0, 0), "too many indices"),
    ((..., 0, ...), "one ellipsis"),
    (np.s_[::0], "step cannot be zero"),
])
def test_index_out_of_range(x, key, fragment):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); x[key]  # noqa: E702, B018
    check(info, "StridedSlice 'strided_slice'", "float32[2,3]", fragment, line=line)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("key", [[0, 1], 1.5, "a"])
def test_unsupported_index(x, key):
    with pytest.raises(tf.UnsupportedError) as info:
        line = _line(); x[key]  # noqa: E702, B018
    check(info, "StridedSlice 'strided_slice'", "gather", line=line)


@pytest.mark.parametrize("key", [lambda i: slice(i, None), lambda i: (i, 0),
                                 lambda i: (i, i)])
def test_run_time_index_is_unsupported_beside_other_indices(x, key):
    """x[i] alone (a gather) is supported; a run-time bound or a run-time index beside
    another index is not."""
    key = key(tf.placeholder(tf.int32, [], name="i"))
    with pytest.raises(tf.UnsupportedError) as info:
        line = _line(); x[key]  # noqa: E702, B018
    check(info, "computed at run time", "gather", line=line)


def test_slice_out_of_range(x):
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.slice(x, [1, 1], [2, -1])  # noqa: E702
    check(info, "StridedSlice 'Slice'", "axis 0 of size 2", line=line)


# -- dtypes and static arguments ----------------------------------------------------

def test_gather_float_indices(x):
    with pytest.raises(tf.DTypeError) as info:
        line = _line(); tf.gather(x, [0.0, 1.0], name="g")  # noqa: E702
    check(info, "GatherV2 'g'", "float32", "int32 or int64", line=line)
    assert isinstance(info.value, TypeError)


def test_one_hot_float_indices(x):
    with pytest.raises(tf.DTypeError) as info:
        line = _line(); tf.one_hot(x, 3)  # noqa: E702
    check(info, "'one_hot'", "integers", line=line)


def test_run_time_shape_argument_is_unsupported(x):
    s = tf.placeholder(tf.int32, [2], name="s")
    with pytest.raises(tf.UnsupportedError) as info:
        line = _line(); tf.reshape(x, s)  # noqa: E702
    check(info, "'s:0'", "built", line=line)


def test_float_shape_argument(x):
    with pytest.raises(tf.DTypeError):
        tf.reshape(x, [2.0, 3.0])


# -- names and static shapes of composites ------------------------------------------

def test_composites_carry_tf_names():
    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        assert x[0].op.name == "strided_slice"
        assert x[:, 1:].op.name == "strided_slice_1"
        assert tf.stack([x, x]).op.name == "stack"
        assert tf.stack([x, x], name="pair").op.name == "pair"
        assert tf.one_hot(tf.constant([1, 2]), 3).op.name == "one_hot"
        assert tf.concat([x, x], 1).op.name == "concat"
        assert tf.transpose(x).op.name == "transpose"
        assert tf.range(3).op.name == "range"
        assert tf.zeros([2]).op.name == "zeros"
        assert tf.ones_like(x).op.name == "ones_like"
        assert tf.size(x).op.name == "Size"
        assert [t.op.name for t in tf.split(x, [1, 2], axis=1)] == [
            "split/StridedSlice", "split/StridedSlice_1"]
        assert g.get_operation_by_name("stack").type == "ConcatV2"


def test_static_shapes_with_unknown_dims():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4, 3], name="x")
        assert x[0].shape == [4, 3]
        assert x[:, ::2, None, -1].shape == [None, 2, 1]
        assert x[..., 1:].shape == [None, 4, 2]
        assert tf.reshape(x, [-1, 12]).shape == [None, 12]
        assert tf.reshape(x[0], [-1]).shape == [12]
        assert tf.squeeze(tf.expand_dims(x, -1)).shape == [None, 4, 3]
        assert tf.concat([x, x], 0).shape == [None, 4, 3]
        assert tf.concat([x, x], 1).shape == [None, 8, 3]
        assert tf.tile(x, [2, 0, 1]).shape == [None, 0, 3]
        assert tf.pad(x, [[1, 1], [0, 2], [0, 0]]).shape == [None, 6, 3]
        assert tf.gather(x, tf.constant([[0, 1]]), axis=1).shape == [None, 1, 2, 3]
        assert tf.one_hot(tf.cast(x, tf.int32), 5, axis=1).shape == [None, 5, 4, 3]
        assert tf.shape(x).shape == [3]
        assert tf.zeros(tf.shape(x)).shape == [None, 4, 3]
        assert tf.range(1.0, 2.0, 0.3).shape == [4]
        assert [t.shape for t in tf.unstack(x, axis=1)] == [[None, 3]] * 4
