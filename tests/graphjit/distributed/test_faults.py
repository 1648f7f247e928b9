"""A worker killed (SIGKILL) in the middle of a distributed run: Dask reruns its tasks on
the other worker or the restarted one, and every result still equals one process's. All
workers restarted (`client.restart()`) between two calls: the second call equals one
process too, and the new workers take every kernel from the on-disk kernel cache."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import graphjit as tf

da = pytest.importorskip("dask.array")
gjd = pytest.importorskip("graphjit.distributed")


def _worker_report():
    """This worker's pid, kernel cache folder, and the kernels of its compiled functions
    by where they came from (memory, disk, compiled, extern)."""
    from codegen.cache import cache_dir
    from graphjit.distributed import worker
    sources = [k.source for fn in worker._functions.values()
               for plan in fn.cache_info().plans for k in plan.kernels]
    return {"pid": os.getpid(), "cache_dir": cache_dir(), "functions": len(worker._functions),
            "sources": sources}


def test_restarted_workers_recompile_from_the_disk_cache(client):
    from codegen.cache import cache_dir
    rng = np.random.default_rng(4)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 7], name="x")
        w = tf.constant(rng.standard_normal((7, 3)).astype(np.float32))
        probs = tf.nn.softmax(tf.tanh(tf.matmul(x, w)) * 2.5)
        fetches = [probs, tf.reduce_mean(probs, 0)]
    xv = rng.standard_normal((60, 7)).astype(np.float32)
    want = tf.compile(g, fetches=fetches)(xv)
    dfn = gjd.compile(g, fetches=fetches, client=client)

    def check():
        probs_da, mean = dfn(x=da.from_array(xv, chunks=15))
        np.testing.assert_allclose(probs_da.compute(), want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mean, want[1], rtol=1e-5, atol=1e-6)

    check()
    before = client.run(_worker_report)
    # new worker processes; every future, the shipped graph's too, cancelled (first in this
    # module: no killed worker is being replaced meanwhile)
    client.restart()
    check()
    after = client.run(_worker_report)
    assert not {r["pid"] for r in before.values()} & {r["pid"] for r in after.values()}
    assert sum(r["functions"] for r in after.values()) >= 2  # 2 stages: partials, rows
    for r in after.values():
        assert r["cache_dir"] == cache_dir()  # the driver's GRAPHJIT_CACHE_DIR, inherited
        assert "compiled" not in r["sources"], r["sources"]
    assert "disk" in [s for r in after.values() for s in r["sources"]]


def test_results_stay_right_when_a_worker_dies_mid_run(client):
    rng = np.random.default_rng(3)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 6], name="x")
        w = tf.constant(rng.standard_normal((6, 4)).astype(np.float32))
        probs = tf.nn.softmax(tf.matmul(x, w))
        fetches = [probs, tf.reduce_mean(probs, 0), tf.reduce_max(x)]
    xv = rng.standard_normal((240, 6)).astype(np.float32)
    want = tf.compile(g, fetches=fetches)(xv)
    dfn = gjd.compile(g, fetches=fetches, client=client)
    dfn(x=da.from_array(xv[:20], chunks=10))  # both workers hold the compiled function
    pids = client.run(os.getpid)
    victim = next(iter(pids.values()))

    def slow(block):  # local: Dask ships it by value, workers need not import this file
        time.sleep(0.05)  # each chunk takes a while to load, so the run is still going
        return block

    slow_x = da.from_array(xv, chunks=(20, 6)).map_blocks(slow, dtype=np.float32)
    killer = threading.Timer(0.2, os.kill, (victim, signal.SIGKILL))
    started = time.perf_counter()
    killer.start()
    probs_da, mean, top = dfn(x=slow_x)
    probs_np = probs_da.compute()
    killer.join()
    assert time.perf_counter() - started > 0.2  # the kill came while the run went on
    assert victim not in client.run(os.getpid).values()
    np.testing.assert_allclose(probs_np, want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean, want[1], rtol=1e-5, atol=1e-6)
    assert top == want[2]
