"""W4, W5 and the small MLP under each way graphjit can thread its GEMMs, beside NumPy.

graphjit has two switches for products by fed weights and the thread budget, both off as
shipped: graphjit.lower.fed_matmul.ENABLED (products of many rows by fed weights become
a packing kernel and the tile kernel, threaded on graphjit's pool) and
codegen.blas.POOL_SPLIT (a BLAS call given more than one thread runs as one-thread
blocks on graphjit's pool instead of on BLAS's threads). Their four combinations run
here in one process, interleaved (rotating order) with NumPy, each result checked
against the float64 reference first; the table gives the median of wall time and of
process CPU time per call (BLAS's workers spin after each call: their CPU shows there).

    python benchmarks/gemm_budget.py [--only W4 W5 MLP] [--reps 300] [--busy 0]

Turn a switch on only where this shows it faster on a quiet machine and not slower
beside `--busy 2` background processes (as benchmarks/contention.py loads the cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # as benchmarks/run.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import contention  # noqa: E402
import numpy as np  # noqa: E402
import small_models  # noqa: E402
import workloads  # noqa: E402

CONFIGS = {"shipped": (False, False), "pool split": (False, True),
           "fed tiles": (True, False), "fed tiles + pool split": (True, True)}


def _case(wid: str):
    """(inputs, reference outputs, graphjit builder taking tf, NumPy call)."""
    if wid == "MLP":
        _, _, x, reference, build, np_call = small_models.models()[0]
        return (x,), (reference,), build, np_call
    backward = wid == "W5"
    inputs = workloads.mlp_inputs(np.random.default_rng(0), 512)
    return (inputs, workloads.mlp_ref(*inputs, backward=backward),
            lambda tf: workloads.graphjit_mlp(tf, backward=backward),
            lambda: workloads.mlp_forward_backward(*inputs, backward=backward))


def systems(wid: str) -> dict:
    import graphjit as tf
    from codegen import blas
    from graphjit.lower import fed_matmul

    inputs, reference, build, np_call = _case(wid)
    calls = {}
    for label, (fed, split) in CONFIGS.items():
        fn = build(tf)

        def call(fn=fn, fed=fed, split=split):
            fed_matmul.ENABLED, blas.POOL_SPLIT = fed, split  # read when a plan is made
            return fn(*inputs)  # (fed) and on every GEMM call (split)
        calls[f"graphjit, {label}"] = call
    calls["NumPy"] = np_call
    for name, call in calls.items():
        contention._check(f"{wid} {name}", workloads.warm_up(call), reference)
    return calls


def measure(calls: dict, reps: int) -> dict:
    names = list(calls)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            c0, w0 = time.process_time_ns(), time.perf_counter_ns()
            calls[name]()
            wall[name].append(time.perf_counter_ns() - w0)
            cpu[name].append(time.process_time_ns() - c0)
    return {n: (np.median(wall[n]) * 1e-6, np.median(cpu[n]) * 1e-6) for n in names}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", default=["W4", "W5", "MLP"])
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--busy", type=int, default=0, help="background spinning processes")
    args = ap.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}")
    for wid in args.only:
        calls = systems(wid)
        workloads.wait_graphjit_settled()
        procs = contention.spinners(args.busy)
        try:
            time.sleep(0.5 if procs else 0)
            result = measure(calls, args.reps)
        finally:
            contention.stop(procs)
        numpy_wall = result["NumPy"][0]
        print(f"\n{wid} (median of {args.reps}, {args.busy} busy processes; "
              f"load average now {os.getloadavg()[0]:.2f})")
        print(f"{'system':36s} {'wall ms':>8s} {'cpu ms':>8s} {'/NumPy':>7s}")
        for name, (w, c) in result.items():
            print(f"{name:36s} {w:8.3f} {c:8.3f} {w / numpy_wall:7.2f}")


if __name__ == "__main__":
    main()
