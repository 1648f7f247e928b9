"""A TF1 program that grows its graph: every iteration builds new ops (a GAN sampling
inside its training loop) and runs them with a fresh fetch set.

Each new fetch set is optimized and planned; that cost must follow the subgraph the
fetches need, not the whole graph, or the loop's time grows quadratically. Prints
the time of each block of iterations: flat per-iteration times mean linear total time.

    python -m benchmarks.graph_growth [--iterations 1000] [--block 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--engine", default="compiled", choices=["compiled", "reference"])
    args = ap.parse_args(argv)
    import graphjit as tf

    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        w1 = tf.Variable(rng.standard_normal((16, 32)).astype(np.float32), name="w1")
        w2 = tf.Variable(rng.standard_normal((32, 8)).astype(np.float32), name="w2")
        init = tf.global_variables_initializer()
    z = rng.standard_normal((4, 16)).astype(np.float32)
    with tf.Session(graph=graph, engine=args.engine) as sess:
        sess.run(init)
        start = block_start = time.perf_counter()
        for i in range(1, args.iterations + 1):
            with graph.as_default():  # new ops every iteration, as the GAN tutorial does
                noise = tf.constant(z)
                sample = tf.tanh(tf.matmul(tf.nn.relu(tf.matmul(noise, w1)), w2))
            sess.run(sample)
            if i % args.block == 0:
                now = time.perf_counter()
                print(f"iterations {i - args.block + 1:5d}-{i:5d}: "
                      f"{(now - block_start) / args.block * 1e3:7.2f} ms per iteration, "
                      f"graph {len(graph.get_operations()):6d} ops")
                block_start = now
        print(f"total {time.perf_counter() - start:.1f} s for {args.iterations} iterations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
