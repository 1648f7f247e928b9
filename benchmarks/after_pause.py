"""What a pause before a call costs: W2's systems, one call after nothing (b2b), after
sleeping, and after spinning in Python for as long (no memory touched), each time right
after an untimed call of the same system; beside two probes with no kernel and no
threads, a copy into a reused buffer of W2's size and a register-only loop.

Per system and condition: median wall time, the calling thread's CPU time, minor page
faults per call (getrusage) and, for graphjit, the threads its call used. A penalty that
sleeping and spinning share, and that the copy shows too, is the data's place in the
caches fading with time, not idleness, page faults or thread wake-ups
(benchmarks/README.md, "Rotated and back to back").

    python benchmarks/after_pause.py                 # ~1 minute on 2 cores
    python benchmarks/after_pause.py --threads 1 --reps 4 --gaps 10,30
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # as run.py, before Numba
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]
import others  # noqa: E402
import workloads  # noqa: E402

SYSTEMS = (workloads.GRAPHJIT, "ONNX Runtime", "PyTorch, native ops", workloads.NUMPY)


def _register_loop():
    import numba

    @numba.njit(cache=True)
    def loop(n):
        a = 1.0
        for _ in range(n):
            a = a * 1.0000001 + 1e-9
        return a
    loop(10)
    return lambda: loop(300_000)


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0,
                    help="threads of graphjit, ONNX Runtime, PyTorch (default: Numba's)")
    ap.add_argument("--reps", type=int, default=8, help="rounds; 3 calls each per condition")
    ap.add_argument("--gaps", default="10,30", help="pauses in ms")
    args = ap.parse_args(argv)
    if args.threads:
        import graphjit
        graphjit.set_num_threads(args.threads)
    import numba
    threads = args.threads or numba.get_num_threads()
    w = next(w for w in workloads.make_workloads(False, lambda i: others.systems(i, threads))
             if w.id == "W2")
    calls = {}
    for name, build in w.systems:
        if name in SYSTEMS:
            calls[name] = build(*w.inputs)[1]
    x = w.inputs[0]
    out = np.empty_like(x)
    calls["copy into a reused buffer"] = lambda: np.copyto(out, x)
    calls["register-only loop"] = _register_loop()
    for call in calls.values():
        workloads.warm_up(call)
    workloads.wait_graphjit_settled()

    from codegen import parallel
    seen: set = set()
    parallel.observe_chunks(lambda *a: seen.add(threading.get_ident()))
    gaps = [float(g) / 1e3 for g in args.gaps.split(",") if g]
    conditions = {"b2b": lambda: None}
    for g in gaps:
        conditions[f"sleep {g * 1e3:g}"] = lambda g=g: time.sleep(g)
        conditions[f"spin {g * 1e3:g}"] = lambda g=g: _spin(g)
    results: dict = {}
    names = list(calls)
    for rep in range(args.reps):
        for cond, pause in conditions.items():
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                for _ in range(3):
                    calls[name]()
                    pause()
                    seen.clear()
                    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                    cpu, wall = time.thread_time(), time.perf_counter()
                    calls[name]()
                    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
                    results.setdefault((name, cond), []).append((wall, cpu, faults, len(seen)))
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else "?"
    print(f"W2 {x.shape}, {threads} thread(s), load {' '.join(load)}; per condition: median "
          "wall ms / calling thread's CPU ms, minor faults per call, graphjit's threads")
    print(f"{'system':<28}" + "".join(f"{c:>27}" for c in conditions))
    for name in names:
        row = f"{name[:28]:<28}"
        for cond in conditions:
            a = np.array(results[(name, cond)])
            used = f" {a[:, 3].mean():3.1f}t" if name == workloads.GRAPHJIT else " " * 5
            row += (f"{np.median(a[:, 0]) * 1e3:>10.3f} /{np.median(a[:, 1]) * 1e3:6.3f}"
                    f" {np.median(a[:, 2]):3.0f}{used}")
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
