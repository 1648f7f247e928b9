"""The cost of a tf.while_loop's iterations: graphjit against a plain Python/NumPy loop and a
hand-written Numba loop computing the same, in one process, interleaved.

Two loops of `--iterations` iterations (default 1000) with tiny loop variables, where the
loop driver is all there is:

- tiny: `i, x = i + 1, x * 0.5 + 1` while `i < n` (x: 8 float32), one fused kernel a step;
- fused2: `i, x, s = i + 1, tanh(x) * a + b, s + sum(x)` (x: 64 float32, a and b captured
  from the outer graph), an elementwise kernel and a reduction a step;

and, where ONNX Runtime is installed, the if/while model torch.onnx.export wrote
(tests/onnx/torch_models/control_flow.onnx, at most 10 iterations) against it.
Each row: the median microseconds per loop iteration (per call for the ONNX model) over
`--rounds` interleaved rounds, and its ratio to the plain NumPy loop (to ONNX Runtime).

"graphjit" runs its loops natively (the driver is made once a loop ran 64 iterations,
at the warm-up), "graphjit host" from Python through the cond's and body's per-plan
runners (what loops that cannot run natively get).

    python benchmarks/loops.py [--iterations 1000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

import graphjit as tf

F32 = np.float32
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "tests", "onnx", "torch_models")


def graphjit_tiny():
    g = tf.Graph()
    with g.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float32, [8], name="x")
        _, y = tf.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, v * 0.5 + 1.0),
                             [tf.constant(0), x])
    return tf.compile(y, feeds=[n, x])


def graphjit_fused2():
    g = tf.Graph()
    with g.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float32, [64], name="x")
        a = tf.placeholder(tf.float32, [64], name="a")
        b = tf.placeholder(tf.float32, [64], name="b")
        _, y, s = tf.while_loop(
            lambda i, v, t: i < n,
            lambda i, v, t: (i + 1, tf.tanh(v) * a + b, t + tf.reduce_sum(v)),
            [tf.constant(0), x, tf.constant(0.0)])
    return tf.compile([y, s], feeds=[n, x, a, b])


def on_host(fn):
    """`fn` with its loops kept on the host loop (per-plan runners, no native driver)."""
    from graphjit.lower import while_loop

    def call(*args):
        threshold = while_loop.NATIVE_AFTER_ITERATIONS
        while_loop.NATIVE_AFTER_ITERATIONS = float("inf")
        try:
            return fn(*args)
        finally:
            while_loop.NATIVE_AFTER_ITERATIONS = threshold
    return call


def numpy_tiny(n, x):
    i = 0
    while i < n:
        i, x = i + 1, x * F32(0.5) + F32(1)
    return x


def numpy_fused2(n, x, a, b):
    i, s = 0, F32(0)
    while i < n:
        i, x, s = i + 1, np.tanh(x) * a + b, s + x.sum()
    return [x, s]


def numba_loops():
    import numba

    @numba.njit(cache=False, nogil=True)
    def tiny(n, x):
        x = x.copy()
        for _ in range(n):
            for k in range(x.size):
                x[k] = x[k] * F32(0.5) + F32(1)
        return x

    @numba.njit(cache=False, nogil=True)
    def fused2(n, x, a, b):
        x, y = x.copy(), np.empty_like(x)
        s = F32(0)
        for _ in range(n):
            t = F32(0)
            for k in range(x.size):
                t += x[k]
                y[k] = np.tanh(x[k]) * a[k] + b[k]
            s += t
            x, y = y, x
        return x, s
    return tiny, fused2


def loop_workloads(iterations: int):
    rng = np.random.default_rng(0)
    n = np.int32(iterations)
    x8 = rng.standard_normal(8, dtype=F32)
    x64, a, b = (rng.standard_normal(64, dtype=F32) * F32(0.5) for _ in range(3))
    tiny, fused2 = numba_loops()
    return [
        ("tiny: x * 0.5 + 1, x of 8 float32", (n, x8), [
            ("graphjit", graphjit_tiny()), ("graphjit host", on_host(graphjit_tiny())),
            ("NumPy loop", numpy_tiny), ("Numba loop", tiny)]),
        ("fused2: tanh(x) * a + b and s + sum(x), x of 64 float32", (n, x64, a, b), [
            ("graphjit", graphjit_fused2()), ("graphjit host", on_host(graphjit_fused2())),
            ("NumPy loop", numpy_fused2), ("Numba loop", fused2)]),
    ]


def _seconds(fn, inputs, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(*inputs)
    return (time.perf_counter() - start) / calls


def _agree(got, want) -> bool:
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    return all(np.allclose(np.asarray(g, np.float64), np.asarray(w, np.float64),
                           rtol=1e-4, atol=1e-4) for g, w in zip(got, want))


def run_loops(iterations: int, rounds: int) -> None:
    for title, inputs, systems in loop_workloads(iterations):
        reference = systems[2][1](*inputs)
        for name, fn in systems:  # warm-up: compiles (a second call: the native loop)
            fn(*inputs)
            if not _agree(fn(*inputs), reference):
                raise SystemExit(f"{title}: {name} computed a wrong result")
        samples: dict[str, list[float]] = {name: [] for name, _ in systems}
        for r in range(rounds):
            turn = systems[r % len(systems):] + systems[:r % len(systems)]
            for name, fn in turn:
                samples[name].append(_seconds(fn, inputs, 3) / iterations * 1e6)
        base = statistics.median(samples["NumPy loop"])
        print(f"{title}  ({iterations} iterations, median of {rounds} rounds)")
        for name, _ in systems:
            us = statistics.median(samples[name])
            print(f"  {name:<14} {us:9.3f} us/iteration  {us / base:6.2f}x NumPy loop")


def run_control_flow(rounds: int) -> None:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        print("control_flow.onnx: onnx or onnxruntime not installed, skipped")
        return
    import graphjit.onnx as gjx

    model = onnx.load(os.path.join(FIXTURES, "control_flow.onnx"))
    with np.load(os.path.join(FIXTURES, "control_flow.npz"), allow_pickle=False) as data:
        inputs = {k[3:]: data[k] for k in data.files if k.startswith("in_")}
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    fn = gjx.import_model(model).compile()
    systems = [("graphjit", lambda: fn(**inputs)), ("ONNX Runtime",
                                                     lambda: session.run(None, inputs))]
    for _ in range(10):  # warm-up: the native loop is made once it ran 64 iterations
        systems[0][1]()
    got, want = systems[0][1](), systems[1][1]()
    if not _agree(list(got) if isinstance(got, (list, tuple)) else got, want[0]):
        raise SystemExit("control_flow.onnx: graphjit and ONNX Runtime disagree")
    samples: dict[str, list[float]] = {name: [] for name, _ in systems}
    for r in range(rounds):
        for name, call in (systems if r % 2 else systems[::-1]):
            samples[name].append(_seconds(call, (), 200) * 1e6)
    base = statistics.median(samples["ONNX Runtime"])
    print(f"control_flow.onnx (if + while, at most 10 iterations; median of {rounds} rounds)")
    for name, _ in systems:
        us = statistics.median(samples[name])
        print(f"  {name:<14} {us:9.3f} us/call  {us / base:6.2f}x ONNX Runtime")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    run_loops(args.iterations, args.rounds)
    run_control_flow(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
