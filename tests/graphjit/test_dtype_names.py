"""Dtype names mean what they mean in TF (`tf.as_dtype`), not NumPy: TF1 programs write
`tf.placeholder("float")` and expect float32 (NumPy's "float" is float64)."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf

# TF 1.15's dtypes._STRING_TO_TF, as graphjit maps it (None: a TF dtype graphjit lacks;
# bfloat16 is a storage-only dtype where ml_dtypes is installed: casts only).
TF_NAMES = {
    "float16": tf.float16, "half": tf.float16, "float32": tf.float32, "float": tf.float32,
    "float64": tf.float64, "double": tf.float64, "int8": tf.int8, "int16": tf.int16,
    "int32": tf.int32, "int64": tf.int64, "uint8": tf.uint8, "bool": tf.bool,
    "bfloat16": getattr(tf.dtypes, "bfloat16", None), "complex64": None, "complex128": None,
    "uint16": tf.uint16, "uint32": tf.uint32, "uint64": tf.uint64, "string": tf.string,
    "qint8": None, "quint8": None,
    "qint16": None, "quint16": None, "qint32": None, "resource": None, "variant": None,
}


@pytest.mark.parametrize("name, expected", TF_NAMES.items())
def test_tf_dtype_names(name, expected):
    for spelling in (name, name + "_ref"):  # TF1's reference types name the same dtype
        if expected is None:
            with pytest.raises(tf.DTypeError, match="not supported by graphjit"):
                tf.as_dtype(spelling)
        else:
            assert tf.as_dtype(spelling) is expected


@pytest.mark.parametrize("name", ["int", "f4", "float_", "Float32", ""])
def test_names_tf_does_not_know_are_refused(name):
    with pytest.raises(tf.DTypeError, match="cannot convert"):
        tf.as_dtype(name)


def test_a_float_placeholder_is_float32_as_in_tf():
    with tf.Graph().as_default():
        x = tf.placeholder("float", [None, 3])
        w = tf.constant(np.ones((3, 2), np.float32))
        y = tf.matmul(x, w)  # a float64 x would be refused beside a float32 w
        assert x.dtype is tf.float32 and y.dtype is tf.float32
        with tf.Session() as sess:
            out = sess.run(y, {x: np.ones((2, 3))})
    assert out.dtype == np.float32 and (out == 3).all()
