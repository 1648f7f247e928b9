"""Random draws whose shape is known only at run time, as TF1 programs write them
(`eps = tf.random_normal(tf.shape(z_mean))` in a VAE), in both engines: the shapes a
run gives, the static shapes, the values against NumPy, seeds reproducible across
engines, and the error for a shape computed from values."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line

ENGINES = ["reference", "compiled"]
X = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)


def _vae_sample(seed=None):
    """The reparameterization trick on a placeholder batch: (x, w, z_mean, eps, z)."""
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(np.full((3, 2), 0.5, np.float32), name="w")
    z_mean = tf.matmul(x, w)
    z_log_var = tf.matmul(x, w) * 0.1
    eps = tf.random_normal(tf.shape(z_mean), seed=seed)
    z = z_mean + tf.exp(0.5 * z_log_var) * eps
    return x, w, z_mean, eps, z


def _draws(engine, graph_seed, build, feeds_of, runs=2):
    """Values of `build()`'s fetches over `runs` runs of one fresh graph and session."""
    with tf.Graph().as_default():
        tf.set_random_seed(graph_seed)
        fetches, feed_dict = feeds_of(build())
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            return [sess.run(fetches, feed_dict) for _ in range(runs)]


@pytest.mark.parametrize("engine", ENGINES)
def test_vae_sampling_draws_the_batch_shape_and_trains(engine):
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        x, w, z_mean, eps, z = _vae_sample()
        assert eps.shape.as_list() == [None, 2] and z.shape.as_list() == [None, 2]
        loss = tf.reduce_sum(tf.square(z))
        grad_w, = tf.gradients(loss, [w])
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            for batch in (X, X[:2]):
                e, zv, g = sess.run([eps, z, grad_w], {x: batch})
                assert e.shape == (len(batch), 2) and e.dtype == np.float32
                mean = batch @ np.full((3, 2), 0.5, np.float32)
                np.testing.assert_allclose(zv, mean + np.exp(0.05 * mean) * e, rtol=1e-5)
                assert g.shape == (3, 2) and np.isfinite(g).all() and np.abs(g).sum() > 0


@pytest.mark.parametrize("draw", ["random_normal", "random_uniform", "truncated_normal"])
def test_values_are_numpys_draw_from_the_runs_key(draw):
    """The draw is NumPy's, from a generator the run's key seeds (graphjit.ops.random_like):
    checked against NumPy directly, so neither engine is its own oracle."""
    method = {"random_normal": "standard_normal", "random_uniform": "random",
              "truncated_normal": "standard_normal"}[draw]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        value = getattr(tf, draw)(tf.shape(x), seed=7)
        sample = value.op.inputs[0]  # under the shift by mean (scale 1: no Mul)
        assert sample.op.type == "RandomLike"
        key = sample.op.inputs[-1]
        for engine in ENGINES:
            with tf.Session(engine=engine) as sess:
                got, k = sess.run([sample, key], {x: X})
            rng = np.random.default_rng((k * 2.0**53).astype(np.uint64))
            expected = getattr(rng, method)((6, 3), dtype=np.float32)
            if draw == "truncated_normal":  # redrawn beyond two standard deviations
                assert np.abs(got).max() <= 2
                kept = np.abs(expected) <= 2
                np.testing.assert_array_equal(got[kept], expected[kept])
            else:
                np.testing.assert_array_equal(got, expected)


def test_engines_draw_the_same_numbers_for_a_graph_seed():
    def build():
        x, _, _, eps, z = _vae_sample()
        u = tf.random_uniform([tf.shape(x)[0], 4], minval=-1.0, maxval=3.0)
        t = tf.truncated_normal(tf.stack([tf.shape(x)[1], tf.shape(x)[0]]), stddev=0.5)
        return x, [eps, z, u, t]

    def feeds_of(built):
        x, fetches = built
        return fetches, {x: X}

    reference = _draws("reference", 42, build, feeds_of)
    compiled = _draws("compiled", 42, build, feeds_of)
    for ref_run, compiled_run in zip(reference, compiled):
        for a, b in zip(ref_run, compiled_run):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    eps, _, u, t = reference[0]
    assert u.shape == (6, 4) and u.min() >= -1 and u.max() < 3
    assert t.shape == (3, 6) and np.abs(t).max() <= 1.0
    assert not np.array_equal(reference[0][0], reference[1][0])  # a new draw each run
    again = _draws("reference", 42, build, feeds_of)  # a rebuilt graph draws the same
    np.testing.assert_array_equal(again[1][2], reference[1][2])
    other_seed = _draws("reference", 43, build, feeds_of)
    assert not np.array_equal(other_seed[0][0], eps)


def test_op_seed_alone_reproduces_and_no_seed_differs():
    def draws(seed):
        def build():
            x = tf.placeholder(tf.float32, [None], name="x")
            return x, tf.random_normal([tf.shape(x)[0], 2], seed=seed)

        def feeds_of(built):
            return built[1], {built[0]: np.zeros(5, np.float32)}

        return _draws("compiled", None, build, feeds_of, runs=1)[0]

    np.testing.assert_array_equal(draws(3), draws(3))
    assert not np.array_equal(draws(3), draws(4))
    assert not np.array_equal(draws(None), draws(None))


@pytest.mark.parametrize("engine", ENGINES)
def test_shapes_built_from_run_time_dims(engine):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, None, 3], name="x")
        shape = tf.shape(x)
        draws = [tf.random_normal(tf.concat([shape[:1], [4]], 0)),
                 tf.random_uniform([shape[-1], shape[1], 2]),  # x's static dim 3 is static
                 tf.random_normal(tf.cast(shape[::-1], tf.int64), dtype=tf.float64),
                 tf.random_uniform(tf.shape(x)[1:])]
        assert [d.shape.as_list() for d in draws] == [[None, 4], [3, None, 2], [3, None, None],
                                                      [None, 3]]
        assert draws[2].dtype == tf.float64
        with tf.Session(engine=engine) as sess:
            got = sess.run(draws, {x: np.zeros((5, 2, 3), np.float32)})
    assert [g.shape for g in got] == [(5, 4), (3, 2, 2), (3, 2, 5), (2, 3)]


def test_compiled_function_redraws_for_each_batch_size():
    with tf.Graph().as_default() as graph:
        tf.set_random_seed(9)
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        noisy = x + tf.random_normal(tf.shape(x), stddev=0.0)
        fn = tf.compile(graph, fetches=noisy, feeds=[x])
    for batch in (X, X[:1], X[:0]):
        np.testing.assert_array_equal(fn(batch), batch)


def test_a_shape_computed_from_values_is_refused_naming_it():
    with tf.Graph().as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        with pytest.raises(tf.UnsupportedError) as info:
            line = caller_line() + 1
            tf.random_normal([n, 2])
        assert_points_here(info, "RandomStandardNormal", "shape tensor 'n:0' (Placeholder)",
                           "tf.shape(t)", line=line)
        with pytest.raises(tf.UnsupportedError, match="'Sum:0'"):
            tf.random_uniform(tf.stack([tf.reduce_sum(tf.shape(n)), 3]))
        with pytest.raises(tf.DTypeError, match="random values are drawn as floats"):
            tf.random_normal(tf.shape(n), dtype=tf.int32)
