"""A channel bias add and a relu after MaxPool/AvgPool run inside the pooling kernel
(graphjit.lower.pool_epilogue): which graphs get one step, which keep the add and relu
apart, and compiled results against the reference interpreter either way."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower.program import lower

RNG = np.random.default_rng(0)
HWC = (5, 6, 3)


def _pool(x, kind: str, padding: str):
    if kind == "max":
        return tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], padding)
    return tf.nn.avg_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], padding)


def _graph(kind="max", padding="SAME", bias="channel", relu=True, dtype=np.float32,
           fetch_pool=False):
    """x -> pool -> (+ bias) -> (relu); the fetched tensors and the pool's output."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.as_dtype(dtype), [None, *HWC], name="x")
        p = _pool(x, kind, padding)
        y = p
        if bias is not None:
            if bias == "fed":
                y = y + tf.placeholder(tf.as_dtype(dtype), [3], name="b")
            else:
                shape = {"channel": (3,), "scalar": (), "nhwc": (1, 1, 1, 3),
                         "width": (3, 1)}[bias]  # (width: pooled width 3, not channels)
                y = y + tf.constant(RNG.standard_normal(shape).astype(dtype))
        if relu:
            y = tf.nn.relu(y)
    fetches = [y, p] if fetch_pool else [y]
    return g, x, fetches


def _pool_steps(fetches, x):
    program = lower(fetches, [x], [(2, *HWC)])
    return [s for s in program.steps if any("pool" in n.lower() for n in s.ops)]


def _check(g, x, fetches, dtype=np.float32):
    fn = tf.compile(g, fetches=fetches)
    for batch in (1, 3):
        feed = RNG.standard_normal((batch, *HWC)).astype(dtype)
        got = fn(feed)
        got = got if isinstance(got, (list, tuple)) else [got]
        for g_, w in zip(got, evaluate(fetches, {x: feed})):
            np.testing.assert_allclose(g_, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind, padding, bias, relu", [
    ("max", "SAME", "channel", True),
    ("max", "VALID", "scalar", True),
    ("avg", "SAME", "nhwc", True),
    ("avg", "VALID", "channel", False),
    ("max", "SAME", None, True),
])
def test_bias_and_relu_join_the_pool_kernel(kind, padding, bias, relu):
    g, x, fetches = _graph(kind, padding, bias, relu)
    (step,) = _pool_steps(fetches, x)
    assert len(step.ops) == 1 + (bias is not None) + relu  # the pool, add, relu: one kernel
    _check(g, x, fetches)


def test_a_fetched_pool_output_is_stored_beside_the_relu():
    g, x, fetches = _graph(fetch_pool=False)
    (step,) = _pool_steps(fetches, x)
    assert len(step.outputs) == 1
    g, x, fetches = _graph(fetch_pool=True)
    (step,) = _pool_steps(fetches, x)
    assert len(step.ops) == 3 and len(step.outputs) == 2
    _check(g, x, fetches)


def test_float64_pool_takes_its_epilogue():
    g, x, fetches = _graph(dtype=np.float64)
    (step,) = _pool_steps(fetches, x)
    assert len(step.ops) == 3
    _check(g, x, fetches, np.float64)


@pytest.mark.parametrize("bias", ["width", "fed"])
def test_a_bias_not_per_channel_or_not_constant_stays_apart(bias):
    g, x, fetches = _graph(bias=bias)
    if bias == "fed":
        b = g.get_tensor_by_name("b:0")
        program = lower(fetches, [x, b], [(2, *HWC), (3,)])
        (step,) = [s for s in program.steps if any("pool" in n.lower() for n in s.ops)]
        assert len(step.ops) == 1
        fn = tf.compile(g, fetches=fetches)
        feed = RNG.standard_normal((2, *HWC)).astype(np.float32)
        bias_value = RNG.standard_normal(3).astype(np.float32)
        np.testing.assert_allclose(fn(x=feed, b=bias_value)[0], evaluate(fetches, {
            x: feed, b: bias_value})[0], rtol=1e-5, atol=1e-6)
        return
    (step,) = _pool_steps(fetches, x)
    assert len(step.ops) == 1
    _check(g, x, fetches)


def test_a_pool_output_read_twice_keeps_its_readers_apart():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, *HWC], name="x")
        p = _pool(x, "max", "SAME")
        y = tf.nn.relu(p + tf.constant(np.ones(3, np.float32))) * p
    (step,) = _pool_steps([y], x)
    assert len(step.ops) == 1
    _check(g, x, [y])
