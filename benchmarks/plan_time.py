"""Compile time against graph size: seconds per op to optimize and plan a graph whose
kernels are already compiled.

Three graph shapes, each at 100, 1,000 and 10,000 ops:

- chain: a deep elementwise chain over a (batch, 8) input (alternating multiply-add and
  tanh-scale steps), every 64th intermediate fetched, a row sum fetched at the end;
- wide: many short independent branches (4 ops each) over four shared inputs, reduced
  to one value by a tree of adds;
- train: a training step of a deep MLP of width 16 (matmul, bias, relu per layer; softmax
  cross-entropy), with the gradients of every weight and the gradient-descent updates
  fetched (weights are fed, so the step is a pure function).

Each graph is compiled and run once to compile its kernels (that time is printed as
"first"), then compiled and run again: the second time is what a new fetch set or a new
input shape costs once the kernels exist, split into optimize (graphjit.optimize, run by
compile) and plan (lowering and the plan, at the first call). The target is linear
growth: under 0.2 ms per op at every size.

    python benchmarks/plan_time.py [--sizes 100,1000,10000] [--shapes chain,wide,train]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphjit as tf


def chain(n_ops: int):
    x = tf.placeholder(tf.float32, [None, 8], name="x")
    y, fetches = x, []
    for i in range(n_ops // 2):
        y = tf.tanh(y) * 0.5 if i % 2 else y * 0.9 + 0.1
        if i % 32 == 31:
            fetches.append(y)
    return fetches + [y, tf.reduce_sum(y, axis=-1)], {x: np.full((4, 8), 0.1, np.float32)}


def wide(n_ops: int):
    xs = [tf.placeholder(tf.float32, [None, 8], name=f"x{i}") for i in range(4)]
    branches = []
    for b in range(max(1, n_ops // 5)):
        x = xs[b % 4]
        branches.append(tf.tanh(x * float(b % 7 + 1)) + x * 0.5)
    while len(branches) > 1:  # a tree of adds
        branches = [branches[i] + branches[i + 1] if i + 1 < len(branches) else branches[i]
                    for i in range(0, len(branches), 2)]
    feeds = {x: np.full((4, 8), 0.1 * (i + 1), np.float32) for i, x in enumerate(xs)}
    return [branches[0]], feeds


def train(n_ops: int):
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [None, 16], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    h, weights, feeds = x, [], {}
    for layer in range(max(1, n_ops // 16)):  # about 16 ops per layer, gradients included
        w = tf.placeholder(tf.float32, [16, 16], name=f"w{layer}")
        b = tf.placeholder(tf.float32, [16], name=f"b{layer}")
        feeds[w] = (rng.standard_normal((16, 16)) * 0.25).astype(np.float32)
        feeds[b] = np.zeros(16, np.float32)
        weights += [w, b]
        h = tf.nn.relu(tf.matmul(h, w) + b)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=h))
    grads = tf.gradients(loss, weights)
    updates = [w - 0.1 * g for w, g in zip(weights, grads)]
    feeds[x] = rng.standard_normal((4, 16)).astype(np.float32)
    feeds[labels] = np.arange(4) % 16
    return [loss] + updates, feeds


SHAPES = {"chain": chain, "wide": wide, "train": train}


def measure(shape: str, n_ops: int) -> dict:
    graph = tf.Graph()
    with graph.as_default():
        fetches, feeds = SHAPES[shape](n_ops)
    ops = len(graph.get_operations())
    start = time.perf_counter()
    tf.compile(graph, fetches=fetches, feeds=list(feeds))(*feeds.values())
    first = time.perf_counter() - start
    start = time.perf_counter()
    fn = tf.compile(graph, fetches=fetches, feeds=list(feeds))
    optimized = time.perf_counter()
    fn(*feeds.values())
    done = time.perf_counter()
    return {"shape": shape, "ops": ops, "first": first, "optimize": optimized - start,
            "plan": done - optimized, "per_op_ms": (done - start) / ops * 1e3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args(argv)
    print(f"{'graph':<6} {'ops':>6} {'first (s)':>10} {'optimize (s)':>13} {'plan (s)':>9} "
          f"{'ms/op':>7}")
    for shape in args.shapes.split(","):
        for size in map(int, args.sizes.split(",")):
            r = measure(shape, size)
            print(f"{r['shape']:<6} {r['ops']:>6} {r['first']:>10.2f} {r['optimize']:>13.3f} "
                  f"{r['plan']:>9.3f} {r['per_op_ms']:>7.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
