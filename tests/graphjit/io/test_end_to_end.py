"""Whole flows: compiled runs of loaded and restored graphs, and train -> freeze -> save
-> load in a fresh Python process giving the same predictions, bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

import graphjit as tf
from tests.graphjit.io.helpers import X, assert_same_bits, trained


def test_compiled_runs_see_loaded_and_restored_values(tmp_path):
    graph, sess, t = trained()
    expected = sess.run(t["probs"], {t["x"]: X})
    state = {k: v.copy() for k, v in sess.state.items() if isinstance(k, str)}
    fn = tf.compile(graph, fetches=t["probs"], feeds=[t["x"]], state=state)
    loaded = tf.load(tf.save(fn, tmp_path / "fn.gjz", session=fn))  # its graph, fetches, feeds
    assert [f.name for f in loaded.fetches] == ["probs:0"]
    assert [f.name for f in loaded.feeds] == ["x:0"]
    np.testing.assert_allclose(loaded.compile()(X), expected, rtol=1e-6, atol=1e-7)

    with graph.as_default():
        saver = tf.train.Saver()
    checkpoint = saver.save(sess, tmp_path / "ckpt")
    with tf.Session(graph=graph) as compiled:
        compiled.run(t["init"])
        before = compiled.run(t["probs"], {t["x"]: X})
        saver.restore(compiled, checkpoint)  # the plan compiled above must read the new values
        after = compiled.run(t["probs"], {t["x"]: X})
    assert not np.allclose(before, expected, rtol=1e-3)
    np.testing.assert_allclose(after, expected, rtol=1e-6, atol=1e-7)
    sess.close()


_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import graphjit as tf

    x = np.load(sys.argv[1])["x"]
    results = {}
    for i, path in enumerate(sys.argv[2:-1]):
        loaded = tf.load(path)
        with loaded.session(engine="reference") as sess:
            results[f"r{i}"] = sess.run(loaded.fetches[0], {loaded.feeds[0]: x})
    np.savez(sys.argv[-1], **results)
""")


def test_train_freeze_save_load_in_a_fresh_process(tmp_path):
    graph, sess, t = trained(steps=4)
    expected = sess.run(t["probs"], {t["x"]: X})
    frozen, probs = tf.freeze(sess, t["probs"])
    converted = tf.graph_util.convert_variables_to_constants(sess, graph, ["probs"])
    paths = [tf.save(frozen, tmp_path / "frozen.gjz", fetches=probs),
             tf.save(converted, str(tmp_path / "converted") + "/"),  # default fetches: probs
             tf.save(graph, tmp_path / "trained.gjz", fetches=t["probs"], session=sess)]
    assert {op.type for op in tf.load(paths[0]).graph.get_operations()}.isdisjoint(
        {"VariableV2", "Assign"})
    np.savez(tmp_path / "x.npz", x=X)
    out = tmp_path / "out.npz"
    subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "x.npz"), *map(str, paths),
                    str(out)], check=True, timeout=120, env=dict(os.environ))
    with np.load(out, allow_pickle=False) as results:
        for i, path in enumerate(paths):
            assert_same_bits(results[f"r{i}"], expected, path)
    sess.close()
