"""Variable values: saved with a graph (save(..., session=)) and in Saver checkpoints,
restored bit for bit, with errors naming the variable and the file."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.io.helpers import X, assert_same_bits, small_graph, trained


def _state(sess) -> dict:
    return {k: v.copy() for k, v in sess.state.items() if isinstance(k, str)}


def test_graph_saved_with_session_starts_from_its_values(tmp_path):
    graph, sess, t = trained()
    path = tf.save(graph, tmp_path / "m.gjz", fetches=[t["probs"]], session=sess)
    loaded = tf.load(path)
    assert sorted(loaded.variable_values) == ["dense/kernel", "global_step"]
    with loaded.session(engine="reference") as new:
        for name in loaded.variable_values:
            assert_same_bits(new.state[name], sess.state[name], name)
            assert new.state[name] is not loaded.variable_values[name]  # the session owns it
        assert_same_bits(new.run("probs:0", {"x:0": X}), sess.run(t["probs"], {t["x"]: X}))
        # Training goes on identically from the saved point...
        new.run(t["train"].name, {"x:0": X})
        sess.run(t["train"], {t["x"]: X})
        assert_same_bits(new.state["dense/kernel"], sess.state["dense/kernel"])
        # ...and the initializers still reset to the initial values, as in TF.
        new.run(t["init"].name)
        assert new.state["global_step"] == 0
    sess.close()


def test_saving_values_needs_initialized_matching_variables(tmp_path):
    graph, x, probs, total, init = small_graph()
    with tf.Session(graph=graph, engine="reference") as sess:
        with pytest.raises(tf.FailedPreconditionError, match="uninitialized variable "
                           "'dense/kernel'"):
            tf.save(graph, tmp_path / "m.gjz", session=sess)
    with pytest.raises(tf.GraphError, match=r"cannot save variable 'dense/kernel' "
                       r"\(float32\[3,2\]\): the session holds a float64\[5\] value"):
        tf.save(graph, tmp_path / "m.gjz", session={"dense/kernel": np.zeros(5)})
    with pytest.raises(TypeError, match="expected a Session"):
        tf.save(graph, tmp_path / "m.gjz", session=42)


def test_saver_round_trip_by_tf_names(tmp_path):
    graph, sess, t = trained()
    values = _state(sess)
    with graph.as_default():
        saver = tf.train.Saver()
    path = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=t["step"])
    assert path == str(tmp_path / "model.ckpt-3")  # TF's prefix; the values are in .npz
    with np.load(path + ".npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["dense/kernel", "global_step"]
    with tf.Session(graph=graph, engine="reference") as fresh:
        fresh.run(t["init"])
        assert not np.array_equal(fresh.state["dense/kernel"], values["dense/kernel"])
        saver.restore(fresh, path + ".npz")  # the data file's own path is taken too
        for name in ("dense/kernel", "global_step"):
            assert_same_bits(fresh.state[name], values[name], name)
    assert saver.save(sess, tmp_path / "plain.npz") == str(tmp_path / "plain.npz")
    assert saver.save(sess, tmp_path / "n", global_step=12) == str(tmp_path / "n-12")
    assert (tmp_path / "n-12.npz").is_file()
    sess.close()


def test_saver_var_list_names(tmp_path):
    graph, sess, t = trained()
    kernel = graph.get_tensor_by_name("dense/kernel:0")
    path = tf.train.Saver({"layer/w": kernel}).save(sess, tmp_path / "c")
    with np.load(path + ".npz", allow_pickle=False) as npz:
        assert npz.files == ["layer/w"]
    with tf.Session(graph=graph, engine="reference") as fresh:
        tf.train.Saver({"layer/w": kernel}).restore(fresh, path)
        assert sorted(_state(fresh)) == ["dense/kernel"]
        assert_same_bits(fresh.state["dense/kernel"], sess.state["dense/kernel"])
    with pytest.raises(tf.GraphError, match="var_list must hold variables"):
        tf.train.Saver([t["probs"]])
    with pytest.raises(tf.GraphError, match="two variables would be saved as 'dense/kernel'"):
        tf.train.Saver([kernel, kernel])
    with tf.Graph().as_default(), pytest.raises(tf.GraphError, match="no variables to save"):
        tf.train.Saver()
    sess.close()


def _other_kernel(shape, dtype):
    """A graph whose variable 'dense/kernel' has another shape or dtype, and its Saver."""
    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("dense"):
            kernel = tf.Variable(np.zeros(shape, dtype), name="kernel")
        return graph, kernel.initializer, tf.train.Saver()


def test_saver_restore_errors_change_nothing(tmp_path):
    graph, sess, t = trained()
    with graph.as_default():
        saver = tf.train.Saver()
    only_kernel = tf.train.Saver([graph.get_tensor_by_name("dense/kernel:0")])
    partial = only_kernel.save(sess, tmp_path / "partial")
    with tf.Session(graph=graph, engine="reference") as fresh:
        fresh.run(t["init"])
        before = _state(fresh)
        with pytest.raises(tf.LoadError, match=r"partial.npz: the checkpoint has no value for "
                           r"variable 'global_step' \(it holds dense/kernel\)"):
            saver.restore(fresh, partial)
        for name, value in before.items():  # the kernel, present, was not set either
            assert_same_bits(fresh.state[name], value, name)
    for shape, dtype, spec in (((3, 5), np.float32, r"float32\[3,5\]"),
                               ((3, 2), np.float64, r"float64\[3,2\]")):
        other_graph, other_init, other_saver = _other_kernel(shape, dtype)
        with tf.Session(graph=other_graph, engine="reference") as other:
            other.run(other_init)
            bad = other_saver.save(other, tmp_path / "other")
        with pytest.raises(tf.LoadError, match=r"variable 'dense/kernel' is float32\[3,2\], "
                           rf"but the checkpoint holds a {spec} value"):
            only_kernel.restore(sess, bad)
    data = open(partial + ".npz", "rb").read()
    with open(partial + ".npz", "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(tf.LoadError, match="partial.npz: the checkpoint is not a readable .npz"):
        only_kernel.restore(sess, partial)
    with pytest.raises(tf.LoadError, match="cannot read the checkpoint"):
        only_kernel.restore(sess, tmp_path / "missing")
    sess.close()


def test_saver_save_needs_initialized_variables(tmp_path):
    graph, x, probs, total, init = small_graph()
    with graph.as_default(), tf.Session(graph=graph, engine="reference") as sess:
        with pytest.raises(tf.FailedPreconditionError, match="'dense/kernel'"):
            tf.train.Saver().save(sess, tmp_path / "c")
