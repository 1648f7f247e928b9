"""Start-up cost in fresh processes: what a short program pays before its first result.

For W4 (the 784-256-256-10 MLP forward, batch 512, workloads.py), each measured in a
new Python process:

- import: `import graphjit` alone;
- cold: import, build the graph, compile and make the first call with an empty kernel
  cache (GRAPHJIT_CACHE_DIR a new temporary folder);
- warm: the same in a new process once that cache is filled;
- NumPy: import NumPy and compute the same forward pass: the floor a first result is
  measured against.

Each figure is the median of `--repeats` processes (a new empty cache for every cold
run). The targets: import under 0.2 s, warm first call within 0.1 s of NumPy's.
`--cpu` measures each process's CPU time (time.process_time, all its threads) instead
of wall time: on a machine shared with other work, wall time mostly measures waiting
for a core.

    python benchmarks/startup.py [--repeats 3] [--cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

IMPORT = """
import time
start = time.perf_counter()
import graphjit
print(time.perf_counter() - start)
"""

FIRST_CALL = """
import time
start = time.perf_counter()
import numpy as np
import graphjit as tf
imported = time.perf_counter()
from workloads import graphjit_mlp, mlp_inputs
inputs = mlp_inputs(np.random.default_rng(0), 512)
fn = graphjit_mlp(tf)
loss = fn(*inputs)
done = time.perf_counter()
assert np.isfinite(loss)
print(done - start, imported - start)
"""

NUMPY = """
import time
start = time.perf_counter()
import numpy as np
from workloads import mlp_forward_backward, mlp_inputs
inputs = mlp_inputs(np.random.default_rng(0), 512)
loss = mlp_forward_backward(*inputs, backward=False)
print(time.perf_counter() - start)
"""


def fresh(code: str, cache_dir: str | None = None, root: Path = ROOT,
          cpu: bool = False) -> list[float]:
    """Run `code` in a new interpreter on the checkout at `root`; the numbers it prints
    (with `cpu`, its clock is the process's CPU time)."""
    if cpu:
        code = code.replace("time.perf_counter()", "time.process_time()")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # (compiling every module would be measured)
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "benchmarks"),
                                         env.get("PYTHONPATH", "")])
    if cache_dir is not None:
        env["GRAPHJIT_CACHE_DIR"] = cache_dir
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"a measured process failed:\n{done.stderr}")
    return [float(v) for v in done.stdout.split()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu", action="store_true",
                        help="CPU time of each process instead of wall time")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout to measure (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    rows: dict[str, list[float]] = {"import graphjit": [], "W4 first call, cold cache": [],
                                    "  of which import": [], "W4 first call, warm cache": [],
                                    "NumPy: import + W4 forward": []}
    for _ in range(args.repeats):  # interleaved: a busy moment hits every row alike
        rows["import graphjit"] += fresh(IMPORT, root=root, cpu=args.cpu)
        with tempfile.TemporaryDirectory(prefix="graphjit-startup-") as cache:
            cold, imported = fresh(FIRST_CALL, cache, root, args.cpu)
            warm, _ = fresh(FIRST_CALL, cache, root, args.cpu)
        rows["W4 first call, cold cache"].append(cold)
        rows["  of which import"].append(imported)
        rows["W4 first call, warm cache"].append(warm)
        rows["NumPy: import + W4 forward"] += fresh(NUMPY, root=root, cpu=args.cpu)
    medians = {name: statistics.median(values) for name, values in rows.items()}
    clock = "CPU seconds" if args.cpu else "seconds"
    print(f"start-up of {root} in fresh processes, median of {args.repeats} ({clock})")
    for name, value in medians.items():
        print(f"  {name:<28} {value:7.3f}")
    numpy = medians["NumPy: import + W4 forward"]
    print(f"  warm first call - NumPy's     {medians['W4 first call, warm cache'] - numpy:7.3f}"
          "  (target < 0.1)")
    if args.json:
        Path(args.json).write_text(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
