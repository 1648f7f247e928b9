"""uint16, uint32 and uint64 (added for ONNX models that use them) through the public
API, the NumPy reference and the compiled kernels: arithmetic wraps in the type's width
as NumPy's does, comparisons and reductions order unsigned values, and float -> unsigned
casts are defined whatever the array's length (graphjit.ops.elementwise._cast_reference)."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit import interpreter

LONG = 40_009  # > 2**15 elements, odd: vector loops and their remainders both run
UNSIGNED = (tf.uint16, tf.uint32, tf.uint64)


def _values(dtype) -> tuple[np.ndarray, np.ndarray]:
    info = np.iinfo(dtype.np)
    x = np.array([0, 1, 2, 7, 200, info.max, info.max - 1, info.max // 2 + 1], dtype.np)
    y = np.array([1, info.max, 3, 2, 9, 2, info.max, 3], dtype.np)
    return x, y


@pytest.fixture(scope="module", params=UNSIGNED, ids=str)
def compiled(request):
    dtype = request.param
    graph = tf.Graph()
    with graph.as_default():
        a = tf.placeholder(dtype, [None], name="a")
        b = tf.placeholder(dtype, [None], name="b")
        outs = [a + b, a - b, a * b, tf.floordiv(a, b), tf.floormod(a, b), tf.maximum(a, b),
                tf.minimum(a, b), -a, tf.abs(a), tf.sign(a), tf.square(a), a < b, a >= b,
                tf.equal(a, b), tf.reduce_sum(a), tf.reduce_max(a), tf.reduce_min(b),
                tf.argmax(a), tf.cast(a, tf.float64), tf.cast(a, tf.int64),
                tf.where(a > b, a, b), a + 1]
    return dtype, a, b, outs, tf.compile(outs, feeds=[a, b])


@pytest.mark.parametrize("n", [8, LONG])
def test_compiled_matches_reference_and_numpy(compiled, n):
    dtype, a, b, outs, fn = compiled
    x, y = (np.resize(v, n) for v in _values(dtype))
    got = fn(x, y)
    reference = interpreter.evaluate(outs, {a: x, b: y})
    with np.errstate(over="ignore"):
        expected = [x + y, x - y, x * y, x // y, x % y, np.maximum(x, y), np.minimum(x, y),
                    (0 - x).astype(x.dtype), x, np.sign(x), x * x, x < y, x >= y, x == y,
                    x.sum(dtype=x.dtype), x.max(), y.min(), np.argmax(x),
                    x.astype(np.float64), x.astype(np.int64), np.where(x > y, x, y),
                    x + dtype.np.type(1)]
    for i, (g, r, e) in enumerate(zip(got, reference, expected)):
        e = np.asarray(e)
        assert np.asarray(g).dtype == e.dtype, (i, outs[i].op.type)
        np.testing.assert_array_equal(r, e, err_msg=f"reference {outs[i].op.type}")
        np.testing.assert_array_equal(g, e, err_msg=f"compiled {outs[i].op.type}")


def test_float_to_wide_unsigned_casts_are_defined_whatever_the_length():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        outs = [tf.cast(x, d) for d in UNSIGNED]
    fn = tf.compile(outs, feeds=[x])
    special = np.array([300, -300, 1e10, np.nan, np.inf, -np.inf, -1.5, 3e9, 1e19, 1e20])
    m16, m32, m64 = 2**16, 2**32, 2**64
    expected = ([300, m16 - 300, 0, 0, 0, 0, m16 - 1, 0, 0, 0],  # via int32, wrapped
                [300, m32 - 300, 10**10 % m32, 0, 0, 0, m32 - 1, 3 * 10**9, 0, 0],  # int64
                [300, m64 - 300, 10**10, 2**63, 2**63, 2**63, m64 - 1, 3 * 10**9, 10**19,
                 2**63])  # int64, and [2**63, 2**64) exactly
    for n in (len(special), LONG):
        feed = np.resize(special, n)
        reference = interpreter.evaluate(outs, {x: feed})
        for got, ref, want in zip(fn(feed), reference, expected):
            want = np.resize(np.array(want, np.uint64).astype(got.dtype), n)
            np.testing.assert_array_equal(ref, want)
            np.testing.assert_array_equal(got, want)


def test_names_and_feeds():
    assert tf.as_dtype("uint32") is tf.uint32 and tf.as_dtype(np.uint64) is tf.uint64
    with tf.Graph().as_default():
        u = tf.placeholder(tf.uint64, [2], name="u")
        with pytest.raises(tf.FeedError, match="'u:0'"):
            tf.compile(u + 1, feeds=[u])([-1, 2])
