"""graphjit against NumPy on a quiet machine and with busy background processes.

The workloads W1-W6 (benchmarks/workloads.py) and four small models
(benchmarks/small_models.py) run in this one process, graphjit and NumPy interleaved,
first quiet, then with `--busy` processes spinning in pure Python (default: two), and
again for `--rounds` rounds; each output is checked against the float64 reference
first. The tables give medians, then means, of all samples, the ratio graphjit / NumPy
in each condition, and each system's slowdown from quiet to loaded.

    python benchmarks/contention.py              # ~2 minutes on 2 cores
    python benchmarks/contention.py --quick      # smaller W1-W5, fewer repeats
    python benchmarks/contention.py --only W2,MLP --busy 2 --rounds 3

graphjit's thread budget decides the outcome: helpers wake only for work worth their
wake-up (measured), and BLAS gets one thread when the cores are held by others. A
"quiet" run on a machine shared with other work is not quiet: the load average is
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

# As benchmarks/run.py: Numba's OpenMP layer spin-waits (see its docstring).
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import small_models  # noqa: E402
import workloads  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5
SPIN = "while True: pass"
NUMPY_1 = "NumPy, 1 BLAS thread"


def one_blas_thread(call):
    """`call` with BLAS on one thread (the user's setting put back after)."""
    from codegen import blas

    def run():
        libs = blas.blas_libraries()
        before = [lib.get_num_threads() for lib in libs]
        for lib in libs:
            lib.set_num_threads(1)
        try:
            return call()
        finally:
            for lib, n in zip(libs, before):
                lib.set_num_threads(n)
    return run


class Case:
    """One workload: graphjit's and NumPy's calls, inner calls per sample, unit."""

    def __init__(self, wid, title, calls, reference, reps, inner=1, unit="ms"):
        self.wid, self.title, self.calls, self.reference = wid, title, calls, reference
        self.reps, self.inner, self.unit = reps, inner, unit
        self.samples = {(system, cond): [] for system in calls for cond in ("quiet", "loaded")}


def _check(name, out, reference):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for got, ref in zip(outs, reference):
        got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
        tol = ATOL * max(1.0, float(np.abs(ref).max())) + RTOL * np.abs(ref)
        if got.shape != ref.shape or not (np.abs(got - ref) <= tol).all():
            raise AssertionError(f"{name}: result differs from the float64 reference")


def cases(quick: bool, only: set | None) -> list[Case]:
    import graphjit as tf

    out = []
    for w in workloads.make_workloads(quick, lambda wid: []):
        if only and w.id not in only:
            continue
        systems = dict(w.systems)
        calls = {}
        for name in (workloads.GRAPHJIT, workloads.NUMPY):
            _, call = systems[name](*w.inputs)
            calls[name] = call
        if w.id in ("W4", "W5"):
            calls[NUMPY_1] = one_blas_thread(calls[workloads.NUMPY])
        reps = max(5, w.reps // 2) if w.id == "W1" else w.reps
        out.append(Case(w.id, w.title, calls, w.reference, reps, w.inner, w.unit))
    for mid, title, x, reference, build, np_call in small_models.models():
        if only and mid not in only:
            continue
        fn = build(tf)
        out.append(Case(mid, title, {workloads.GRAPHJIT: lambda fn=fn, x=x: fn(x),
                                     workloads.NUMPY: np_call,
                                     NUMPY_1: one_blas_thread(np_call)},
                        (reference,), reps=20 if quick else 60))
    for c in out:
        for name, call in c.calls.items():
            _check(f"{c.wid} {name}", workloads.warm_up(call), c.reference)
    workloads.wait_graphjit_settled()
    return out


def measure(case: Case, cond: str) -> None:
    names = list(case.calls)
    clock = time.perf_counter
    for rep in range(case.reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            call = case.calls[name]
            start = clock()
            for _ in range(case.inner):
                call()
            case.samples[(name, cond)].append((clock() - start) / case.inner)


def spinners(count: int) -> list:
    return [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]


def stop(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def run(all_cases, busy: int, rounds: int, settle: float) -> None:
    for _ in range(rounds):
        for case in all_cases:
            measure(case, "quiet")
        procs = spinners(busy)
        try:
            time.sleep(settle)
            for case in all_cases:
                for call in case.calls.values():
                    call()  # the first loaded call lets each site see the load
                measure(case, "loaded")
        finally:
            stop(procs)
        time.sleep(settle)


def _row(c: Case, stat=statistics.median) -> str:
    gj, npy = workloads.GRAPHJIT, workloads.NUMPY
    scale = 1e6 if c.unit == "us" else 1e3
    med = {k: stat(v) * scale for k, v in c.samples.items() if v}

    def pair(name):
        if (name, "quiet") not in med:
            return ""
        return f"{med[(name, 'quiet')]:.3g} / {med[(name, 'loaded')]:.3g} {c.unit}"

    def ratio(a, b, cond):
        return f"{med[(a, cond)] / med[(b, cond)]:.2f}" if (b, cond) in med else ""

    def slowdown(name):
        return (f"{med[(name, 'loaded')] / med[(name, 'quiet')]:.2f}x"
                if (name, "quiet") in med else "")
    return (f"| {c.wid} | {pair(gj)} | {pair(npy)} | {pair(NUMPY_1)} | "
            f"{ratio(gj, npy, 'quiet')} | {ratio(gj, npy, 'loaded')} | "
            f"{ratio(gj, NUMPY_1, 'loaded')} | {slowdown(gj)} | {slowdown(npy)} | "
            f"{slowdown(NUMPY_1)} |")


def table(all_cases, stat=statistics.median) -> str:
    rows = ["| workload | graphjit quiet / loaded | NumPy quiet / loaded | "
            "NumPy 1 BLAS thread quiet / loaded | gj/np quiet | gj/np loaded | "
            "gj/np-1-thread loaded | slowdown graphjit | slowdown NumPy | "
            "slowdown NumPy 1 thread |", "|---" * 10 + "|"]
    return "\n".join(rows + [_row(c, stat) for c in all_cases])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", help="comma-separated ids (W1..W6, MLP, CNN, TBLK, TGELU)")
    ap.add_argument("--busy", type=int, default=2, help="background spinning processes")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds between starting or stopping the load and measuring")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    print(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}, "
          f"GRAPHJIT_NUM_THREADS={os.environ.get('GRAPHJIT_NUM_THREADS', '(unset)')}")
    all_cases = cases(args.quick, only)
    for c in all_cases:
        print(f"{c.wid}: {c.title}")
    run(all_cases, args.busy, args.rounds, args.settle)
    print(f"\nmedians of {args.rounds} rounds; loaded: {args.busy} busy processes")
    print(table(all_cases))
    # A median hides stalls: two BLAS threads on busy cores can take 0.3 ms in most calls
    # and 30 ms in some; the mean is what a loop of calls waits in all.
    print("\nmeans of the same samples")
    print(table(all_cases, statistics.fmean))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
