"""Memory over long runs: resident set size (RSS) as a compiled function is called many
times, planned for many input shapes, and as many distinct graphs are compiled.

Four workloads, each in the same process, RSS printed as it goes:

- calls: 10^5 calls of a small dense layer (x @ W + b, tanh, row sum; W 16x32 constant)
  at one fixed batch size of 64. Target: flat (nothing accumulates per call).
- shapes: the same graph called once at each of 2,000 distinct batch sizes (1..2000 in
  a shuffled order), then dropped (`del fn`). Each new shape is a new plan; plans are
  kept least recently used up to the function's limit (`max_plans`), so RSS must level
  off once that many are held, and come back down once the function is dropped.
- mlp shapes: a 512-wide MLP whose weights are constants (512 -> 512 -> 512 -> 10, about
  2 MB of weights) at 600 distinct batch sizes (shuffled), then dropped: the constants
  are held once per function, not once per plan.
- graphs: 200 distinct graphs (a chain of elementwise ops whose scalar constants make
  every kernel different), each compiled and called, all kept; then all dropped; then
  the same 200 again, each dropped at once. Unless GRAPHJIT_CACHE_DIR is set, the
  kernel cache starts empty (a temporary folder): every kernel compiles from scratch.
  graphjit releases kernels no function uses (but the 64 asked for last), yet Numba
  and LLVM keep what they made of each kernel for the life of the process, so this
  RSS grows with the number of distinct kernels and does not come back down.

"after malloc_trim(0)" is RSS once the C allocator has returned its free pages: freed
memory it keeps for reuse shows in the plain RSS figures but is no leak.

    python benchmarks/memory.py [--quick] [--only calls,shapes,mlp,graphs] [--max-plans N]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except OSError:  # pragma: no cover - not Linux
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def trimmed_rss_mb() -> float:
    """RSS once glibc has returned its free pages to the system: what freed memory the
    allocator keeps for reuse is not a leak (elsewhere: plain RSS)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
    return rss_mb()


def dense(tf, width: int = 16):
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, width], name="x")
        w = tf.constant(rng.standard_normal((width, 32)).astype(np.float32))
        b = tf.constant(rng.standard_normal(32).astype(np.float32))
        y = tf.reduce_sum(tf.tanh(tf.matmul(x, w) + b), axis=1)
    return g, y, x


def mlp(tf, width: int = 512):
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, width], name="x")
        h = x
        for fan_out in (width, width, 10):
            w = rng.standard_normal((h.shape[1], fan_out)).astype(np.float32) / 32
            h = tf.matmul(h, tf.constant(w)) + tf.constant(np.zeros(fan_out, np.float32))
            if fan_out != 10:
                h = tf.nn.relu(h)
    return g, h, x


def chain(tf, i: int):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        y = tf.tanh(x * (1.0 + i / 1000.0)) + float(i)
        z = tf.reduce_sum(y * y - x)
    return g, z, x


def report(label: str, start: float, rows: list[tuple[str, float]]) -> None:
    print(f"\n{label}")
    print(f"  {'':<28} {'RSS MB':>8} {'growth':>8}")
    print(f"  {'start':<28} {start:>8.1f} {0:>8.1f}")
    for name, value in rows:
        print(f"  {name:<28} {value:>8.1f} {value - start:>+8.1f}")


def bench_calls(tf, n: int) -> None:
    g, y, x = dense(tf)
    fn = tf.compile(g, fetches=y, feeds=[x])
    batch = np.random.default_rng(1).standard_normal((64, 16)).astype(np.float32)
    fn(batch)
    start, rows, t0 = rss_mb(), [], time.perf_counter()
    step = max(n // 5, 1)
    for i in range(1, n + 1):
        fn(batch)
        if i % step == 0:
            rows.append((f"after {i:,} calls", rss_mb()))
    per_call = (time.perf_counter() - t0) / n * 1e6
    report(f"calls: {n:,} calls at batch 64 ({per_call:.1f} us per call)", start, rows)


def bench_shapes(tf, make, label: str, n: int, max_plans: int | None) -> None:
    g, y, x = make(tf)
    kwargs = {} if max_plans is None else {"max_plans": max_plans}
    fn = tf.compile(g, fetches=y, feeds=[x], **kwargs)
    width = x.shape[1]
    rng = np.random.default_rng(2)
    data = rng.standard_normal((n, width)).astype(np.float32)
    fn(data[:1])  # compiles the kernels: RSS from here on is plans
    gc.collect()
    start, rows = rss_mb(), []
    step = max(n // 5, 1)
    t0 = time.perf_counter()
    for i, batch in enumerate(rng.permutation(n) + 1, 1):
        fn(data[:batch])
        if i % step == 0:
            rows.append((f"after {i:,} batch sizes", rss_mb()))
    seconds = time.perf_counter() - t0
    plans = len(getattr(fn, "_executors", ()))
    held = sum(e[1].peak_bytes() + e[1].output_bytes()
               for e in getattr(fn, "_executors", {}).values()) / 2**20
    del fn
    rows.append(("after del fn", rss_mb()))
    gc.collect()
    rows.append(("after gc.collect()", rss_mb()))
    rows.append(("after malloc_trim(0)", trimmed_rss_mb()))
    report(f"{label}: {n:,} batch sizes in {seconds:.1f} s; {plans} plans held at the end, "
           f"their buffers and outputs {held:.1f} MB", start, rows)


def bench_graphs(tf, n: int) -> None:
    from codegen import numba_backend
    data = np.linspace(-1, 1, 100, dtype=np.float32)

    def run(i):
        g, z, x = chain(tf, i)
        fn = tf.compile(g, fetches=z, feeds=[x])
        fn(data)
        return fn

    gc.collect()
    start, rows, fns = rss_mb(), [], []
    step = max(n // 4, 1)
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        fns.append(run(i))
        if i % step == 0:
            rows.append((f"after {i} graphs (all kept)", rss_mb()))
    seconds = time.perf_counter() - t0
    del fns
    rows.append(("after del of every fn", rss_mb()))
    gc.collect()
    rows.append(("after gc.collect()", rss_mb()))
    rows.append(("after malloc_trim(0)", trimmed_rss_mb()))
    held = len(numba_backend._live)
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        run(i)  # dropped at once
    again = time.perf_counter() - t0
    gc.collect()
    rows.append(("the same graphs again", rss_mb()))
    report(f"graphs: {n} distinct graphs compiled in {seconds:.1f} s, again in {again:.1f} s; "
           f"graphjit held {held} kernels once they were dropped (its recent ones)",
           start, rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--only", default="calls,shapes,mlp,graphs")
    parser.add_argument("--max-plans", type=int, default=None,
                        help="compile(..., max_plans=N) (default: graphjit's default)")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if "GRAPHJIT_CACHE_DIR" not in os.environ:  # a cold kernel cache, removed at exit
        folder = tempfile.TemporaryDirectory(prefix="graphjit-memory-")
        os.environ["GRAPHJIT_CACHE_DIR"] = folder.name
    import graphjit as tf
    print(f"RSS after importing graphjit: {rss_mb():.1f} MB")
    if "calls" in only:
        bench_calls(tf, 10_000 if args.quick else 100_000)
    if "shapes" in only:
        bench_shapes(tf, dense, "shapes (dense layer)", 200 if args.quick else 2000,
                     args.max_plans)
    if "mlp" in only:
        bench_shapes(tf, mlp, "mlp shapes (512-wide, constant weights)",
                     100 if args.quick else 600, args.max_plans)
    if "graphs" in only:
        bench_graphs(tf, 20 if args.quick else 200)


if __name__ == "__main__":
    main()
