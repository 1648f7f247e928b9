"""The graph TF1 tutorials hand to `tf.summary.FileWriter(logdir, sess.graph)` may hold
placeholders made without a shape (`tf.placeholder("float")` for a keep probability):
their GraphDef shape is TF's unknown rank, and the graph still runs in both engines."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.tf1_ops_check import ENGINES, run

pytest.importorskip("tensorboard")


def test_unknown_rank_placeholder_in_graph_def(graph):
    keep = tf.placeholder("float", name="keep")
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    tf.multiply(x, keep, name="out")
    nodes = {n.name: n for n in graph.as_graph_def(add_shapes=True).node}
    assert nodes["keep"].attr["shape"].shape.unknown_rank
    assert nodes["keep"].attr["_output_shapes"].list.shape[0].unknown_rank
    assert [d.size for d in nodes["x"].attr["shape"].shape.dim] == [-1, 3]
    assert not nodes["x"].attr["shape"].shape.unknown_rank


@pytest.mark.parametrize("engine", ENGINES)
def test_file_writer_takes_a_graph_with_unknown_ranks(graph, engine, tmp_path):
    keep = tf.placeholder("float")
    x = tf.placeholder(tf.float32, [None, 3])
    out = x * keep
    with tf.Session(engine=engine) as sess:
        writer = tf.summary.FileWriter(str(tmp_path), sess.graph)
        got = sess.run(out, {x: np.ones((2, 3), np.float32), keep: 0.5})
        writer.close()
    np.testing.assert_array_equal(got, np.full((2, 3), 0.5, np.float32))
    assert list(tmp_path.iterdir())
    np.testing.assert_array_equal(run(engine, out, {x: np.ones((1, 3)), keep: 2.0}),
                                  [[2.0, 2.0, 2.0]])
