"""graphjit.lower.program on its own: lower() makes loop-IR kernels, views, host steps and
slots for concrete feed shapes, and compiles nothing (the planner does that)."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from codegen import numba_backend
from codegen.loopir import verify
from graphjit.lower.packed_matmul import blas_first
from graphjit.lower.program import lower
from runtime.plan import EXTERN, HOST, KERNEL, VIEW


@pytest.fixture
def no_compiling(monkeypatch):
    def refuse(kernel):
        raise AssertionError(f"lowering compiled {kernel.name}")
    monkeypatch.setattr(numba_backend, "compile_kernel", refuse)


def test_lowering_a_fused_chain_gives_one_verified_kernel(no_compiling):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.reshape(tf.exp(x) * 2.0 + 1.0, [-1])
    program = lower([y], [x], [(4, 3)])
    assert [s.kind for s in program.steps] == [KERNEL, VIEW]
    (kernel,) = program.kernels
    verify(kernel)
    assert program.slots[program.input_slots[0]].shape == (4, 3)
    assert program.slots[program.fetch_slots[0]].shape == (12,)
    assert program.summary == "the plan computing 'Reshape:0' from x:0 float32[4,3]"


def test_conv_lowers_to_im2col_and_a_gemm_over_a_columns_buffer(no_compiling):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2, 5, 5, 3], name="x")
        f = tf.constant(np.ones((3, 3, 3, 4), np.float32))
        y = tf.nn.conv2d(x, f, [1, 1, 1, 1], "SAME", name="c")
    with blas_first():  # (a plan's first calls; then graphjit.lower.conv_tile)
        program = lower([y], [x], [(2, 5, 5, 3)])
    im2col, gemm = program.steps
    assert (im2col.kind, gemm.kind) == (KERNEL, EXTERN)
    assert im2col.name == "im2col_c" and gemm.name == "gemm_c"
    cols = im2col.outputs[0]
    assert gemm.inputs[0] == cols and program.slots[cols].shape == (2, 5, 5, 3, 3, 3)
    assert program.slots[cols].role == "buffer"


def test_host_steps_name_registered_host_kernels(no_compiling):
    with tf.Graph().as_default():
        h = tf.placeholder(tf.float16, [None], name="h")
        p = tf.placeholder(tf.float32, [None], name="p")
        i = tf.placeholder(tf.int32, [None], name="i")
        y, g = tf.sqrt(h), tf.gather(p + 1.0, i, name="g")
    program = lower([y, g], [h, p, i], [(3,), (5,), (2,)])
    hosts = [s for s in program.steps if s.kind == HOST]
    assert [(s.host.kernel, s.listed) for s in hosts] == [
        ("reference", True), ("check_gather_indices", False)]
    assert hosts[0].host.attrs["op_type"] == "Sqrt"
    assert hosts[1].host.attrs["n"] == 5
