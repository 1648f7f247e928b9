"""TF1's scaffolding around graphs, as scripts use it: tf.device scopes (recorded on
ops, same numbers), tf.app.run with tf.flags, tf.logging, and tf.gfile/tf.io.gfile on
local files; the new namespaces in graphjit.compat.v1 and their missing names."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np
import pytest

import graphjit as tf
import graphjit.compat.v1 as tf_v1
from graphjit import flags as gj_flags

ENGINES = ["reference", "compiled"]



# -- tf.device ------------------------------------------------------------------------

def test_device_scopes_are_recorded_and_merge_as_tf(graph):
    a = tf.constant(1.0, name="a")
    with tf.device("/job:ps/task:0"):
        b = tf.add(a, 1.0, name="b")
        with graph.device("/gpu:1"):
            c = tf.multiply(b, 2.0, name="c")
            with tf.device("/job:worker"):
                d = tf.identity(c, name="d")
            with tf.device(None):
                e = tf.identity(c, name="e")
            with tf.device(""):
                f = tf.identity(c, name="f")
    assert a.op.device == ""
    assert b.op.device == "/job:ps/task:0"
    assert c.op.device == "/job:ps/task:0/device:GPU:1"
    assert d.op.device == "/job:worker/task:0/device:GPU:1"
    assert e.op.device == ""
    assert f.op.device == c.op.device
    with tf.device(tf.DeviceSpec(job="ps", device_type="CPU", device_index=0)):
        v = tf.Variable(1.0, name="v")
    assert v.op.device == "/job:ps/device:CPU:0"


def test_device_functions_choose_per_op(graph):
    def on_ps_for_variables(op):
        return "/job:ps/cpu:0" if op.type == "VariableV2" else op.device

    with tf.device("/gpu:0"), tf.device(on_ps_for_variables):
        w = tf.Variable(np.ones(3, np.float32), name="w")
        y = tf.reduce_sum(w * 2.0, name="y")
    assert w.op.device == "/job:ps/device:CPU:0"
    assert y.op.device == "/device:GPU:0"


def test_graph_def_nodes_carry_the_device(graph):
    pytest.importorskip("tensorboard")
    with tf.device("/job:worker/gpu:0"):
        tf.constant(1.0, name="placed")
    tf.constant(2.0, name="free")
    devices = {node.name: node.device for node in graph.as_graph_def().node}
    assert devices == {"placed": "/job:worker/device:GPU:0", "free": ""}


def test_a_bad_device_name_fails_at_the_users_line(graph):
    with pytest.raises(tf.InvalidArgumentError, match=r"device '/fpga:0'.*test_tf1_scaff"):
        with tf.device("/fpga:0"):
            pass


@pytest.mark.parametrize("engine", ENGINES)
def test_device_scopes_change_no_result(engine):
    x_value = np.arange(6, dtype=np.float32).reshape(2, 3)

    def build(device):
        g = tf.Graph()
        with g.as_default(), tf.device(device), tf.colocate_with(None), tf.container("c"):
            x = tf.placeholder(tf.float32, [None, 3], name="x")
            w = tf.Variable(np.linspace(-1, 1, 12).reshape(3, 4).astype(np.float32))
            y = tf.nn.softmax(tf.matmul(x, w))
        config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=True)
        with tf.Session(graph=g, config=config, engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run(y, {x: x_value}), y.op.device

    plain, plain_device = build(None)
    placed, placed_device = build("/device:GPU:0")
    assert (plain_device, placed_device) == ("", "/device:GPU:0")
    np.testing.assert_array_equal(plain, placed)


# -- tf.app.run and tf.flags ----------------------------------------------------------

@pytest.fixture
def fresh_flags(monkeypatch):
    """An empty global FLAGS for the test (TF1 scripts define flags on the global one)."""
    flags = gj_flags.FlagValues()
    monkeypatch.setattr(gj_flags, "FLAGS", flags)
    return flags


def test_a_tf1_script_runs_with_app_run_and_flags(fresh_flags):
    F = tf.app.flags  # noqa: N806 - TF1 scripts' spelling
    F.DEFINE_string("data_dir", "/tmp/data", "where the data is")
    F.DEFINE_integer("batch_size", 32, "examples per step")
    F.DEFINE_float("learning_rate", 0.01, "the step size")
    F.DEFINE_boolean("fake_data", False, "use fake data")
    F.DEFINE_bool("verbose", True, "talk")
    F.DEFINE_enum("mode", "train", ["train", "eval"], "what to do")
    F.DEFINE_list("layers", "64,32", "layer widths")
    F.DEFINE_multi_string("tag", None, "tags")
    FLAGS = F.FLAGS  # noqa: N806
    seen = {}

    def main(argv):
        seen.update(FLAGS.flag_values_dict(), argv=argv)
        return 3

    argv = ["train.py", "--data_dir=/d", "--batch_size", "64", "--learning_rate=-0.5",
            "--fake_data", "--noverbose", "--mode=eval", "--layers=8,4", "--tag=a",
            "--tag", "b", "extra", "--unknown_to_graphjit=1", "--", "--after"]
    with pytest.raises(SystemExit) as exit_info:
        tf.app.run(main, argv=argv)
    assert exit_info.value.code == 3
    assert seen == {"data_dir": "/d", "batch_size": 64, "learning_rate": -0.5,
                    "fake_data": True, "verbose": False, "mode": "eval",
                    "layers": ["8", "4"], "tag": ["a", "b"],
                    # as TF 1.15's app.run, flags nobody defined stay for main
                    "argv": ["train.py", "extra", "--unknown_to_graphjit=1", "--after"]}


def test_app_run_without_main_uses_the_scripts_main(fresh_flags, monkeypatch):
    main_module = type(sys)("__main__")
    main_module.main = lambda argv: len(argv)
    monkeypatch.setitem(sys.modules, "__main__", main_module)
    with pytest.raises(SystemExit) as exit_info:
        tf.app.run(argv=["prog", "a", "b"])
    assert exit_info.value.code == 3


def test_app_run_reports_a_bad_flag_value_and_exits_1(fresh_flags, capsys):
    tf.flags.DEFINE_integer("steps", 10, "how many")
    with pytest.raises(SystemExit) as exit_info:
        tf.app.run(lambda argv: 0, argv=["prog", "--steps=many"])
    assert exit_info.value.code == 1
    assert "--steps=many" in capsys.readouterr().err


def test_app_run_help_lists_the_flags(fresh_flags, capsys):
    tf.flags.DEFINE_integer("steps", 10, "how many steps to train")
    with pytest.raises(SystemExit) as exit_info:
        tf.app.run(lambda argv: 0, argv=["prog", "--help"])
    assert exit_info.value.code == 0
    assert "--steps: how many steps to train" in capsys.readouterr().out


def test_flags_parse_on_first_read_and_name_unknown_flags(fresh_flags, monkeypatch):
    tf.flags.DEFINE_integer("epochs", 1, "passes")
    monkeypatch.setattr(sys, "argv", ["prog", "--epochs=4"])
    assert tf.flags.FLAGS.epochs == 4  # parsed sys.argv on the first read, as TF 1.x
    assert tf.flags.FLAGS.is_parsed()
    fresh_flags.epochs = 9
    assert fresh_flags.epochs == 9
    assert fresh_flags(["prog", "--epochs", "2", "file.txt"]) == ["prog", "file.txt"]
    assert fresh_flags.epochs == 2
    with pytest.raises(tf.flags.UnrecognizedFlagError, match="'--epoch'"):
        fresh_flags(["prog", "--epoch=3"])
    with pytest.raises(AttributeError, match="no flag named 'epoch'"):
        fresh_flags.epoch  # noqa: B018


def test_flag_definitions_are_checked():
    flags = gj_flags.FlagValues()
    tf.flags.DEFINE_integer("n", 5, "h", lower_bound=0, flag_values=flags)
    with pytest.raises(tf.flags.DuplicateFlagError, match="'n'"):
        tf.flags.DEFINE_string("n", "x", "h", flag_values=flags)
    with pytest.raises(tf.flags.IllegalFlagValueError, match="--n=-1"):
        flags(["prog", "--n=-1"])
    with pytest.raises(tf.flags.IllegalFlagValueError, match="must be one of"):
        tf.flags.DEFINE_enum("e", "z", ["x", "y"], "h", flag_values=flags)
    assert isinstance(tf.flags.IllegalFlagValueError("x"), tf.Error)


# -- tf.logging ------------------------------------------------------------------------

def test_logging_goes_to_python_logging(caplog):
    old = tf.logging.get_verbosity()
    try:
        tf.logging.set_verbosity(tf.logging.INFO)
        assert tf.logging.get_verbosity() == tf.logging.INFO == logging.INFO
        with caplog.at_level(logging.INFO, logger="graphjit.tf_logging"):
            tf.logging.set_verbosity(tf.logging.INFO)
            tf.logging.debug("hidden %d", 0)
            tf.logging.info("step %d: loss %.2f", 10, 0.25)
            tf.logging.warn("deprecated %s", "thing")
            tf.logging.error("bad")
            tf.logging.log(tf.logging.ERROR, "logged at %s", "ERROR")
            for i in range(7):
                tf.logging.log_every_n(tf.logging.INFO, "every %d", 3, i)
                tf.logging.log_first_n(tf.logging.INFO, "first %d", 2, i)
        records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    finally:
        tf.logging.set_verbosity(old)
    messages = [m for _, _, m in records]
    assert {name for name, _, _ in records} == {"graphjit.tf_logging"}
    assert "hidden 0" not in messages
    assert ("graphjit.tf_logging", logging.INFO, "step 10: loss 0.25") in records
    assert ("graphjit.tf_logging", logging.WARN, "deprecated thing") in records
    assert messages.count("bad") == 1 and "logged at ERROR" in messages
    assert [m for m in messages if m.startswith("every")] == ["every 0", "every 3", "every 6"]
    assert [m for m in messages if m.startswith("first")] == ["first 0", "first 1"]
    assert (tf.logging.DEBUG, tf.logging.WARN, tf.logging.FATAL) == (10, 30, 50)


# -- tf.gfile and tf.io.gfile -----------------------------------------------------------

def test_gfile_round_trips_on_local_files(tmp_path):
    root = str(tmp_path / "run")
    tf.gfile.MakeDirs(os.path.join(root, "a", "b"))
    tf.gfile.MakeDirs(os.path.join(root, "a"))  # existing: fine
    path = os.path.join(root, "a", "notes.txt")
    with tf.gfile.GFile(path, "w") as f:
        f.write("line one\n")
        f.write(b"line two\n")
    assert tf.gfile.Exists(path) and not tf.gfile.IsDirectory(path)
    with tf.gfile.Open(path) as f:
        assert f.readline() == "line one\n"
        assert list(f) == ["line two\n"]
    with tf.gfile.FastGFile(path, "rb") as f:
        assert f.read() == b"line one\nline two\n"
    with tf.io.gfile.GFile("file://" + path, "a") as f:
        f.write("three")
    assert tf.gfile.GFile(path).readlines() == ["line one\n", "line two\n", "three"]
    assert tf.gfile.Stat(path).length == len("line one\nline two\nthree")
    tf.gfile.Copy(path, os.path.join(root, "copy.txt"))
    tf.gfile.Rename(os.path.join(root, "copy.txt"), os.path.join(root, "moved.txt"))
    assert tf.gfile.ListDirectory(root) == ["a", "moved.txt"]
    assert tf.gfile.Glob(os.path.join(root, "*.txt")) == [os.path.join(root, "moved.txt")]
    walked = list(tf.gfile.Walk(root))
    assert [(d, s, f) for d, s, f in walked][0] == (root, ["a"], ["moved.txt"])
    assert (os.path.join(root, "a"), ["b"], ["notes.txt"]) in walked
    tf.gfile.Remove(os.path.join(root, "moved.txt"))
    tf.gfile.MkDir(os.path.join(root, "c"))
    assert tf.io.gfile.listdir(root) == ["a", "c"] and tf.io.gfile.isdir(root)
    tf.gfile.DeleteRecursively(root)
    assert not tf.io.gfile.exists(root)


def test_gfile_errors_are_tfs(tmp_path):
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(tf.errors.NotFoundError, match="missing.txt"):
        tf.gfile.GFile(missing).read()
    with pytest.raises(tf.errors.NotFoundError, match="missing.txt"):
        tf.gfile.Remove(missing)
    with pytest.raises(tf.errors.NotFoundError):
        tf.gfile.ListDirectory(missing)
    existing = tmp_path / "x.txt"
    existing.write_text("x")
    (tmp_path / "y.txt").write_text("y")
    with pytest.raises(tf.errors.AlreadyExistsError, match="overwrite=True"):
        tf.gfile.Copy(str(existing), str(tmp_path / "y.txt"))
    tf.gfile.Copy(str(existing), str(tmp_path / "y.txt"), overwrite=True)
    assert (tmp_path / "y.txt").read_text() == "x"
    with pytest.raises(tf.errors.AlreadyExistsError):
        tf.gfile.MkDir(str(tmp_path))
    with pytest.raises(tf.InvalidArgumentError, match="mode 'r\\+'"):
        tf.gfile.GFile(str(existing), "r+")
    for remote in ("gs://bucket/model.ckpt", "hdfs://namenode/data"):
        with pytest.raises(tf.UnsupportedError, match=remote):
            tf.gfile.Exists(remote)
        with pytest.raises(tf.UnsupportedError, match=remote):
            tf.gfile.GFile(remote, "w")


# -- namespaces -----------------------------------------------------------------------

def test_compat_v1_has_the_scaffolding_and_missing_names_say_so():
    for ns in (tf, tf_v1):
        assert ns.app.run is tf.app.run and ns.flags is tf.app.flags
        assert ns.logging.info is tf.logging.info and ns.gfile.Exists is tf.gfile.Exists
        assert ns.io.gfile.exists is tf.gfile.Exists and ns.device is tf.device
        assert ns.train.Coordinator is tf.train.Coordinator
        assert ns.local_variables_initializer is tf.local_variables_initializer
    for owner, name, tf_name in ((tf.gfile, "FastGFileX", "tf.gfile.FastGFileX"),
                                 (tf.io.gfile, "get_registered", "tf.io.gfile.get_registered"),
                                 (tf.logging, "TaskLevelStatusMessage",
                                  "tf.logging.TaskLevelStatusMessage"),
                                 (tf.flags, "DEFINE_spaceseplist", "tf.flags.DEFINE_spacesep"),
                                 (tf.app, "usage", "tf.app.usage"),
                                 (tf.io, "read_file", "tf.io.read_file")):
        with pytest.raises(tf.UnsupportedNameError, match=tf_name):
            getattr(owner, name)
