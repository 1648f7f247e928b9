"""attention_heads: head projections become batched MatMuls by stacked weight blocks;
checked by structure, against the interpreter, and compiled."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from tests.graphjit.passes.util import assert_same_values, op_types, optimize_and_compare

SEQ, WIDTH, HEADS, HEAD = 5, 6, 3, 7  # odd sizes: heads*head != width
RNG = np.random.default_rng(0)
WEIGHTS = [RNG.standard_normal((WIDTH, HEADS * HEAD)).astype(np.float32) for _ in range(3)]


def _heads(x, w, perm):
    projected = tf.matmul(x, tf.constant(w))
    lead = [-1] if x.shape.ndims == 3 else []
    return tf.transpose(tf.reshape(projected, lead + [SEQ, HEADS, HEAD]), perm)


def _attention(batched: bool = True):
    """(graph, x, [scores, context]) of one attention over x [batch?, SEQ, WIDTH]."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, ([None] if batched else []) + [SEQ, WIDTH], name="x")
        lead = [0] if batched else []
        shift = len(lead)
        q = _heads(x, WEIGHTS[0], lead + [1 + shift, shift, 2 + shift])
        k_t = _heads(x, WEIGHTS[1], lead + [1 + shift, 2 + shift, shift])
        v = _heads(x, WEIGHTS[2], lead + [1 + shift, shift, 2 + shift])
        scores = tf.nn.softmax(tf.matmul(q, k_t) * (1.0 / np.sqrt(HEAD)))
        context = tf.matmul(scores, v)
    return g, x, [scores, context]


def _feed(batch: int | None) -> np.ndarray:
    shape = ([batch] if batch is not None else []) + [SEQ, WIDTH]
    return np.random.default_rng(batch or 0).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("batched", [True, False])
def test_heads_are_projected_in_place(batched):
    g, x, fetches = _attention(batched)
    new, report = optimize_and_compare(g, fetches, {x: _feed(3 if batched else None)})
    assert op_types(new)["Transpose"] == 0
    assert op_types(new)["MatMul"] == 5  # three projections, QK^T, scores @ V
    assert sum(r.rewrites["project heads in place"] for r in report.runs) == 3


@pytest.fixture(scope="module")
def compiled_attention():
    g, x, fetches = _attention()
    return g, x, fetches, tf.compile(g, fetches)


@pytest.mark.parametrize("batch", [1, 3])
def test_compiled_matches_interpreter(compiled_attention, batch):
    g, x, fetches, fn = compiled_attention
    feed = _feed(batch)
    for want, got in zip(evaluate(fetches, {x: feed}), fn(feed)):
        assert_same_values(want, got, "attention")


def test_projection_read_elsewhere_is_kept():
    """The MatMul or the Reshape feeding another op: its value must stay, no rewrite."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, SEQ, WIDTH], name="x")
        projected = tf.matmul(x, tf.constant(WEIGHTS[0]))  # read by the product below
        q = tf.transpose(tf.reshape(projected, [-1, SEQ, HEADS, HEAD]), [0, 2, 1, 3])
        split = tf.reshape(tf.matmul(x, tf.constant(WEIGHTS[1])), [-1, SEQ, HEADS, HEAD])
        k = tf.transpose(split, [0, 2, 1, 3])  # split also read by the sum below
        fetches = [q, projected * 2.0, k, split + 1.0]
    new, report = optimize_and_compare(g, fetches, {x: _feed(3)})
    assert op_types(new)["Transpose"] == 2
    assert sum(r.rewrites["project heads in place"] for r in report.runs) == 0


def test_other_permutations_and_variable_weights_are_kept():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, SEQ, WIDTH], name="x")
        w = tf.placeholder(tf.float32, [WIDTH, HEADS * HEAD], name="w")
        fed = tf.transpose(tf.reshape(tf.matmul(x, w), [-1, SEQ, HEADS, HEAD]), [0, 2, 1, 3])
        swapped = tf.transpose(tf.reshape(tf.matmul(x, tf.constant(WEIGHTS[0])),
                                          [-1, SEQ, HEADS, HEAD]), [0, 1, 3, 2])
    new, report = optimize_and_compare(g, [fed, swapped], {x: _feed(3), w: WEIGHTS[1]})
    assert op_types(new)["Transpose"] == 2
    assert sum(r.rewrites["project heads in place"] for r in report.runs) == 0


def test_swapped_operands_fold_into_transpose_flags():
    """Only a swap of the last two axes folds; a Transpose read elsewhere stays for them."""
    g = tf.Graph()
    with g.as_default():
        a = tf.placeholder(tf.float32, [None, 3, 4, 5], name="a")
        b = tf.placeholder(tf.float32, [3, 6, 4], name="b")
        a_t = tf.transpose(a, [0, 1, 3, 2])
        both = tf.matmul(a_t, tf.transpose(b, [0, 2, 1]))  # [.., 3, 5, 6]
        kept = tf.matmul(tf.transpose(a, [1, 0, 3, 2]), tf.constant(WEIGHTS[0][:4]))
        fetches = [both, kept, a_t * 2.0]
    rng = np.random.default_rng(1)
    feeds = {a: rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
             b: rng.standard_normal((3, 6, 4)).astype(np.float32)}
    new, report = optimize_and_compare(g, fetches, feeds)
    folded = sum(r.rewrites["transpose read by the MatMul"] for r in report.runs)
    assert folded == 1 and op_types(new)["Transpose"] == 2  # a_t (read twice) and kept's
    matmul = next(op for op in new.get_operations() if op.type == "MatMul"
                  and op.attrs["transpose_a"])
    assert matmul.attrs["transpose_b"]
