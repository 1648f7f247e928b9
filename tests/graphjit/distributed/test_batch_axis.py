"""The batch-axis classification on its own (no cluster): which ops keep rows apart,
which reduce over the batch, and which mix rows (an error naming the op and its line)."""

import numpy as np
import pytest

import graphjit as tf

pytest.importorskip("dask.array")
batch_axis = pytest.importorskip("graphjit.distributed.batch_axis")

ROW_WISE = {
    "matmul, bias, relu": lambda x, i: tf.nn.relu(tf.matmul(x, tf.ones([4, 3])) + 1.0),
    "softmax": lambda x, i: tf.nn.softmax(x),
    "argmax over features": lambda x, i: tf.argmax(x, 1),
    "sum over features": lambda x, i: tf.reduce_sum(x, 1),
    "reshape keeping rows": lambda x, i: tf.reshape(x, [-1, 2, 2]),
    "transpose keeping axis 0": lambda x, i: tf.transpose(tf.reshape(x, [-1, 2, 2]), [0, 2, 1]),
    "concat along features": lambda x, i: tf.concat([x, x * 2.0], 1),
    "slice of features": lambda x, i: x[:, 1:3],
    "embedding lookup": lambda x, i: tf.gather(tf.ones([10, 4]), i),
    "conv and pool": lambda x, i: tf.nn.max_pool(tf.nn.conv2d(
        tf.reshape(x, [-1, 2, 2, 1]), tf.ones([2, 2, 1, 3]), [1, 1, 1, 1], "SAME"),
        [1, 2, 2, 1], [1, 2, 2, 1], "VALID"),
    "dropout": lambda x, i: tf.nn.dropout(x, 0.5),
}

MIXING = {
    "transpose": (lambda x, i: tf.transpose(x), "Transpose"),
    "reshape across rows": (lambda x, i: tf.reshape(x, [-1, 8]), "Reshape"),
    "slice of rows": (lambda x, i: x[1:], "StridedSlice"),
    "concat along rows": (lambda x, i: tf.concat([x, x], 0), "ConcatV2"),
    "first rows only": (lambda x, i: x[:5], "StridedSlice"),
    "contraction over rows": (lambda x, i: tf.matmul(x, x, transpose_a=True), "MatMul"),
    "argmax over rows": (lambda x, i: tf.argmax(x, 0), "ArgMax"),
    "shape of the batch": (lambda x, i: tf.cast(tf.shape(x)[0], tf.float32), "Shape"),
    "one dropout mask for all rows": (lambda x, i: tf.nn.dropout(x, 0.5, noise_shape=[1, 4]),
                                      "RandomUniformLike"),
}


def _build(make):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        ids = tf.placeholder(tf.int32, [None], name="ids")
        out = make(x, ids)
    return out, [x, ids]


@pytest.mark.parametrize("name", ROW_WISE)
def test_row_wise(name):
    out, batch = _build(ROW_WISE[name])
    result = batch_axis.classify([out], batch)
    assert result.kind(out) == batch_axis.ROW and not result.reductions


@pytest.mark.parametrize("name", MIXING)
def test_row_mixing_is_an_error_naming_the_op_and_line(name):
    make, op_type = MIXING[name]
    out, batch = _build(make)
    with pytest.raises(batch_axis.BatchAxisError,
                       match=rf"{op_type} '.*mixes rows.*test_batch_axis\.py:\d+"):
        batch_axis.classify([out], batch)


def test_reductions_get_kinds_and_levels():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        mean, variance = tf.nn.moments(x, [0])
        loss = tf.reduce_mean(tf.reduce_max(x, 1)) * 2.0 + tf.reduce_sum(tf.constant(
            np.ones(3, np.float32)))
        w = tf.reduce_min(x, [0, 1], keepdims=True)
    result = batch_axis.classify([variance, loss, w], [x])
    kinds = {r.op.name: (r.kind, r.level) for r in result.reductions.values()}
    assert kinds[mean.op.inputs[0].op.name] == ("mean", 1)  # through the Squeeze
    assert kinds[variance.op.name] == ("mean", 2)  # needs the mean first
    assert sorted(kinds.values()).count(("min", 1)) == 1
    assert result.kind(loss) == batch_axis.REDUCED and result.level(loss) == 1
