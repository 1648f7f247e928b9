"""graphjit on a Dask cluster vs one process: batch inference, a training epoch, and
the cost of a task.

- inference: an MLP (64 -> 128 -> 10, softmax; constant weights) over 10^6 rows in 8
  chunks, fetching the probabilities (row-wise: kept on the cluster, persisted) and the
  mean top probability (a batch reduction: partial + combine, returned). One process:
  the same compiled graph on the whole NumPy array.
- training: one epoch of Adam over 10^5 rows, batches of 4,000 (25 steps), the same MLP
  with variables: `graphjit.compile` of [loss, train_op] vs `DataParallel.epoch`
  (each step: shards to the workers, gradients back, one update in the driver).
- overhead: a call on one small chunk (a reduction: one task and one round trip), and
  what each extra task adds (8 small chunks vs 1, divided by 7).

Medians of interleaved repeats; the cluster is a LocalCluster of 2 worker processes with
1 thread each, on this machine. On a real cluster, pass the scheduler's address:

    python benchmarks/dask_cluster.py [--rows 1000000] [--repeat 5] [--scheduler tcp://host:8786]
"""

from __future__ import annotations

import argparse
import statistics
import time

import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster, wait

import graphjit as tf
import graphjit.distributed as gjd


def mlp(variables: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    make = tf.Variable if variables else tf.constant
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 64], name="x")
        y = tf.placeholder(tf.int64, [None], name="y")
        w1 = make((rng.standard_normal((64, 128)) * 0.1).astype(np.float32), name="w1")
        w2 = make((rng.standard_normal((128, 10)) * 0.1).astype(np.float32), name="w2")
        logits = tf.matmul(tf.nn.relu(tf.matmul(x, w1)), w2)
        probs = tf.nn.softmax(logits, name="probs")
        confidence = tf.reduce_mean(tf.reduce_max(probs, 1), name="confidence")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits), name="loss")
    return g, probs, confidence, loss


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(cases: dict, repeat: int) -> dict:
    times: dict = {name: [] for name in cases}
    for fn in cases.values():  # warm-up: compiles, plans, worker caches
        fn()
    for _ in range(repeat):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scheduler", default=None, help="address of a running scheduler")
    args = parser.parse_args()
    client = Client(args.scheduler) if args.scheduler else Client(
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
    workers = len(client.scheduler_info()["workers"])
    rng = np.random.default_rng(1)

    g, probs, confidence, _ = mlp(variables=False)
    # the rows are made on the workers, where a cluster's data lives; one process gets a copy
    x = da.random.RandomState(1).standard_normal((args.rows, 64), chunks=(-(-args.rows // 8), 64))
    x = client.persist(x.astype(np.float32))
    wait(x)
    xv = x.compute()
    local = tf.compile(g, fetches=[probs, confidence])
    dfn = gjd.compile(g, fetches=[probs, confidence], client=client)

    def cluster_inference():
        p, _ = dfn(x=x)
        wait(p.persist())

    small = client.persist(da.from_array(xv[:800], chunks=(800, 64)))
    eight = client.persist(da.from_array(xv[:800], chunks=(100, 64)))
    wait([small, eight])
    reduce_only = gjd.compile(g, fetches=[confidence], client=client)
    inference = interleaved({"one process": lambda: local(xv),
                             "cluster": cluster_inference,
                             "1 chunk": lambda: reduce_only(x=small),
                             "8 chunks": lambda: reduce_only(x=eight)}, args.repeat)

    n = args.train_rows
    tx = rng.standard_normal((n, 64)).astype(np.float32)
    ty = rng.integers(0, 10, n)
    g1, _, _, loss1 = mlp(variables=True)
    with g1.as_default():
        train = tf.train.AdamOptimizer(1e-3).minimize(loss1)
        init = tf.global_variables_initializer()
    state: dict = {}
    tf.compile(init, state=state)()
    step = tf.compile(g1, fetches=[loss1, train], state=state)
    g2, _, _, loss2 = mlp(variables=True)
    parallel = gjd.DataParallel(loss2, tf.train.AdamOptimizer(1e-3), client)
    batch = 4000

    def local_epoch():
        for i in range(0, n, batch):
            step(tx[i:i + batch], ty[i:i + batch])

    training = interleaved({"one process": local_epoch,
                            "cluster": lambda: parallel.epoch({"x": tx, "y": ty}, batch)},
                           max(1, args.repeat // 2))

    where = args.scheduler or f"LocalCluster, {workers} worker processes x 1 thread"
    print(f"graphjit on Dask ({where}); medians of {args.repeat} interleaved runs")
    print(f"MLP inference, {args.rows:,} rows in 8 chunks (probs persisted + a reduction):")
    print(f"  one process {inference['one process']:.3f} s   cluster {inference['cluster']:.3f} s"
          f"   ratio {inference['cluster'] / inference['one process']:.2f}x")
    steps = -(-n // batch)
    print(f"training epoch, {n:,} rows, {steps} Adam steps of {batch}:")
    print(f"  one process {training['one process']:.3f} s   cluster {training['cluster']:.3f} s"
          f"   ({training['cluster'] / steps * 1e3:.0f} ms per step on the cluster)")
    extra = (inference["8 chunks"] - inference["1 chunk"]) / 7
    print(f"per-task overhead: a one-chunk call {inference['1 chunk'] * 1e3:.0f} ms, "
          f"each extra task {extra * 1e3:.1f} ms")
    client.close()


if __name__ == "__main__":
    main()
