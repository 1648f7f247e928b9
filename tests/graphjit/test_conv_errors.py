"""Build-time errors of conv2d / max_pool / avg_pool: the right type, and a message that
names the op and points at the user's line (this file and the line of the call)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphjit as tf
from graphjit.errors import DTypeError, GraphError, ShapeError, UnsupportedError


def ph(shape, dtype=tf.float32):
    return tf.placeholder(dtype, shape)


X, F = [1, 5, 5, 2], [3, 3, 2, 4]
conv, max_pool, avg_pool = tf.nn.conv2d, tf.nn.max_pool, tf.nn.avg_pool

# (op name, error, message fragment, call): each lambda's body sits on the line the
# error must point at.
ERRORS = [
    ("in_rank", ShapeError, "rank 4",
     lambda: conv(ph([5, 5, 2]), ph(F), 1, "SAME", name="in_rank")),
    ("f_rank", ShapeError, "HWIO",
     lambda: conv(ph(X), ph([3, 3, 2]), 1, "SAME", name="f_rank")),
    ("chans", ShapeError, "2 channels",
     lambda: conv(ph(X), ph([3, 3, 3, 4]), 1, "SAME", name="chans")),
    ("pad", ShapeError, "'FULL'",
     lambda: conv(ph(X), ph(F), 1, "FULL", name="pad")),
    ("big_k", ShapeError, "VALID",
     lambda: conv(ph(X), ph([6, 3, 2, 4]), 1, "VALID", name="big_k")),
    ("dilated", ShapeError, "(7)",
     lambda: conv(ph(X), ph(F), 1, "VALID", dilations=3, name="dilated")),
    ("ints", DTypeError, "int32",
     lambda: conv(ph(X, tf.int32), ph(F, tf.int32), 1, "SAME", name="ints")),
    ("mixed", DTypeError, "float64",
     lambda: conv(ph(X), ph(F, tf.float64), 1, "SAME", name="mixed")),
    ("s3", ShapeError, "strides",
     lambda: conv(ph(X), ph(F), [1, 1, 1], "SAME", name="s3")),
    ("s_batch", UnsupportedError, "strides",
     lambda: conv(ph(X), ph(F), [2, 1, 1, 1], "SAME", name="s_batch")),
    ("nchw", UnsupportedError, "NCHW",
     lambda: conv(ph(X), ph(F), 1, "SAME", data_format="NCHW", name="nchw")),
    ("explicit", UnsupportedError, "explicit",
     lambda: conv(ph(X), ph(F), 1, [[0, 0], [1, 1], [1, 1], [0, 0]], name="explicit")),
    ("mp_rank", ShapeError, "rank 4",
     lambda: max_pool(ph([5, 5]), 2, 2, "SAME", name="mp_rank")),
    ("mp_big", ShapeError, "larger",
     lambda: max_pool(ph(X), [6, 1], 1, "VALID", name="mp_big")),
    ("mp_depth", UnsupportedError, "ksize",
     lambda: max_pool(ph(X), [1, 2, 2, 2], 1, "SAME", name="mp_depth")),
    ("mp_nchw", UnsupportedError, "NCHW",
     lambda: max_pool(ph(X), 2, 2, "SAME", "NCHW", name="mp_nchw")),
    ("ap_int", DTypeError, "int64",
     lambda: avg_pool(ph(X, tf.int64), 2, 2, "SAME", name="ap_int")),
    ("ap_pad", ShapeError, "padding",
     lambda: avg_pool(ph(X), 2, 2, "FULL", name="ap_pad")),
    ("ap_float", ShapeError, "ksize",
     lambda: avg_pool(ph(X), 2.5, 2, "SAME", name="ap_float")),
]


@pytest.mark.parametrize("name, error, fragment, call", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_names_op_and_user_line(name, error, fragment, call):
    with tf.Graph().as_default():
        with pytest.raises(error) as info:
            call()
    message = str(info.value)
    assert f"'{name}'" in message, message
    assert fragment in message, message
    assert f"{os.path.basename(__file__)}:{call.__code__.co_firstlineno}" in message, message


def test_default_names_and_uniquifying():
    with tf.Graph().as_default():
        x, f = ph(X), ph(F)
        assert tf.nn.conv2d(x, f, 1, "SAME").op.name == "Conv2D"
        assert tf.nn.conv2d(x, f, 1, "SAME").op.name == "Conv2D_1"
        assert tf.nn.max_pool(x, 2, 2, "SAME").op.name == "MaxPool"
        assert tf.nn.avg_pool(x, 2, 2, "SAME").op.name == "AvgPool"


def test_attrs_are_normalized_to_tf1_form():
    with tf.Graph().as_default():
        y = tf.nn.conv2d(ph(X), ph(F), [2, 1], "same", dilations=2)
        assert y.op.attrs == {"strides": (1, 2, 1, 1), "padding": "SAME",
                              "dilations": (1, 2, 2, 1)}
        assert tf.nn.max_pool(ph(X), np.int64(3), [1, 2, 2, 1], "VALID").op.attrs == {
            "ksize": (1, 3, 3, 1), "strides": (1, 2, 2, 1), "padding": "VALID"}


def test_unknown_filter_dims_leave_output_dims_unknown():
    with tf.Graph().as_default():
        x = ph([None, 7, None, 2])
        assert tf.nn.conv2d(x, ph([None, None, None, None]), 2, "SAME").shape == \
            (None, 4, None, None)
        assert tf.nn.conv2d(x, ph([3, None, 2, 5]), 2, "VALID").shape == (None, 3, None, 5)
        assert tf.nn.avg_pool(x, 3, 2, "VALID").shape == (None, 3, None, 2)


def test_filter_argument_is_required_once():
    with tf.Graph().as_default():
        x, f = ph(X), ph(F)
        with pytest.raises(GraphError, match="exactly one"):
            tf.nn.conv2d(x, strides=1, padding="SAME")
        with pytest.raises(GraphError, match="exactly one"):
            tf.nn.conv2d(x, f, 1, "SAME", filters=f)


def test_valid_window_larger_than_a_run_time_input():
    with tf.Graph().as_default():
        x = ph([None, None, None, 2])
        y = tf.nn.max_pool(x, 3, 1, "VALID")
        with tf.Session() as sess, pytest.raises(ShapeError, match="larger"):
            sess.run(y, {x: np.zeros((1, 2, 5, 2), np.float32)})
