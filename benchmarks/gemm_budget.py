"""W4, W5 and the small MLP under each way graphjit can thread its GEMMs, beside NumPy.

graphjit has two switches for products by fed weights and the thread budget, both off as
shipped: graphjit.lower.fed_matmul.ENABLED (products of many rows by fed weights become
a packing kernel and the tile kernel, threaded on graphjit's pool) and
codegen.blas.POOL_SPLIT (a BLAS call given more than one thread runs as one-thread
blocks on graphjit's pool instead of on BLAS's threads). Each of their four combinations
runs in a process of its own beside NumPy, interleaved call by call, each result checked
against the float64 reference first: the switches act on process-wide state (BLAS's
workers, graphjit's measured wake cost), so two combinations in one process would time
each other's leftovers (W4 as shipped took 2.1 ms there, 1.4 ms alone). The processes
take turns for --rounds rounds; the table gives, per combination, the medians over the
rounds of the median wall and process CPU time per call (BLAS's workers spin after each
call: their CPU shows there) and of the ratio to NumPy in the same process.

    python benchmarks/gemm_budget.py [--only W4 W5 MLP] [--reps 200] [--rounds 3] [--busy 0]

Turn a switch on only where this shows it faster on a quiet machine and not slower
beside `--busy 2` background processes (as benchmarks/contention.py loads the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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


def systems(wid: str, config: str) -> dict:
    import graphjit as tf
    from codegen import blas
    from graphjit.lower import fed_matmul

    # (ENABLED is read when a plan is made, POOL_SPLIT on every GEMM call)
    fed_matmul.ENABLED, blas.POOL_SPLIT = CONFIGS[config]
    inputs, reference, build, np_call = _case(wid)
    fn = build(tf)
    calls = {"graphjit": lambda: fn(*inputs), "NumPy": np_call}
    for name, call in calls.items():
        contention._check(f"{wid} {name}", workloads.warm_up(call), reference)
    return calls


def measure(calls: dict, reps: int) -> dict:
    """Median (wall ms, CPU ms) per call of each of `calls`, interleaved."""
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


def one_process(wid: str, config: str, reps: int) -> None:
    """Time one combination beside NumPy; print graphjit's and NumPy's wall and CPU
    medians as JSON on the last line."""
    calls = systems(wid, config)
    workloads.wait_graphjit_settled()
    result = measure(calls, reps)
    print(json.dumps({"graphjit": result["graphjit"], "NumPy": result["NumPy"]}))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", default=["W4", "W5", "MLP"])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--busy", type=int, default=0, help="background spinning processes")
    ap.add_argument("--one", nargs=2, metavar=("WID", "CONFIG"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        one_process(args.one[0], args.one[1], args.reps)
        return
    print(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}")
    procs = contention.spinners(args.busy)
    try:
        for wid in args.only:
            got = {c: [] for c in CONFIGS}
            for _ in range(args.rounds):
                for config in CONFIGS:
                    out = subprocess.run(
                        [sys.executable, __file__, "--one", wid, config, "--reps",
                         str(args.reps)], check=True, capture_output=True, text=True)
                    got[config].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"\n{wid} (medians of {args.rounds} rounds of {args.reps} calls, "
                  f"{args.busy} busy processes; load average now {os.getloadavg()[0]:.2f})")
            print(f"{'graphjit':24s} {'wall ms':>8s} {'cpu ms':>8s} {'NumPy wall':>11s} "
                  f"{'NumPy cpu':>10s} {'/NumPy':>7s}")
            for config, runs in got.items():
                def med(f, runs=runs):
                    return statistics.median(f(r) for r in runs)
                print(f"{config:24s} {med(lambda r: r['graphjit'][0]):8.3f} "
                      f"{med(lambda r: r['graphjit'][1]):8.3f} "
                      f"{med(lambda r: r['NumPy'][0]):11.3f} {med(lambda r: r['NumPy'][1]):10.3f} "
                      f"{med(lambda r: r['graphjit'][0] / r['NumPy'][0]):7.2f}")
    finally:
        contention.stop(procs)


if __name__ == "__main__":
    main()
