"""Where W4's and W5's time goes, graphjit beside NumPy's hand-written version, in one process:
every GEMM alone (np.matmul with the shapes and transposed views both versions use, on two
BLAS threads and on one), graphjit's non-GEMM steps (fn.profile), NumPy's non-GEMM work
(the same expressions as benchmarks/workloads.mlp_forward_backward on precomputed
operands), the whole calls and the floor: the GEMMs alone at their faster thread count,
which no epilogue fusion can beat while the GEMMs are BLAS's.

Everything is timed in rounds that take turns item by item (medians over the rounds of
each round's median), so load from other processes hits all items alike.

    python benchmarks/mlp_breakdown.py [--rounds 7] [--reps 30] [--batch 512]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # as benchmarks/run.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import workloads  # noqa: E402


def gemms(inputs, backward: bool) -> list[tuple[str, object, object]]:
    """(name, a, b) of each product the workload runs, as views in the layout NumPy's
    version (and graphjit's extern kernels: matmul(transpose(in0), in1)) hands BLAS."""
    x, labels, w1, b1, w2, b2, w3, b3 = inputs
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    dz = np.ones((x.shape[0], w3.shape[1]), np.float32)
    dh2 = np.ones_like(h2)
    dh1 = np.ones_like(h1)
    out = [("x @ W1", x, w1), ("h1 @ W2", h1, w2), ("h2 @ W3", h2, w3)]
    if backward:
        out += [("dz @ W3.T", dz, w3.T), ("h2.T @ dz", h2.T, dz),
                ("dh2 @ W2.T", dh2, w2.T), ("h1.T @ dh2", h1.T, dh2),
                ("x.T @ dh1", x.T, dh1)]
    return out


def numpy_epilogues(inputs, backward: bool) -> list[tuple[str, object]]:
    """NumPy's non-GEMM work, piece by piece, on operands computed once."""
    x, labels, w1, b1, w2, b2, w3, b3 = inputs
    a1 = x @ w1
    h1 = np.maximum(a1 + b1, 0)
    a2 = h1 @ w2
    h2 = np.maximum(a2 + b2, 0)
    a3 = h2 @ w3
    rows = np.arange(x.shape[0])

    def head():
        z = a3 + b3
        z = z - z.max(-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
        loss = -log_p[rows, labels].mean()
        if backward:
            dz = np.exp(log_p)
            dz[rows, labels] -= 1
            dz /= x.shape[0]
            dz.sum(0)
        return loss
    g2, g1 = np.ones_like(h2), np.ones_like(h1)
    out = [("bias + relu 1", lambda: np.maximum(a1 + b1, 0)),
           ("bias + relu 2", lambda: np.maximum(a2 + b2, 0)),
           ("bias 3 + log-softmax + loss" + (" + dz, db3" if backward else ""), head)]
    if backward:
        out += [("relu grad 2: g * (h2 > 0)", lambda: g2 * (h2 > 0)),
                ("bias grad 2: dh2.sum(0)", lambda: g2.sum(0)),
                ("relu grad 1: g * (h1 > 0)", lambda: g1 * (h1 > 0)),
                ("bias grad 1: dh1.sum(0)", lambda: g1.sum(0))]
    return out


def _set_threads(libs, n: int) -> None:
    """BLAS's thread count through its own symbol (codegen.blas: ~0.3 us, where
    threadpoolctl's context manager took ~200 us, more than some of the GEMMs timed)."""
    for lib in libs:
        lib.set_num_threads(n)


def _materialized(fn) -> None:
    """What graphjit's plan holds besides the products: copy or transpose steps (none
    expected: extern calls take transposed views, BLAS's trans flags) and its buffers."""
    kinds: dict[str, int] = {}
    copies = []
    for k in fn.kernels:
        text = str(k)
        kind = text.split()[0].lstrip("<")
        kinds[kind] = kinds.get(kind, 0) + 1
        if any(w in text.lower() for w in ("transpose", "copy", "identity")):
            copies.append(text)
    mem = fn.memory()
    print(f"  steps {kinds}; copy/transpose steps: {copies or 'none'}; planned peak "
          f"{mem['planned_peak_bytes'] / 1e6:.2f} MB in {len(mem['buffers'])} buffers "
          f"(intermediates {mem['intermediate_bytes'] / 1e6:.2f} MB before reuse)")


def _median_time(call, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) * 1e-9


def breakdown(wid: str, backward: bool, inputs, rounds: int, reps: int, target: float) -> None:
    """Time one workload's items in `rounds` rounds and print its table."""
    import graphjit as tf
    from codegen import blas

    libs = blas.blas_libraries()
    user = blas.blas_threads()
    fn = workloads.graphjit_mlp(tf, backward=backward)
    workloads.warm_up(lambda: fn(*inputs))
    items: dict[str, object] = {}
    flops = 0
    for name, a, b in gemms(inputs, backward):
        out = np.empty((a.shape[0], b.shape[1]), np.float32)
        flops += 2 * a.shape[0] * a.shape[1] * b.shape[1]
        for threads in (user, 1):
            def call(a=a, b=b, out=out, threads=threads):
                _set_threads(libs, threads)
                np.matmul(a, b, out=out)
            items[f"GEMM {name} {a.shape[0]}x{a.shape[1]}x{b.shape[1]} [{threads} thr]"] = call
    for name, call in numpy_epilogues(inputs, backward):
        items[f"NumPy {name}"] = call
    items["graphjit call"] = lambda: fn(*inputs)
    items["NumPy call"] = lambda: workloads.mlp_forward_backward(*inputs, backward=backward)
    times: dict[str, list] = {k: [] for k in items}
    profiles: dict[tuple, list] = {}
    for _ in range(rounds):
        for key, call in items.items():
            call()
            times[key].append(_median_time(call, reps))
            _set_threads(libs, user)  # (NumPy's calls run on the user's threads)
        report = fn.profile(*inputs, repeat=reps)
        for i, k in enumerate(report.kernels):
            profiles.setdefault((i, k.name, k.kind), []).append(k.mean_s)
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    low = {k: min(v) * 1e6 for k, v in times.items()}
    print(f"\n{wid}: {flops / 1e9:.3f} GFLOP a call; medians of {rounds} rounds of {reps} "
          f"calls, us (min of the rounds after /)")
    _materialized(fn)
    best = many = 0.0  # (from the rounds' minima: the floor is what the GEMMs can reach)
    for name, a, b in gemms(inputs, backward):
        shape = f"{a.shape[0]}x{a.shape[1]}x{b.shape[1]}"
        key2, key1 = f"GEMM {name} {shape} [{user} thr]", f"GEMM {name} {shape} [1 thr]"
        f = 2 * a.shape[0] * a.shape[1] * b.shape[1]
        print(f"  GEMM {name:<12} {shape:<13} {user} thr {med[key2]:7.1f} / {low[key2]:7.1f} "
              f"({f / low[key2] / 1e3:4.0f} GFLOP/s)   1 thr {med[key1]:7.1f} / "
              f"{low[key1]:7.1f} ({f / low[key1] / 1e3:4.0f} GFLOP/s)")
        best += min(low[key1], low[key2])
        many += low[key2]
    np_rest = 0.0
    for key, us in med.items():
        if key.startswith("NumPy ") and key != "NumPy call":
            print(f"  {key:<54} {us:7.1f} / {low[key]:7.1f}")
            np_rest += low[key]
    print("  graphjit's steps (fn.profile, median / min of the rounds' means):")
    gj_gemm = gj_rest = 0.0
    for (_, name, kind), v in profiles.items():
        us = min(v) * 1e6
        gj_gemm += us if kind == "extern" else 0.0
        gj_rest += 0.0 if kind == "extern" else us
        print(f"    {name[:52]:<52} {kind:<7} {statistics.median(v) * 1e6:7.1f} / {us:7.1f}")
    gj, nc = low["graphjit call"], low["NumPy call"]
    print(f"  sums of minima: GEMMs alone on {user} threads {many:.1f}, the faster thread count "
          f"each {best:.1f} = the floor ({flops / best / 1e3:.0f} GFLOP/s); NumPy's non-GEMM "
          f"pieces {np_rest:.1f}; graphjit's extern steps {gj_gemm:.1f}, other steps "
          f"{gj_rest:.1f} (profiled)")
    print(f"  calls: graphjit {med['graphjit call']:.1f} / {gj:.1f}, NumPy "
          f"{med['NumPy call']:.1f} / {nc:.1f} -> {med['graphjit call'] / med['NumPy call']:.2f}"
          f" / {gj / nc:.2f}; the floor is {best / nc:.2f}x NumPy's call (min) and "
          f"{best / (many + np_rest):.2f}x its GEMMs and pieces alone; {target}x NumPy's call "
          f"is {target * nc:.1f}, {target * nc - best:+.1f} beside the floor")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args(argv)
    from codegen import blas

    # glibc's malloc serves an array of 512 KB from fresh pages (mmap, or a heap it trimmed
    # on the last free) until a large block was freed; NumPy's version, which allocates
    # every intermediate, then page-faults on each call (W4 1.77 against 1.31 ms, 240,000
    # minor faults against 6,500 in 200 calls). benchmarks/run.py's earlier workloads free
    # such blocks (of at most 32 MB, glibc's cap); so does this: NumPy is timed as there.
    np.ones(1 << 22, np.float32).sum()
    inputs = workloads.mlp_inputs(np.random.default_rng(0), args.batch)
    print(f"BLAS threads (user): {blas.blas_threads()}; batch {args.batch}")
    for wid, backward, target in (("W4", False, 0.8), ("W5", True, 0.9)):
        breakdown(wid, backward, inputs, args.rounds, args.reps, target)


if __name__ == "__main__":
    main()
