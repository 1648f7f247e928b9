"""Graphs whose kernels hit defects of the LLVM that llvmlite ships: each compiles in
a child Python, since the defect aborts the process (SIGABRT), and must give the
reference's numbers."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

CONCAT_AND_ITS_REVERSE = textwrap.dedent("""
    import numpy as np
    import graphjit as tf
    from graphjit.interpreter import evaluate

    graph = tf.Graph()
    with graph.as_default():
        a = tf.placeholder(tf.float32, [3], name="a")
        b = tf.placeholder(tf.float32, [None], name="b")
        joined = tf.concat([a, b, b * 2.0], 0)
        fetches = [joined[::-1, None], tf.broadcast_to(joined, [9])]
    feeds = {a: np.arange(3, dtype=np.float32), b: np.arange(3, 6, dtype=np.float32)}
    got = tf.compile(fetches, feeds=list(feeds))(*feeds.values())
    for e, g in zip(evaluate(fetches, feeds), got):
        np.testing.assert_array_equal(e, g)
    print("same")
""")


def test_a_concat_fetched_beside_its_reverse_compiles(tmp_path):
    # LLVM 22's loop peeling asserts on this kernel's loop (fuzz seed 2028, graph 465):
    # codegen.target.compile_switches compiles graphjit's kernels without peeling.
    env = {"GRAPHJIT_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CONCAT_AND_ITS_REVERSE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["same"]


VECMATH_CHAINS_ON_ONE_VALUE = textwrap.dedent("""
    import numpy as np
    import graphjit as tf
    from graphjit.interpreter import evaluate

    def same(fetches, feeds, rtol):
        got = tf.compile(fetches, feeds=list(feeds))(*feeds.values())
        for e, g in zip(evaluate(fetches, feeds), got):
            assert e.dtype == g.dtype and e.shape == g.shape
            np.testing.assert_allclose(g, e, rtol=rtol, atol=0)
        print("same")

    with tf.Graph().as_default():  # fuzz seed 109, graph 1140
        x = tf.placeholder(tf.float32, [None])
        s = tf.nn.sigmoid(tf.gather(x, [[0], [0], [0]], axis=0))
        same([s, tf.erf(tf.sin(s))], {x: np.array([-1.2310843], np.float32)}, 1e-5)
    with tf.Graph().as_default():  # fuzz seed 107, graph 414
        i = tf.placeholder(tf.int64, [1, None])
        t = tf.stack([i, i], axis=2)
        t = t / (tf.abs(t) + 1)
        s = tf.nn.sigmoid(t)
        same([t, s, tf.nn.softplus(s)], {i: np.array([[1, -3]], np.int64)}, 1e-12)
""")


def test_vecmath_chains_on_a_loop_invariant_value_compile(tmp_path):
    # LLVM 22's vectorizer spent minutes (time exponential in the chain) interleaving
    # these kernels' loops: codegen.vplan_budget compiles them with interleaving off.
    # The timeout only keeps a regression from stalling the suite; nothing is timed.
    env = {"GRAPHJIT_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", VECMATH_CHAINS_ON_ONE_VALUE], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["same", "same"]
