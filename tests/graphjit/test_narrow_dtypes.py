"""Storage-only dtypes (bfloat16, float8, float4, int4, int2, from ml_dtypes): compiled
casts to and from them run on the host and agree with NumPy's (ml_dtypes') conversion;
ops that compute refuse them by name."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit import dtypes

pytest.importorskip("ml_dtypes")

VALUES = np.array([[0.0, -0.0, 0.3, -1.7, 2.5, 3.0], [7.0, -8.0, 100.0, 1e-6, 0.51, -2.5]],
                  np.float32)


@pytest.fixture(scope="module")
def round_trips():
    """One compiled function casting a float32 input to every narrow dtype and back."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 6], name="x")
        narrow = [tf.cast(x, d) for d in dtypes.NARROW]
        back = [tf.cast(n, tf.float32) for n in narrow]
        return tf.compile(narrow + back, feeds=[x])


def test_casts_agree_with_numpy(round_trips):
    outs = round_trips(VALUES)
    count = len(dtypes.NARROW)
    for d, got, back in zip(dtypes.NARROW, outs[:count], outs[count:]):
        with np.errstate(invalid="ignore", over="ignore"):
            want = VALUES.astype(d.np)
        assert got.dtype == d.np, d
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8), err_msg=d.name)
        np.testing.assert_array_equal(back, want.astype(np.float32), err_msg=d.name)


def test_kinds_and_ranges():
    assert dtypes.bfloat16.is_floating and dtypes.float8_e5m2.is_floating
    assert dtypes.int4.is_integer and not dtypes.int4.is_unsigned and dtypes.uint2.is_unsigned
    assert dtypes.float8_e4m3fn.max == 448 and dtypes.int4.min == -8
    assert all(d.is_narrow for d in dtypes.NARROW) and not tf.float16.is_narrow
    assert tf.as_dtype(dtypes.float8_e5m2.np) is dtypes.float8_e5m2


def test_arithmetic_refuses_them():
    with tf.Graph().as_default():
        x = tf.placeholder(dtypes.bfloat16, [2], name="x")
        with pytest.raises(tf.DTypeError, match="dtype bfloat16"):
            tf.negative(x)


def test_data_movement_runs_on_the_host():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    with tf.Graph().as_default():
        x = tf.placeholder(dtypes.float8_e4m3fn, [2, 3], name="x")
        outs = [tf.reshape(x, [3, 2]), tf.transpose(x), tf.concat([x, x], 0),
                tf.gather(x, [1, 0]), x[:, 1:]]
        fn = tf.compile(outs, feeds=[x])
    v = np.arange(6, dtype=np.float32).reshape(2, 3).astype(ml_dtypes.float8_e4m3fn)
    want = [v.reshape(3, 2), v.T, np.concatenate([v, v]), v[[1, 0]], v[:, 1:]]
    for got, expected in zip(fn(v), want):
        assert got.dtype == v.dtype
        np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


def test_ml_dtypes_is_imported_on_first_use_only():
    """Importing ml_dtypes costs more than the rest of graphjit's import: a program that
    never names a narrow dtype must not pay it; naming one (or feeding an array of one)
    brings them all."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, graphjit as tf\n"
            "from graphjit import dtypes\n"
            "assert 'ml_dtypes' not in sys.modules\n"
            "assert tf.as_dtype('float32') is tf.float32 and 'bfloat16' in dtypes.NAMES\n"
            "assert 'ml_dtypes' not in sys.modules\n"
            "assert tf.as_dtype('bfloat16') is dtypes.bfloat16 and len(dtypes.NARROW) > 5\n"
            "import ml_dtypes\n"
            "assert tf.as_dtype(np.dtype(ml_dtypes.float8_e5m2)) is dtypes.float8_e5m2\n"
            "assert dtypes.names()['int4'] is dtypes.int4\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_array_of_a_narrow_dtype_is_recognized_in_a_fresh_process():
    import subprocess
    import sys
    code = ("import ml_dtypes, numpy as np, graphjit as tf\n"
            "x = np.zeros(3, ml_dtypes.bfloat16)\n"
            "assert tf.as_dtype(x.dtype).name == 'bfloat16'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
