"""W7: compile time, from nothing compiled to the first result of W2 and of W4, in fresh
processes.

For each system a temporary folder holds its on-disk caches (GRAPHJIT_CACHE_DIR and
NUMBA_CACHE_DIR; JAX's persistent compilation cache): the first child process starts with
it empty (cold), a second child reuses it (warm). A child times, after importing its
libraries, building the graph / function, compiling and computing the first result; it
reports the import time separately.

    python benchmarks/compile_time.py CHILD SYSTEM WID   (what run.py starts; prints JSON)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = ("graphjit", "Numba parallel kernels, cache=True", "JAX jit (persistent cache)")


def _inputs(wid):
    import numpy as np
    from workloads import mlp_inputs
    rng = np.random.default_rng(0)
    if wid == "W2":
        return (rng.standard_normal((4096, 1024), dtype=np.float32),)
    return mlp_inputs(rng, 512)


def _child(system: str, wid: str) -> dict:
    t0 = time.perf_counter()
    if system == "graphjit":
        import graphjit as tf
        import_s = time.perf_counter() - t0
        import workloads
        inputs = _inputs(wid)
        start = time.perf_counter()
        make = workloads.graphjit_softmax if wid == "W2" else workloads.graphjit_mlp
        out = make(tf)(*inputs)
    elif system.startswith("Numba"):
        import numba  # noqa: F401
        import numpy  # noqa: F401
        import_s = time.perf_counter() - t0
        inputs = _inputs(wid)
        start = time.perf_counter()
        import handwritten
        fn = handwritten.softmax_libm if wid == "W2" else handwritten.mlp_loss
        out = fn(*inputs)
    else:
        import jax
        jax.config.update("jax_compilation_cache_dir", os.environ["BENCH_JAX_CACHE"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        import_s = time.perf_counter() - t0
        from others import _jax_fn
        inputs = _inputs(wid)
        start = time.perf_counter()
        out = jax.block_until_ready(jax.jit(_jax_fn(wid))(*inputs))
    first_s = time.perf_counter() - start
    import numpy as np
    return {"import_s": import_s, "first_s": first_s,
            "checksum": float(np.asarray(out, dtype=np.float64).sum())}


def run_child(system: str, wid: str, cache_root: str, timeout: float = 300) -> dict:
    env = dict(os.environ)
    env["GRAPHJIT_CACHE_DIR"] = os.path.join(cache_root, "graphjit")
    env["NUMBA_CACHE_DIR"] = os.path.join(cache_root, "numba")
    env["BENCH_JAX_CACHE"] = os.path.join(cache_root, "jax")
    env.pop("GRAPHJIT_NO_CACHE", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "CHILD", system, wid],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=HERE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(" | ".join(tail) or f"exit status {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def measure(systems, wids) -> dict:
    """{system: {wid: {"cold": {...}, "warm": {...}} or {"error": str}}}."""
    results: dict = {}
    for system in systems:
        results[system] = {}
        for wid in wids:
            with tempfile.TemporaryDirectory(prefix="graphjit-bench-w7-") as root:
                try:
                    cold = run_child(system, wid, root)
                    warm = run_child(system, wid, root)
                    results[system][wid] = {"cold": cold, "warm": warm}
                except Exception as exc:  # noqa: BLE001 - reported in the table
                    results[system][wid] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def format_table(results: dict, wids) -> str:
    head = f"{'system':<36}" + "".join(f" {wid + ' cold / warm s':>22}" for wid in wids)
    lines = [head + "   (first result after imports; [whole process])", "-" * len(head)]
    for system, per in results.items():
        cells = []
        for wid in wids:
            r = per.get(wid, {})
            if "error" in r:
                cells.append(f" {'FAILED':>22}")
            else:
                cells.append(f" {r['cold']['first_s']:>9.2f} / {r['warm']['first_s']:<10.3f}")
        lines.append(f"{system:<36}" + "".join(cells))
        procs = []
        for wid in wids:
            r = per.get(wid, {})
            if "error" not in r:
                procs.append(f"{wid} process {r['cold']['process_s']:.2f} / "
                             f"{r['warm']['process_s']:.2f} s, import "
                             f"{r['warm']['import_s']:.2f} s")
            else:
                procs.append(f"{wid}: {r['error'][:300]}")
        lines.append(f"{'':<4}[{'; '.join(procs)}]")
    return "\n".join(lines)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "CHILD":
    sys.path.insert(0, HERE)
    print(json.dumps(_child(sys.argv[2], sys.argv[3])))
