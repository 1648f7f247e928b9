"""Cases for CandidateSampler, as far as one run can check random candidates: without
`unique`, uniform candidates are in range and the expected counts are p * num_sampled;
with `unique` and num_sampled == range_max, the candidates are every class once.
tests/graphjit/test_sampled_losses.py checks distributions and tries."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from tests.graphjit.cases.base import Case, uniform


def _uniform_not_unique(classes):
    sampled, true_expected, sampled_expected = tf.nn.uniform_candidate_sampler(
        classes, num_true=2, num_sampled=3, unique=False, range_max=5, seed=3)
    in_range = tf.logical_and(sampled >= 0, sampled < 5)
    return [in_range, true_expected, sampled_expected]


def _log_uniform_every_class(classes):
    sampled, _, _ = tf.nn.log_uniform_candidate_sampler(
        classes, num_true=2, num_sampled=6, unique=True, range_max=6, seed=3)
    return tf.sort(sampled)


CASES = [
    Case("uniform_candidate_sampler", _uniform_not_unique,
         lambda c: [np.ones(3, bool), np.full(c.shape, 0.6, np.float32),
                    np.full(3, 0.6, np.float32)],
         default_shapes=((4, 2),), dtypes=("int64",), inputs=uniform(0, 4)),
    Case("log_uniform_candidate_sampler_unique", _log_uniform_every_class,
         lambda c: np.arange(6), default_shapes=((3, 2),), dtypes=("int64",),
         inputs=uniform(0, 5)),
]
