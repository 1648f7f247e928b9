"""A warm start's switch from native entries to Numba's dispatchers, call by call.

A process that finds W4's kernels cached (workloads.py: the 784-256-256-10 MLP
forward) runs them without Numba first (codegen.native), then imports Numba to call
them through its dispatchers and the per-call runner (codegen.warm_start). Each fresh
process here makes `--calls` calls after the first and reports the slowest call (a
stall while Numba loads shows here), how many took over 5 ms, the time of all of them
and the median of the last 100 (the settled speed). Figures are medians over
`--repeats` processes; the first process of a run fills the cache and is not counted.

    python benchmarks/warm_switch.py [--batch 64] [--calls 600] [--repeats 5] [--root .]

On a machine shared with other work the slowest call also measures waiting for a
core: compare checkouts in one run (--root twice), which interleaves them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from startup import ROOT, fresh

CALLS = """
import time
import numpy as np
import graphjit as tf
from workloads import graphjit_mlp, mlp_inputs
inputs = mlp_inputs(np.random.default_rng(0), {batch})
fn = graphjit_mlp(tf)
first = fn(*inputs)
times = []
for _ in range({calls}):
    start = time.perf_counter()
    out = fn(*inputs)
    times.append(time.perf_counter() - start)
    assert out.tobytes() == first.tobytes()  # native and Numba's entry: the same bits
tail = sorted(times[-100:])
print(max(times), sum(t > 0.005 for t in times), sum(times), tail[len(tail) // 2])
"""
COLUMNS = ("slowest call ms", "calls > 5 ms", "all calls ms", "settled call us")
SCALE = (1e3, 1, 1e3, 1e6)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--root", type=Path, action="append",
                        help="a checkout to measure (repeatable; default: this one)")
    args = parser.parse_args(argv)
    roots = [r.resolve() for r in args.root or [ROOT]]
    code = CALLS.format(batch=args.batch, calls=args.calls)
    rows = {root: [] for root in roots}
    with tempfile.TemporaryDirectory(prefix="graphjit-switch-") as cache:
        for root in roots:
            fresh(code, cache, root)  # (fills the cache)
        for _ in range(args.repeats):
            for root in roots:
                rows[root].append(fresh(code, cache, root))
    print(f"W4 batch {args.batch}, {args.calls} calls after the first in a warm process, "
          f"median of {args.repeats}")
    print(f"  {'checkout':<30}" + "".join(f"{c:>17}" for c in COLUMNS))
    for root, runs in rows.items():
        medians = [statistics.median(run[i] for run in runs) * SCALE[i]
                   for i in range(len(COLUMNS))]
        print(f"  {str(root)[-30:]:<30}" + "".join(f"{m:17.1f}" for m in medians))


if __name__ == "__main__":
    main()
