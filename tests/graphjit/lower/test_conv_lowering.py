"""Convolution lowering: the per-image or whole-batch GEMM choice, pointwise convs as a
lone GEMM (the BLAS path of a plan's first calls, packed_matmul.blas_first), and
compiled convolution-bias-relu-pool stacks against the reference interpreter in both
regimes, with strides, padding, dilation and batches of 1 and 3."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from codegen.loopir import ExternCall
from graphjit.interpreter import evaluate
from graphjit.lower.conv_lowering import per_image_gemm
from graphjit.lower.packed_matmul import blas_first
from graphjit.lower.program import lower
from runtime.plan import EXTERN

RNG = np.random.default_rng(0)


def test_per_image_gemm_when_an_image_has_more_cells_than_the_filter_rows():
    assert per_image_gemm((32, 28, 28, 3, 3, 1))  # 784 cells, depth 9
    assert per_image_gemm((1, 3, 3, 3, 3, 1))  # 9 cells, depth 9
    assert not per_image_gemm((32, 7, 7, 3, 3, 32))  # 49 cells, depth 288
    assert not per_image_gemm((4, 1, 1, 1, 1, 8))


def _gemm_output_rank(y, x, shape) -> int:
    with blas_first():
        program = lower([y], [x], [shape])
    (call,) = [s for k in program.kernels for s in k.body if isinstance(s, ExternCall)]
    return len(call.out.shape)


def test_pointwise_conv_is_one_gemm_on_its_input():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4, 5, 3], name="x")
        f = tf.constant(np.ones((1, 1, 3, 6), np.float32))
        y = tf.nn.conv2d(x, f, [1, 1, 1, 1], "SAME", name="c")
    with blas_first():
        program = lower([y], [x], [(2, 4, 5, 3)])
    (gemm,) = program.steps
    assert gemm.kind == EXTERN and gemm.inputs[0] == program.input_slots[0]


# (input HWC, filter (kh, kw, cin, cout), strides, padding, dilations, GEMM output rank)
CASES = [
    ((6, 5, 2), (3, 3, 2, 4), 1, "SAME", 1, 3),  # 30 cells >= depth 18: per image
    ((7, 7, 1), (3, 2, 1, 3), 2, "VALID", 1, 3),
    ((7, 6, 2), (2, 2, 2, 3), 1, "SAME", 2, 3),
    ((5, 5, 4), (3, 3, 4, 2), 2, "SAME", 1, 2),  # 9 cells < depth 36: one GEMM
    ((4, 4, 3), (3, 3, 3, 5), 1, "VALID", 1, 2),
    ((4, 5, 3), (1, 1, 3, 6), 1, "SAME", 1, 3),  # pointwise: the GEMM reads x itself
    ((5, 5, 3), (1, 1, 3, 4), 2, "VALID", 1, 3),  # strided 1x1: im2col subsamples
]


@pytest.mark.parametrize("hwc, fshape, stride, padding, dilation, rank", CASES)
def test_compiled_conv_bias_relu_pool_matches_the_interpreter(hwc, fshape, stride, padding,
                                                               dilation, rank):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, *hwc], name="x")
        f = tf.constant(RNG.standard_normal(fshape).astype(np.float32))
        b = tf.constant(RNG.standard_normal(fshape[-1]).astype(np.float32))
        conv = tf.nn.conv2d(x, f, [1, stride, stride, 1], padding,
                            dilations=[1, dilation, dilation, 1])
        y = tf.nn.max_pool(tf.nn.relu(conv + b), [1, 2, 2, 1], [1, 1, 1, 1], "SAME")
    assert _gemm_output_rank(conv, x, (2, *hwc)) == rank
    fn = tf.compile(g, fetches=[y, conv])
    for batch in (1, 3):
        feed = RNG.standard_normal((batch, *hwc)).astype(np.float32)
        for got, want in zip(fn(feed), evaluate([y, conv], {x: feed})):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
