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
    # codegen.target.loop_peeling_off compiles graphjit's kernels without peeling.
    env = {"GRAPHJIT_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CONCAT_AND_ITS_REVERSE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["same"]
