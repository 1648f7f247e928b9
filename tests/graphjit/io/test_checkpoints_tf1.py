"""Checkpoints as TF1 programs use them: Saver.save returns TF's prefix, the "checkpoint"
state file lists the checkpoints kept (max_to_keep deletes older files), and
get_checkpoint_state / latest_checkpoint / checkpoint_exists find them again, in both
engines."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphjit as tf

ENGINES = ["reference", "compiled"]


def _counter_graph():
    """A variable w and a global step, an op that moves both: (graph, parts)."""
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.arange(3, dtype=np.float32), name="w")
        step = tf.train.get_or_create_global_step()
        train = tf.group(tf.assign_add(w, tf.ones([3])), tf.assign_add(step, 1))
        init = tf.global_variables_initializer()
    return graph, {"w": w, "step": step, "train": train, "init": init}


def _session(graph, engine):
    return tf.Session(graph=graph, engine=engine)


def _state_lines(directory, name="checkpoint") -> list[str]:
    with open(os.path.join(directory, name)) as f:
        return f.read().splitlines()


@pytest.mark.parametrize("engine", ENGINES)
def test_tf1_training_loop_saves_and_resumes_from_the_latest(tmp_path, engine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    graph, t = _counter_graph()
    with graph.as_default():
        saver = tf.train.Saver(max_to_keep=2)
    with _session(graph, engine) as sess:
        sess.run(t["init"])
        paths = []
        for _ in range(3):
            sess.run(t["train"])
            paths.append(saver.save(sess, "./model.ckpt", global_step=t["step"]))
        final_w = sess.run(t["w"])
    assert paths == ["./model.ckpt-1", "./model.ckpt-2", "./model.ckpt-3"]
    assert _state_lines(".") == ['model_checkpoint_path: "model.ckpt-3"',
                                 'all_model_checkpoint_paths: "model.ckpt-2"',
                                 'all_model_checkpoint_paths: "model.ckpt-3"']
    # max_to_keep=2: the first checkpoint's file is gone
    assert sorted(p.name for p in tmp_path.glob("model.ckpt*")) == [
        "model.ckpt-2.npz", "model.ckpt-3.npz"]
    assert not tf.train.checkpoint_exists("./model.ckpt-1")
    assert tf.train.checkpoint_exists("./model.ckpt-3") is True

    # A new program: restore as TF1 code does it.
    with _session(graph, engine) as sess:
        sess.run(t["init"])
        ckpt = tf.train.get_checkpoint_state("./")
        assert ckpt and ckpt.model_checkpoint_path
        assert ckpt.model_checkpoint_path == os.path.join("./", "model.ckpt-3")
        assert ckpt.all_model_checkpoint_paths == ["./model.ckpt-2", "./model.ckpt-3"]
        saver.restore(sess, ckpt.model_checkpoint_path)
        np.testing.assert_array_equal(sess.run(t["w"]), final_w)
        assert sess.run(t["step"]) == 3
        assert tf.train.latest_checkpoint(".") == "./model.ckpt-3"
        saver.restore(sess, paths[1])  # an older prefix
        np.testing.assert_array_equal(sess.run(t["w"]), np.arange(3) + 2)


def test_absolute_directory_writes_absolute_paths(tmp_path):
    graph, t = _counter_graph()
    with graph.as_default():
        saver = tf.train.Saver()
    with _session(graph, "reference") as sess:
        sess.run(t["init"])
        prefix = saver.save(sess, str(tmp_path / "ck" / "model.ckpt"), global_step=1000)
    assert prefix == str(tmp_path / "ck" / "model.ckpt-1000")
    assert (tmp_path / "ck" / "model.ckpt-1000.npz").is_file()
    assert _state_lines(tmp_path / "ck")[0] == f'model_checkpoint_path: "{prefix}"'
    assert tf.train.latest_checkpoint(tmp_path / "ck") == prefix
    state = tf.train.get_checkpoint_state(str(tmp_path / "ck"))
    assert state.all_model_checkpoint_paths == [prefix]


def test_save_relative_paths_and_pad_step_number(tmp_path):
    graph, t = _counter_graph()
    with graph.as_default():
        saver = tf.train.Saver(save_relative_paths=True, pad_step_number=True, sharded=True,
                               keep_checkpoint_every_n_hours=2.0, reshape=False)
    with _session(graph, "reference") as sess:
        sess.run(t["init"])
        prefix = saver.save(sess, str(tmp_path / "model"), global_step=7,
                            write_meta_graph=False)
    assert prefix == str(tmp_path / "model-00000007")
    assert _state_lines(tmp_path) == ['model_checkpoint_path: "model-00000007"',
                                      'all_model_checkpoint_paths: "model-00000007"']
    assert tf.train.latest_checkpoint(tmp_path) == prefix


def test_max_to_keep_none_keeps_every_file_and_lists_the_newest(tmp_path):
    graph, t = _counter_graph()
    with graph.as_default():
        saver = tf.train.Saver(max_to_keep=None)
    with _session(graph, "reference") as sess:
        sess.run(t["init"])
        for step in range(7):
            saver.save(sess, str(tmp_path / "m"), global_step=step)
    assert len(list(tmp_path.glob("m-*.npz"))) == 7
    state = tf.train.get_checkpoint_state(tmp_path)
    assert state.all_model_checkpoint_paths == [str(tmp_path / "m-6")]


def test_default_max_to_keep_is_five(tmp_path):
    graph, t = _counter_graph()
    with graph.as_default():
        saver = tf.train.Saver()
    with _session(graph, "reference") as sess:
        sess.run(t["init"])
        for step in range(7):
            saver.save(sess, str(tmp_path / "m"), global_step=step)
    assert sorted(p.name for p in tmp_path.glob("m-*.npz")) == [
        f"m-{i}.npz" for i in range(2, 7)]
    assert saver.last_checkpoints == [str(tmp_path / f"m-{i}") for i in range(2, 7)]


def test_latest_filename_and_write_state(tmp_path):
    graph, t = _counter_graph()
    with graph.as_default():
        saver = tf.train.Saver()
    with _session(graph, "reference") as sess:
        sess.run(t["init"])
        saver.save(sess, str(tmp_path / "a"), latest_filename="state_a")
        saver.save(sess, str(tmp_path / "b"), write_state=False)
    assert not (tmp_path / "checkpoint").exists()
    assert tf.train.get_checkpoint_state(tmp_path) is None
    assert tf.train.latest_checkpoint(tmp_path) is None
    assert tf.train.latest_checkpoint(tmp_path, "state_a") == str(tmp_path / "a")
    assert (tmp_path / "b.npz").is_file()


def test_latest_checkpoint_is_none_once_its_file_is_gone(tmp_path):
    graph, t = _counter_graph()
    with graph.as_default():
        saver = tf.train.Saver()
    with _session(graph, "reference") as sess:
        sess.run(t["init"])
        prefix = saver.save(sess, str(tmp_path / "m"))
    os.remove(prefix + ".npz")
    assert tf.train.get_checkpoint_state(tmp_path).model_checkpoint_path == prefix
    assert tf.train.latest_checkpoint(tmp_path) is None
    assert tf.train.checkpoint_exists(prefix) is False


def test_state_file_is_parsed_as_text_never_evaluated(tmp_path):
    # escapes as TF's text format writes them; unknown keys (TF's timestamps) skipped
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "we\\"ird\\\\na\\303\\251me"\n'
        'all_model_checkpoint_paths: "we\\"ird\\\\na\\303\\251me"\n'
        'all_model_checkpoint_timestamps: 1617.5\n'
        'last_preserved_timestamp: 1617.25\n')
    state = tf.train.get_checkpoint_state(tmp_path)
    assert state.model_checkpoint_path == str(tmp_path / 'we"ird\\naéme')
    assert state.all_model_checkpoint_paths == [state.model_checkpoint_path]
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: __import__("os")\n')
    with pytest.warns(UserWarning, match="checkpoint state ignored"):
        assert tf.train.get_checkpoint_state(tmp_path) is None
    (tmp_path / "checkpoint").write_text('all_model_checkpoint_paths: "x"\n')
    with pytest.raises(tf.LoadError, match="names no model_checkpoint_path"):
        tf.train.get_checkpoint_state(tmp_path)


def test_written_state_round_trips_odd_names(tmp_path):
    name = 'odd "name" é\\'
    tf.train.update_checkpoint_state(str(tmp_path), str(tmp_path / name))
    assert '\\"name\\" \\303\\251\\\\' in _state_lines(tmp_path)[0]
    assert tf.train.get_checkpoint_state(tmp_path).model_checkpoint_path == str(tmp_path / name)


def test_recover_last_checkpoints_counts_an_earlier_savers_files(tmp_path):
    graph, t = _counter_graph()
    with graph.as_default():
        first, second = tf.train.Saver(max_to_keep=2), tf.train.Saver(max_to_keep=2)
    with _session(graph, "reference") as sess:
        sess.run(t["init"])
        for step in (1, 2):
            first.save(sess, str(tmp_path / "m"), global_step=step)
        second.recover_last_checkpoints(
            tf.train.get_checkpoint_state(tmp_path).all_model_checkpoint_paths)
        second.save(sess, str(tmp_path / "m"), global_step=3)
    assert sorted(p.name for p in tmp_path.glob("m-*.npz")) == ["m-2.npz", "m-3.npz"]


def test_saver_refuses_what_it_cannot_honour():
    graph, _ = _counter_graph()
    with graph.as_default(), pytest.raises(tf.UnsupportedError, match="saver_def"):
        tf.train.Saver(saver_def=object())
    with tf.Graph().as_default():
        empty = tf.train.Saver(allow_empty=True)  # TF: saves and restores nothing
        assert empty.save({}, "unused") is None
