"""Fortran-ordered NumPy values (np.asfortranarray, a transpose's view) where a user
hands graphjit an array: constants, variable initial values and feeds give the results
of C-ordered ones (kernels take C order; graphjit copies, never fails in Numba)."""

import numpy as np

import graphjit as tf

VALUE = np.arange(6, dtype=np.float32).reshape(2, 3)


def test_fortran_ordered_constant_variable_and_feed():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3])
        c = tf.constant(np.asfortranarray(VALUE))
        v = tf.Variable(np.asfortranarray(VALUE) * 2)
        y = x * c + v
        init = tf.global_variables_initializer()
    feed = np.asfortranarray(np.full((2, 3), 3, np.float32))
    want = 3 * VALUE + 2 * VALUE
    with tf.Session(graph=g) as sess:
        sess.run(init)
        np.testing.assert_array_equal(sess.run(y, {x: feed}), want)
    fn = tf.compile(g, fetches=[x * c], feeds=[x])
    np.testing.assert_array_equal(fn(feed)[0], 3 * VALUE)
    np.testing.assert_array_equal(fn(VALUE.T.copy().T)[0], VALUE * VALUE)
