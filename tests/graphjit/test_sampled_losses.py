"""Candidate samplers, tf.nn.nce_loss and tf.nn.sampled_softmax_loss: TF's
distributions and expected counts, the losses against NumPy for given samples, and a
word2vec-style training program with equal losses in both engines."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_check import ENGINES, check_gradient, run_both, session


@pytest.fixture(autouse=True)
def graph():
    with tf.Graph().as_default() as g:
        yield g


def _log_uniform_p(c, range_max):
    return np.log((c + 2.0) / (c + 1.0)) / np.log(range_max + 1.0)


def test_log_uniform_draws_follow_zipf_and_expected_counts_are_p_times_n():
    labels = tf.constant([[0], [7]], tf.int64)
    sampled, true_expected, sampled_expected = tf.nn.log_uniform_candidate_sampler(
        labels, num_true=1, num_sampled=4000, unique=False, range_max=10, seed=5)
    assert sampled.shape.as_list() == [4000] and true_expected.shape.as_list() == [2, 1]
    s, te, se = run_both([sampled, true_expected, sampled_expected])[0]
    assert s.dtype == np.int64 and s.min() >= 0 and s.max() < 10
    frequency = np.bincount(s, minlength=10) / 4000
    np.testing.assert_allclose(frequency, _log_uniform_p(np.arange(10), 10), atol=0.03)
    np.testing.assert_allclose(te[:, 0], 4000 * _log_uniform_p(np.array([0, 7]), 10),
                               rtol=1e-6)
    np.testing.assert_allclose(se, 4000 * _log_uniform_p(s, 10), rtol=1e-6)


@pytest.mark.parametrize("sampler", [tf.nn.log_uniform_candidate_sampler,
                                     tf.nn.uniform_candidate_sampler])
def test_unique_draws_are_distinct_and_counts_use_the_number_of_tries(sampler):
    labels = tf.constant([[1, 2]], tf.int64)
    out = sampler(labels, num_true=2, num_sampled=8, unique=True, range_max=10, seed=2)
    s, te, se = run_both(list(out))[0]
    assert len(set(s.tolist())) == 8
    p = _log_uniform_p(s, 10) if sampler is tf.nn.log_uniform_candidate_sampler \
        else np.full(8, 0.1)
    tries = np.log1p(-se.astype(np.float64)) / np.log1p(-p)  # 1 - (1 - p)^tries
    assert tries.min() >= 8 - 1e-3
    np.testing.assert_allclose(tries, np.round(tries[0]), rtol=1e-4)
    with pytest.raises(tf.InvalidArgumentError, match="range is too small"):
        sampler(labels, num_true=2, num_sampled=11, unique=True, range_max=10)


def test_draws_follow_the_seeds_in_both_engines_and_change_each_run():
    tf.set_random_seed(9)
    sampled = tf.nn.uniform_candidate_sampler(tf.constant([[0]], tf.int64), 1, 6, True, 50)[0]
    runs = []
    for engine in ENGINES:
        with session(engine) as sess:
            runs.append([sess.run(sampled) for _ in range(2)])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0][0], runs[0][1])


def _sigmoid_xent(z, x):
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def _numpy_logits(w, b, labels, x, sampled, te, se, remove_hits):
    true_logits = np.einsum("bd,btd->bt", x, w[labels]) + b[labels] - np.log(te)
    sampled_logits = x @ w[sampled].T + b[sampled] - np.log(se)
    if remove_hits:
        hits = (labels[:, :, None] == sampled[None, None, :]).any(1)
        sampled_logits = sampled_logits + np.where(hits, -np.finfo(np.float32).max, 0)
    return np.concatenate([true_logits, sampled_logits], 1)


RNG = np.random.default_rng(3)
W = RNG.standard_normal((7, 3))
B = RNG.standard_normal(7)
X = RNG.standard_normal((4, 3))
LABELS = np.array([[1, 2], [0, 6], [5, 5], [3, 1]])
SAMPLED = np.array([2, 4, 0])
TRUE_EXPECTED = RNG.uniform(0.1, 0.9, (4, 2))
SAMPLED_EXPECTED = RNG.uniform(0.1, 0.9, 3)


def _given():
    return (tf.constant(SAMPLED, tf.int64), tf.constant(TRUE_EXPECTED, tf.float32),
            tf.constant(SAMPLED_EXPECTED, tf.float32))


def _want_logits(remove_hits):
    return _numpy_logits(W, B, LABELS, X, SAMPLED, TRUE_EXPECTED.astype(np.float32),
                         SAMPLED_EXPECTED.astype(np.float32), remove_hits)


def test_nce_loss_matches_numpy_for_given_samples():
    loss = tf.nn.nce_loss(tf.constant(W), tf.constant(B), tf.constant(LABELS),
                          tf.constant(X), num_sampled=3, num_classes=7, num_true=2,
                          sampled_values=_given())
    assert loss.name == "nce_loss:0" and loss.shape.as_list() == [4]
    logits = _want_logits(False)
    targets = np.concatenate([np.full((4, 2), 0.5), np.zeros((4, 3))], 1)
    for got in run_both(loss):
        np.testing.assert_allclose(got, _sigmoid_xent(targets, logits).sum(1), rtol=1e-6)


def test_sampled_softmax_loss_removes_accidental_hits():
    loss = tf.nn.sampled_softmax_loss(tf.constant(W), tf.constant(B), tf.constant(LABELS),
                                      tf.constant(X), num_sampled=3, num_classes=7,
                                      num_true=2, sampled_values=_given())
    logits = _want_logits(True)  # rows 0 and 3 have a sampled class that is a label
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    want = -(log_p[:, :2] * 0.5).sum(1)
    for got in run_both(loss):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sampled_loss_gradients():
    def nce(x, w):
        return tf.nn.nce_loss(w, tf.constant(B), tf.constant(LABELS), x, 3, 7, num_true=2,
                              sampled_values=_given())

    def softmax(x, w):
        return tf.nn.sampled_softmax_loss(w, tf.constant(B), tf.constant(LABELS), x, 3, 7,
                                          num_true=2, sampled_values=_given(),
                                          remove_accidental_hits=False)

    check_gradient(nce, X, W)
    check_gradient(softmax, X, W)


def _word2vec(engine: str, steps: int) -> list[float]:
    """TensorFlow-Examples' word2vec.py, shrunk: skip-gram pairs of a tiny vocabulary."""
    vocabulary_size, embedding_size, num_sampled, batch = 12, 4, 3, 8
    with tf.Graph().as_default():
        tf.set_random_seed(42)
        train_inputs = tf.placeholder(tf.int32, shape=[None])
        train_labels = tf.placeholder(tf.int32, shape=[None, 1])
        embedding = tf.Variable(tf.random_normal([vocabulary_size, embedding_size]))
        embed = tf.nn.embedding_lookup(embedding, train_inputs)
        nce_weights = tf.Variable(tf.random_normal([vocabulary_size, embedding_size]))
        nce_biases = tf.Variable(tf.zeros([vocabulary_size]))
        loss_op = tf.reduce_mean(tf.nn.nce_loss(
            weights=nce_weights, biases=nce_biases, labels=train_labels, inputs=embed,
            num_sampled=num_sampled, num_classes=vocabulary_size))
        train_op = tf.train.GradientDescentOptimizer(0.5).minimize(loss_op)
        words = np.arange(batch) % vocabulary_size
        feed = {train_inputs: words, train_labels: ((words + 1) % vocabulary_size)[:, None]}
        with session(engine) as sess:
            sess.run(tf.global_variables_initializer())
            return [float(sess.run([train_op, loss_op], feed)[1]) for _ in range(steps)]


def test_word2vec_trains_with_equal_losses_in_both_engines():
    compiled, reference = (_word2vec(engine, 20) for engine in ENGINES)
    np.testing.assert_allclose(compiled, reference, rtol=1e-4)
    assert np.mean(compiled[-5:]) < np.mean(compiled[:5])
