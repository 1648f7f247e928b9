"""The process-wide thread budget (graphjit.set_num_threads / get_num_threads /
thread_budget): GRAPHJIT_NUM_THREADS is its initial value, read once; warm calls read
no environment and no CPU affinity; other threads and forked children see one value."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import graphjit as tf
from codegen import blas, parallel, wake_cost

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_set_get_and_the_block_that_puts_it_back(set_threads):
    set_threads(3)
    assert tf.get_num_threads() == 3
    with tf.thread_budget(1):
        assert tf.get_num_threads() == 1
        assert blas.GemmSite.budget(4) == 1  # BLAS stays within the budget too
    assert tf.get_num_threads() == 3
    with pytest.raises(KeyError), tf.thread_budget(2):
        raise KeyError
    assert tf.get_num_threads() == 3  # (put back after an error too)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_a_budget_that_is_not_a_positive_integer_is_refused(set_threads, bad):
    set_threads(2)
    with pytest.raises(tf.InvalidArgumentError, match="positive integer"):
        tf.set_num_threads(bad)
    with pytest.raises(tf.InvalidArgumentError), tf.thread_budget(bad):
        pass
    assert tf.get_num_threads() == 2


def test_the_environment_gives_the_first_value_and_is_read_once():
    code = ("import os, graphjit as tf\n"
            "first = tf.get_num_threads()\n"
            "os.environ['GRAPHJIT_NUM_THREADS'] = '1'\n"
            "print(first, tf.get_num_threads())\n"
            "tf.set_num_threads(2)\n"
            "print(tf.get_num_threads())\n")
    env = dict(os.environ, GRAPHJIT_NUM_THREADS="3", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["3", "3", "2"]


def test_every_thread_sees_the_value_another_set(set_threads):
    set_threads(1)
    seen = []
    worker = threading.Thread(target=lambda: (seen.append(tf.get_num_threads()),
                                              tf.set_num_threads(4)))
    worker.start()
    worker.join()
    assert seen == [1] and tf.get_num_threads() == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_keeps_the_budget(set_threads):
    set_threads(3)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, running nothing of pytest's
        try:
            os.write(write, str(tf.get_num_threads()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        got = f.read()
    os.waitpid(pid, 0)
    assert got == "3"


def test_warm_calls_read_no_environment_and_no_affinity(set_threads, monkeypatch):
    """A chunked kernel and a BLAS product (a GEMM site), warm: their calls read the
    budget, not GRAPHJIT_NUM_THREADS or the cores (~2 us of a 7 us small GEMM did)."""
    set_threads(2)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 8], name="x")
        w = tf.placeholder(tf.float32, [8, 8], name="w")  # fed weights: a BLAS call
        z = tf.placeholder(tf.float32, [None, 256], name="z")  # 128 rows: chunked
        y = [tf.matmul(x, w), tf.nn.softmax(tf.tanh(z) * 2.0)]
    fn = tf.compile(g)
    rng = np.random.default_rng(0)
    xs, ws, zs = (rng.normal(size=s).astype(np.float32) for s in ((4, 8), (8, 8), (128, 256)))
    want = tf.Session(graph=g, engine="reference").run(y, {x: xs, w: ws, z: zs})
    for _ in range(3):
        fn(xs, ws, zs)
    wake_cost.cores()  # (the cores read before the check: their first use may be now)
    reads = []
    original = os._Environ.__getitem__

    def getitem(self, key):
        reads.append(key)
        return original(self, key)
    monkeypatch.setattr(os._Environ, "__getitem__", getitem)
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: reads.append("affinity"))
    ran = []  # (what the calls went through: else the check would be empty)

    def spied(fn, name):
        def spy(*args, **kwargs):
            ran.append(name)
            return fn(*args, **kwargs)
        return spy
    for owner, name in ((parallel, "run_chunked"), (blas.GemmSite, "__enter__")):
        monkeypatch.setattr(owner, name, spied(getattr(owner, name), name))
    for _ in range(5):
        for got, expected in zip(fn(xs, ws, zs), want):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert reads == []
    assert ran.count("run_chunked") == ran.count("__enter__") == 5
