"""Lowered kernels against codegen.vplan_budget: the common fused kernels compile as
before (under the budget), the fuzz reproducers whose compile never finished do not."""

from __future__ import annotations

import pytest

import graphjit as tf
from codegen.vplan_budget import needs_single_interleave
from graphjit.lower.program import lower

COMMON = {
    "gelu_tanh": lambda x: 0.5 * x * (1 + tf.tanh(0.7978845608 * (x + 0.044715 * x ** 3))),
    "gelu_erf": lambda x: 0.5 * x * (1 + tf.erf(x * 0.7071067811865476)),
    "softmax": tf.nn.softmax,
    "log_softmax": tf.nn.log_softmax,
    "silu": lambda x: x * tf.nn.sigmoid(x),
    "mish": lambda x: x * tf.tanh(tf.log1p(tf.exp(x))),  # a chain, but on varying values
    "softplus": tf.nn.softplus,
    "layer_norm": lambda x: tf.nn.batch_normalization(
        x, *tf.nn.moments(x, [1], keepdims=True), None, None, 1e-5),
}


def kernels(fetches, feeds, shapes):
    return lower(fetches, feeds, shapes).kernels


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("name", sorted(COMMON))
def test_common_kernels_compile_as_before(name, dtype):
    with tf.Graph().as_default():
        x = tf.placeholder(dtype, [None, 32])
        found = kernels([COMMON[name](x)], [x], [(16, 32)])
    assert found
    assert not any(needs_single_interleave(k) for k in found)


def test_the_fuzz_reproducers_are_guarded():
    with tf.Graph().as_default():  # fuzz seed 109, graph 1140: a gather of one element
        x = tf.placeholder(tf.float32, [None])
        s = tf.nn.sigmoid(tf.gather(x, [[0], [0], [0]], axis=0))
        found = kernels([s, tf.erf(tf.sin(s))], [x], [(1,)])
    assert any(needs_single_interleave(k) for k in found)
    with tf.Graph().as_default():  # seed 107, graph 414: stacked on the last axis
        i = tf.placeholder(tf.int64, [1, None])
        t = tf.stack([i, i], axis=2)
        t = tf.nn.sigmoid(t / (tf.abs(t) + 1))
        found = kernels([t, tf.nn.softplus(t)], [i], [(1, 2)])
    assert any(needs_single_interleave(k) for k in found)
