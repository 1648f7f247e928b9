"""tf.summary (issue #13 item 4, issue #14's event files): a TF1 training loop logs
scalars and histograms through FileWriter, and the event file read back, its framing
and CRCs checked here, holds the steps, tags and values the program computed, in both
engines. Also: TF1's tag rules, run-time errors naming the op, and summary ops without
the tensorboard extra."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.cases.summary import expected_histogram, expected_scalar, tf_histogram
from tests.graphjit.error_check import assert_points_here, caller_line
from tests.graphjit.event_files import event_files, masked_crc32c, read_events, read_records

ENGINES = ["compiled", "reference"]
RNG = np.random.default_rng(7)
X = RNG.standard_normal((16, 3)).astype(np.float32)
Y = (X @ np.array([[1.5], [-2.0], [0.5]], np.float32) + 0.25).astype(np.float32)
STEPS = 6


def _training_graph():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.float32, [None, 1], name="y")
        w = tf.Variable(np.zeros((3, 1), np.float32), name="w")
        b = tf.Variable(0.0, name="b")
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y), name="mse")
        train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        tf.summary.scalar("loss", loss)
        tf.summary.histogram("weights", w)
        with tf.name_scope("params"):
            tf.summary.scalar("bias", b)
        merged = tf.summary.merge_all()
    return graph, x, y, w, b, loss, train_op, merged


def _train(engine, logdir):
    """The TF1 loop; returns what the program computed at each step."""
    graph, x, y, w, b, loss, train_op, merged = _training_graph()
    computed = []
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        writer = tf.summary.FileWriter(logdir, sess.graph)
        for step in range(STEPS):
            # (reads in a run see the values from before its updates, so the
            # summaries describe the same w and b as the fetched ones)
            s, loss_v, w_v, b_v, _ = sess.run([merged, loss, w, b, train_op], {x: X, y: Y})
            writer.add_summary(s, step)
            computed.append((loss_v, w_v, b_v))
        writer.close()
    return computed


@pytest.mark.parametrize("engine", ENGINES)
def test_training_loop_writes_an_event_file_tensorboard_reads(engine, tmp_path):
    pytest.importorskip("tensorboard")
    computed = _train(engine, str(tmp_path))
    assert computed[-1][0] < computed[0][0] / 2  # it trained
    events = read_events(str(tmp_path))  # (the framing and every CRC asserted)
    assert events[0].file_version == "brain.Event:2"
    graph_events = [e for e in events if e.HasField("graph_def")]
    summaries = [e for e in events if e.HasField("summary")]
    assert len(graph_events) == 1
    assert [e.step for e in summaries] == list(range(STEPS))
    for event, (loss_v, w_v, b_v) in zip(summaries, computed):
        values = {v.tag: v for v in event.summary.value}
        assert sorted(values) == ["loss", "params/bias", "weights"]
        assert values["loss"].simple_value == np.float32(loss_v)
        assert values["params/bias"].simple_value == np.float32(b_v)
        histo, expected = values["weights"].histo, tf_histogram(w_v)
        assert (histo.min, histo.max, histo.num) == (w_v.min(), w_v.max(), 3)
        assert histo.sum == pytest.approx(float(w_v.sum()), rel=1e-12, abs=1e-12)
        assert histo.sum_squares == pytest.approx(float((w_v.astype(np.float64) ** 2).sum()))
        assert list(histo.bucket_limit) == expected["bucket_limit"]
        assert list(histo.bucket) == expected["bucket"] and sum(histo.bucket) == 3
        assert event.wall_time > 0

    # TensorBoard's own reader sees the same run
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["loss", "params/bias"]
    assert acc.Tags()["histograms"] == ["weights"] and acc.Tags()["graph"]
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [
        (i, float(np.float32(c[0]))) for i, c in enumerate(computed)]
    assert [h.histogram_value.num for h in acc.Histograms("weights")] == [3] * STEPS


def test_graph_event_holds_every_op_with_inputs_and_shapes(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import graph_pb2
    graph, *_ = _training_graph()
    with tf.summary.FileWriter(str(tmp_path), graph=graph):
        pass
    (event,) = [e for e in read_events(str(tmp_path)) if e.HasField("graph_def")]
    nodes = {n.name: n for n in graph_pb2.GraphDef.FromString(event.graph_def).node}
    assert set(nodes) == {op.name for op in graph.get_operations()}
    for op in graph.get_operations():
        node = nodes[op.name]
        assert node.op == op.type
        assert list(node.input) == [t.op.name if t.value_index == 0 else t.name
                                    for t in op.inputs] + [f"^{c.name}"
                                                           for c in op.control_inputs]
    shapes = nodes["x"].attr["_output_shapes"].list.shape[0].dim
    assert [d.size for d in shapes] == [-1, 3]
    assert nodes["x"].attr["dtype"].type == 1  # DT_FLOAT
    assert nodes["weights"].attr["tag"].s == b"weights"


@pytest.mark.parametrize("engine", ENGINES)
def test_summary_bytes_are_protobuf_canonical_serializations(engine):
    """Parsed by protobuf and serialized again, each value gives the same bytes."""
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import summary_pb2
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        fetches = [tf.summary.scalar("s", tf.reduce_sum(x)), tf.summary.histogram("h", x),
                   tf.summary.histogram("zeros", x * 0.0), tf.summary.merge_all()]
        with tf.Session(engine=engine) as sess:
            for value in ([], [0.0], [-0.0, 2.5, -1e30, 1e-13, 7.0], RNG.standard_normal(50)):
                for data in sess.run(fetches, {x: value}):
                    assert summary_pb2.Summary.FromString(data).SerializeToString() == data


@pytest.mark.parametrize("engine", ENGINES)
def test_summary_ops_run_without_tensorboard(engine, monkeypatch):
    """The ops write their protobufs themselves: only FileWriter needs the extra."""
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with tf.Graph().as_default():
        v = tf.placeholder(tf.float32, [2, 2], name="v")
        merged = tf.summary.merge([tf.summary.scalar("first", v[0, 0]),
                                   tf.summary.histogram("all", v)])
        value = np.array([[1.5, -2.0], [0.0, 3e25]], np.float32)
        with tf.Session(engine=engine) as sess:
            assert sess.run(merged, {v: value}) == (expected_scalar("first", 1.5)
                                                    + expected_histogram("all", value))
        with pytest.raises(tf.MissingDependencyError) as info:
            line = caller_line() + 1
            tf.summary.FileWriter("unused")
    assert isinstance(info.value, tf.Error) and isinstance(info.value, ImportError)
    assert_points_here(info, "tf.summary.FileWriter", "pip install 'graphjit[tensorboard]'",
                       line=line)


def test_tags_follow_tf1_summary_scopes():
    with tf.Graph().as_default() as graph:
        x = tf.constant(1.0)
        tags = [tf.summary.scalar("loss", x), tf.summary.scalar("loss", x)]
        with tf.name_scope("train"):
            tags.append(tf.summary.scalar("loss", x))
        tags.append(tf.summary.histogram("a b:c", x))
        tags.append(tf.summary.scalar("acc", x, family="eval"))
        tags.append(tf.summary.scalar("kept apart", x, collections=["mine"]))
        assert [t.op.get_attr("tag") for t in tags] == [
            "loss", "loss_1", "train/loss", "a_b_c", "eval/eval/acc", "kept_apart"]
        assert [t.op.name for t in tags[:3]] == ["loss", "loss_1", "train/loss"]
        assert graph.get_collection(tf.GraphKeys.SUMMARIES) == tags[:5]
        assert graph.get_collection("mine") == [tags[5]]
        assert tf.summary.merge_all(key="nothing") is None
        merged = tf.summary.merge_all()
        assert merged.op.name == "Merge/MergeSummary" and merged.dtype == tf.string
        assert merged.shape == () and list(merged.op.inputs) == tags[:5]
        assert [t.op.name for t in tf.summary.merge_all(scope="train").op.inputs] == [
            "train/loss"]
        assert tf.summary.merge_all(name="m").op.name == "m/m"  # (as TF1 names it)
        with tf.Session() as sess:
            assert sess.run(tags[0]) == expected_scalar("loss", 1.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_nan_in_a_histogram_fails_the_run_naming_the_op(engine):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        line = caller_line() + 1
        h = tf.summary.histogram("h", tf.log(x))
        with tf.Session(engine=engine) as sess:
            assert sess.run(h, {x: [1.0]}) == expected_histogram("h", np.zeros(1))
            with pytest.raises(tf.InvalidArgumentError) as info:
                sess.run(h, {x: [1.0, 0.0]})
    assert_points_here(info, "HistogramSummary 'h'", "NaN or infinity", line=line)


@pytest.mark.parametrize("engine", ENGINES)
def test_merging_a_tag_twice_or_a_non_summary_fails_the_run(engine):
    with tf.Graph().as_default():
        s = tf.summary.scalar("twice", 1.0)
        line = caller_line() + 1
        twice = tf.summary.merge([s, s])
        junk = tf.placeholder(tf.string, [None], name="junk")
        merged_junk = tf.summary.merge([s, junk])
        with tf.Session(engine=engine) as sess:
            with pytest.raises(tf.InvalidArgumentError) as info:
                sess.run(twice)
            assert_points_here(info, "MergeSummary", "'twice' is in two", line=line)
            with pytest.raises(tf.InvalidArgumentError, match="not a serialized Summary"):
                sess.run(merged_junk, {junk: [b"\x0a\x05ab"]})
            # summaries fed as strings merge like computed ones
            merged = sess.run(merged_junk, {junk: [expected_scalar("other", 2.0)]})
            assert merged == expected_scalar("twice", 1.0) + expected_scalar("other", 2.0)


def test_file_writer_methods(tmp_path):
    pytest.importorskip("tensorboard")
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        fn = tf.compile(tf.summary.scalar("value", x), feeds=[x])
    logdir = str(tmp_path / "run")
    writer = tf.summary.FileWriter(logdir, flush_secs=1000)
    assert writer.get_logdir() == logdir
    writer.add_summary(fn(np.float32(3.0)), global_step=np.int64(7))
    hand_made = tf.summary.Summary(value=[tf.summary.Summary.Value(tag="h", simple_value=2.0)])
    writer.add_summary(hand_made)
    writer.flush()  # written, though not closed
    assert len(read_records(event_files(logdir)[0])) == 3
    with pytest.raises(tf.InvalidArgumentError, match="not a serialized Summary"):
        writer.add_summary(b"\xff\xff")
    with pytest.raises(tf.InvalidArgumentError, match="fetch the summary op"):
        writer.add_summary(tf.summary.scalar("not_run", 1.0))
    writer.close()
    writer.close()  # closing twice is harmless
    with pytest.raises(tf.FailedPreconditionError, match="closed"):
        writer.add_summary(fn(np.float32(1.0)))
    events = read_events(logdir)
    assert [(e.step, [(v.tag, v.simple_value) for v in e.summary.value]) for e in events[1:]] \
        == [(7, [("value", 3.0)]), (0, [("h", 2.0)])]
    writer.reopen()  # a second event file in the same logdir
    writer.add_summary(fn(np.float32(5.0)), 8)
    writer.close()
    assert len(event_files(logdir)) == 2
    with pytest.raises(tf.InvalidArgumentError, match="logdir must be a path"):
        tf.summary.FileWriter(None)


def test_crc32c_matches_the_castagnoli_check_value():
    from tests.graphjit.event_files import crc32c
    assert crc32c(b"123456789") == 0xE3069283
    assert masked_crc32c(b"") == 0xA282EAD8
