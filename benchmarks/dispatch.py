"""Per-call cost of a compiled function on tiny inputs, where dispatch is all there is.

Two graphs, each against NumPy eager and hand-written Numba computing the same:

- W6: `a*b + c` on three float32 arrays of 8 elements (one kernel);
- small3: a (4, 8) float32 input through a 3-step graph, `relu(tanh(x*w + b) @ W + c)`:
  a fused kernel, a matmul (a library call), a fused kernel.

The systems run interleaved (one sample of each in turn, `--repeats` rounds of
`--inner` calls per sample); each row is the median microseconds per call and its
ratio to NumPy eager in the same run. The target is graphjit within 1.5x NumPy eager.

    python benchmarks/dispatch.py [--repeats 21] [--inner 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import graphjit_fma  # noqa: E402

import graphjit as tf  # noqa: E402

F32 = np.float32


def graphjit_small3():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8], name="x")
        w = tf.placeholder(tf.float32, [8], name="w")
        b = tf.placeholder(tf.float32, [8], name="b")
        m = tf.placeholder(tf.float32, [8, 8], name="m")
        c = tf.placeholder(tf.float32, [8], name="c")
        tf.nn.relu(tf.matmul(tf.tanh(x * w + b), m) + c, name="small3")
    return tf.compile(g)


def numpy_small3(x, w, b, m, c):
    return np.maximum(np.tanh(x * w + b) @ m + c, 0)


def numba_kernels():
    import numba

    @numba.njit(cache=False, nogil=True)
    def fma(a, b, c):
        return a * b + c

    @numba.njit(cache=False, nogil=True)
    def small3(x, w, b, m, c):
        rows, inner = x.shape
        t = np.empty_like(x)
        for i in range(rows):
            for k in range(inner):
                t[i, k] = np.tanh(x[i, k] * w[k] + b[k])
        out = np.empty((rows, m.shape[1]), x.dtype)
        for i in range(rows):
            for j in range(m.shape[1]):
                s = c[j]
                for k in range(inner):
                    s += t[i, k] * m[k, j]
                out[i, j] = max(s, F32(0))
        return out
    return fma, small3


def workloads():
    rng = np.random.default_rng(0)
    abc = tuple(rng.standard_normal(8, dtype=F32) for _ in range(3))
    xwb = (rng.standard_normal((4, 8), dtype=F32), rng.standard_normal(8, dtype=F32),
           rng.standard_normal(8, dtype=F32), rng.standard_normal((8, 8), dtype=F32),
           rng.standard_normal(8, dtype=F32))
    fma, small3 = numba_kernels()
    w6 = graphjit_fma(tf, 8)
    s3 = graphjit_small3()
    return [
        ("W6 a*b+c, 8 float32", abc, abc[0].astype(np.float64) * abc[1] + abc[2], [
            ("graphjit", w6), ("NumPy eager", lambda a, b, c: a * b + c),
            ("Numba njit", fma)]),
        ("small3: relu(tanh(x*w+b) @ W + c), x (4, 8)", xwb, numpy_small3(*(
            v.astype(np.float64) for v in xwb)), [
            ("graphjit", s3), ("NumPy eager", numpy_small3), ("Numba njit", small3)]),
    ]


def per_call_us(fn, inputs, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn(*inputs)
    return (time.perf_counter() - start) / inner * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--inner", type=int, default=2000)
    args = parser.parse_args(argv)
    for title, inputs, reference, systems in workloads():
        for name, fn in systems:  # warm-up: compiles, and checks every result
            got = fn(*inputs)
            if not np.allclose(got, reference, rtol=1e-5, atol=1e-5):
                raise SystemExit(f"{title}: {name} computed a wrong result")
        samples = {name: [] for name, _ in systems}
        for _ in range(args.repeats):
            for name, fn in systems:
                samples[name].append(per_call_us(fn, inputs, args.inner))
        numpy_us = statistics.median(samples["NumPy eager"])
        print(f"{title}  (median of {args.repeats} x {args.inner} calls)")
        for name, _ in systems:
            us = statistics.median(samples[name])
            print(f"  {name:<12} {us:8.3f} us/call  {us / numpy_us:5.2f}x NumPy")


if __name__ == "__main__":
    main()
