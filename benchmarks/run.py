"""graphjit against NumPy, numexpr, hand-written Numba (and JAX, PyTorch, ONNX Runtime when
importable) on the workloads W1-W7 described in benchmarks/workloads.py.

Every system runs in this one process, interleaved, so machine noise hits all of them alike,
and is timed on two schedules that alternate round by round: "rotated" (one call of each
system per repetition, the starting system rotating: each call follows another system's)
and "b2b" (blocks of calls of one system, the systems taking turns block by block: each
call follows the same system's). On a machine whose caches other work shares, a call's data
is partly evicted after any pause, whatever ran in it, and systems are often slower rotated
than back to back (benchmarks/README.md); both medians are printed, with ratios. Each
result is checked against a float64 NumPy reference first; a system that is wrong beyond
float32 tolerance (|err| <= 1e-5 * max|ref| + 1e-4 * |ref|) or raises is left out of the
timings with the reason printed in its row. Tables give medians, ratios to NumPy measured
in the same run and, for W1-W3, the rotated median over the bandwidth "limit" (bytes moved
once / 31 GB/s).

    python benchmarks/run.py                  # the full run (~1 minute on 2 cores)
    python benchmarks/run.py --quick          # ~15-30 s smoke run, smaller sizes
    python benchmarks/run.py --only W2,W4 --profile --json out.json

For fair numbers:

- Threads. Numba's default threading layer on this kind of machine is OpenMP, whose idle
  workers spin-wait and fight OpenBLAS's threads for the cores (W4 ~10x slower measured).
  This script therefore sets NUMBA_THREADING_LAYER=workqueue unless you set it yourself;
  the layer actually used is printed. numexpr, PyTorch and ONNX Runtime get Numba's
  thread count (NUMBA_NUM_THREADS, default: all cores).
- BLAS. The script does not touch OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (printed at the
  top). Leave them unset (OpenBLAS then uses all cores, like every other system) or set
  them to the core count; set them to 1 only to take BLAS threading out of W4/W5.
- Caches. graphjit uses GRAPHJIT_CACHE_DIR (default ~/.cache/graphjit), the hand-written
  kernels Numba's cache=True; compile time is measured only by W7 (fresh processes with
  empty and then warm temporary cache folders) and by the "first call" column.
- Run on an otherwise idle machine and compare ratios, not absolute times.
"""

from __future__ import annotations

import os

# Before anything imports numba: the layer must be chosen once, for every system.
_LAYER_SET_BY = "you" if "NUMBA_THREADING_LAYER" in os.environ else "this script"
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
# PyTorch's OpenMP threads sleep between runs, as ONNX Runtime's do (others.py): spinning,
# they held both cores for whichever system ran next (W4: graphjit 1.48x NumPy with them
# spinning, about 0.95x without)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
# The repository root too: Numba's on-disk cache of the hand-written kernels names their
# module as it was first imported, `benchmarks.handwritten` when the tests compiled them.
sys.path[:0] = [_HERE, os.path.dirname(_HERE)]

import compile_time  # noqa: E402
import others  # noqa: E402
import workloads  # noqa: E402

BANDWIDTH = 31e9  # bytes/s: the best measured on the reference machine (benchmarks/README.md)
RTOL, ATOL = 1e-4, 1e-5  # atol is relative to max|ref| of each output
B2B_CALLS = 5  # calls per back-to-back block, the first untimed


# -- machine ------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg.get('name')} {cfg.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def machine_info() -> dict:
    import llvmlite
    import numba
    from numba import prange

    @numba.njit(parallel=True)
    def _touch(a):  # runs the thread pool once so the layer is known
        s = 0.0
        for i in prange(a.shape[0]):
            s += a[i]
        return s

    _touch(np.ones(64))
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(), "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "llvmlite": llvmlite.__version__, "blas": _blas(),
        "numba_threading_layer": numba.threading_layer(),
        "numba_threading_layer_set_by": _LAYER_SET_BY,
        "numba_threads": numba.get_num_threads(),
        "env": {k: os.environ.get(k) for k in (
            "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GRAPHJIT_CACHE_DIR", "GRAPHJIT_NO_CACHE",
            "GRAPHJIT_NUM_THREADS")},
    }
    try:
        import numexpr
        numexpr.set_num_threads(info["numba_threads"])
        info["numexpr"] = f"{numexpr.__version__} ({info['numba_threads']} threads)"
    except ImportError:
        info["numexpr"] = "not installed"
    try:
        import graphjit
        info["graphjit"] = graphjit.__version__
    except Exception as exc:  # noqa: BLE001
        info["graphjit"] = f"import failed: {exc}"
    info["optional"] = others.available()
    return info


def print_machine(info: dict) -> None:
    print(f"graphjit benchmarks, {info['date']}")
    print(f"machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), "
          f"Python {info['python']}")
    print(f"numpy {info['numpy']} (BLAS {info['blas']}), numba {info['numba']}, llvmlite "
          f"{info['llvmlite']}, numexpr {info['numexpr']}, graphjit {info['graphjit']}")
    print(f"numba threading layer: {info['numba_threading_layer']} (NUMBA_THREADING_LAYER "
          f"set by {info['numba_threading_layer_set_by']}), {info['numba_threads']} threads")
    env = ", ".join(f"{k}={v}" for k, v in info["env"].items() if v is not None)
    print(f"env: {env or '(none set)'}")
    opt = ", ".join(f"{k} {'yes' if v else 'not importable'}"
                    for k, v in info["optional"].items())
    print(f"optional systems: {opt}")


# -- checking -----------------------------------------------------------------------------

def _flat(value) -> list:
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    return [value]


def check(outputs, reference) -> tuple[bool, float, float, str]:
    """(ok, max abs error, max relative error, why not ok) against the float64 reference."""
    outs = _flat(outputs)
    if len(outs) != len(reference):
        return False, np.nan, np.nan, f"{len(outs)} outputs, expected {len(reference)}"
    ok, worst_abs, worst_rel, why = True, 0.0, 0.0, ""
    for k, (out, ref) in enumerate(zip(outs, reference)):
        out = np.asarray(out)
        if out.shape != np.shape(ref):
            return False, np.nan, np.nan, f"output {k}: shape {out.shape}, expected " \
                                          f"{np.shape(ref)}"
        if out.dtype != np.float32:
            why = why or f"output {k} has dtype {out.dtype}, expected float32"
            ok = False
        ref = np.asarray(ref, np.float64)
        err = np.abs(out.astype(np.float64) - ref)
        scale = float(np.max(np.abs(ref))) if ref.size else 1.0
        atol = ATOL * (scale or 1.0)
        bad = ~(err <= atol + RTOL * np.abs(ref))  # NaN counts as bad
        worst_abs = max(worst_abs, float(np.nanmax(err)) if err.size else 0.0)
        worst_rel = max(worst_rel, float(np.nanmax(err / np.maximum(np.abs(ref), atol)))
                        if err.size else 0.0)
        if bad.any():
            ok = False
            i = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
            why = why or (f"output {k}: {int(bad.sum())} of {bad.size} elements off, e.g. at "
                          f"{tuple(int(j) for j in i)}: {out[i]!r} vs {ref[i]!r}")
    return ok, worst_abs, worst_rel, why


# -- running ------------------------------------------------------------------------------

def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"


def run_workload(w: workloads.Workload, verbose: bool) -> dict:
    rows: dict[str, dict] = {}
    live = []
    for name, builder in w.systems:
        row = rows[name] = {"times_s": [], "b2b_times_s": [], "error": None, "handle": None}
        try:
            start = time.perf_counter()
            handle, call = builder(*w.inputs)
            row["handle"] = handle
            out = call()
            row["first_call_s"] = time.perf_counter() - start
            out = workloads.warm_up(call)
            ok, row["max_abs_err"], row["max_rel_err"], why = check(out, w.reference)
            if not ok:
                row["error"] = f"WRONG RESULT, excluded: {why}"
                print(f"  !! {w.id} {name}: {row['error']}", file=sys.stderr)
                continue
            live.append((name, call))
        except Exception as exc:  # noqa: BLE001 - one system's failure must not stop the run
            row["error"] = _error(exc)
            if verbose:
                traceback.print_exc()
    workloads.wait_graphjit_settled()
    _time_systems(w, live, rows)
    for row in rows.values():
        for key, t in (("", row["times_s"]), ("b2b_", row["b2b_times_s"])):
            ok = bool(t) and not row["error"]
            row[key + "median_s"] = float(np.median(t)) if ok else None
            row[key + "min_s"] = float(np.min(t)) if ok else None
    for key in ("", "b2b_"):
        base = rows.get(workloads.NUMPY, {}).get(key + "median_s")
        for row in rows.values():
            mine = row[key + "median_s"]
            row[key + "ratio_numpy"] = mine / base if base and mine else None
    return rows


def _sample(row: dict, call, inner: int, into: str) -> None:
    """One timed sample (`inner` calls) of a system into row[into]; an error ends it."""
    if row["error"]:
        return
    try:
        start = time.perf_counter()
        for _ in range(inner):
            call()
        row[into].append((time.perf_counter() - start) / inner)
    except Exception as exc:  # noqa: BLE001
        row["error"] = _error(exc)


def _time_systems(w: workloads.Workload, live: list, rows: dict) -> None:
    """Two schedules, alternating round by round so that load changes hit both alike:

    - rotated (times_s): call by call, each repetition calling every system once, the
      first one rotating; each call follows another system's, its own data last touched
      a round ago;
    - back to back (b2b_times_s): blocks of B2B_CALLS calls of one system, the first
      untimed, the systems taking turns block by block (the first one rotating); each
      timed call follows the same system's call, as in a loop calling one model.

    On a machine whose caches other work shares, the data of a call after a pause is
    partly evicted (slower for every system), so the two can differ; every system
    meets the same conditions in each.
    """
    rounds = max(2, -(-w.reps // B2B_CALLS))
    rep = 0
    for r in range(rounds):
        for _ in range(min(B2B_CALLS, w.reps - rep)):
            shift = rep % len(live) if live else 0
            for name, call in live[shift:] + live[:shift]:
                _sample(rows[name], call, w.inner, "times_s")
            rep += 1
        shift = r % len(live) if live else 0
        for name, call in live[shift:] + live[:shift]:
            row = rows[name]
            if row["error"]:
                continue
            try:
                call()
            except Exception as exc:  # noqa: BLE001
                row["error"] = _error(exc)
            for _ in range(B2B_CALLS - 1):
                _sample(row, call, w.inner, "b2b_times_s")


def format_workload(w: workloads.Workload, rows: dict) -> str:
    scale, unit = (1e6, "us") if w.unit == "us" else (1e3, "ms")
    limit_s = w.limit_bytes / BANDWIDTH if w.limit_bytes else None
    head = (f"{'system':<44} {'rotated ' + unit:>11} {'/NumPy':>7} {'b2b ' + unit:>9} "
            f"{'/NumPy':>7} {'min ' + unit:>9}" + (f" {'/limit':>7}" if limit_s else "")
            + f" {'max abs err':>11} {'max rel err':>11} {'1st call s':>10}")
    blocks = len(next((r["b2b_times_s"] for r in rows.values() if r["b2b_times_s"]), []))
    each = f"samples of {w.inner} calls" if w.inner > 1 else "calls"
    lines = [f"{w.id}: {w.title}  (medians of {each}: rotated, {w.reps} call by call; "
             f"b2b, {blocks} back to back in blocks of {B2B_CALLS - 1} after an untimed "
             "one)", head, "-" * len(head)]
    base = rows.get(workloads.NUMPY, {}).get("median_s")
    if limit_s:
        ratio = f"{limit_s / base:>7.3f}" if base else f"{'':>7}"
        lines.append(f"{'limit (bytes once / 31 GB/s)':<44} {limit_s * scale:>11.3f} "
                     f"{ratio} {'':>9} {'':>7} {'':>9} {1.0:>7.2f}")
    for name, row in rows.items():
        if row["median_s"] is None or row["b2b_median_s"] is None:
            err = row["error"] or "no timings"
            lines.append(f"{name:<44} {'--':>11}  {err}")
            continue
        low = min(row["min_s"], row["b2b_min_s"])
        lines.append(
            f"{name:<44} {row['median_s'] * scale:>11.3f} {_ratio(row['ratio_numpy'])} "
            f"{row['b2b_median_s'] * scale:>9.3f} {_ratio(row['b2b_ratio_numpy'])} "
            f"{low * scale:>9.3f}"
            + (f" {row['median_s'] / limit_s:>7.2f}" if limit_s else "")
            + f" {row['max_abs_err']:>11.2e} {row['max_rel_err']:>11.2e}"
            f" {row.get('first_call_s', float('nan')):>10.2f}")
    lines += _against_graphjit(rows)
    return "\n".join(lines)


def _ratio(r: float | None) -> str:
    return f"{r:>7.2f}" if r is not None else f"{'--':>7}"


def _against_graphjit(rows: dict) -> list[str]:
    """graphjit's median over each other system's, in both schedules."""
    mine = rows.get(workloads.GRAPHJIT, {})
    if not mine or mine.get("median_s") is None or mine.get("b2b_median_s") is None:
        return []
    pairs = [f"{name} {mine['median_s'] / row['median_s']:.2f} / "
             f"{mine['b2b_median_s'] / row['b2b_median_s']:.2f}"
             for name, row in rows.items()
             if name != workloads.GRAPHJIT and row.get("median_s") and row.get("b2b_median_s")]
    return ["graphjit / system, rotated / b2b: " + "; ".join(pairs)] if pairs else []


def graphjit_details(w: workloads.Workload, rows: dict) -> str:
    fn = rows.get(workloads.GRAPHJIT, {}).get("handle")
    if fn is None:
        return ""
    try:
        lines = [f"graphjit {w.id}: kernels"]
        lines += [f"  {k!r}" for k in fn.kernels]
        lines.append(f"  memory: {fn.memory()}")
        lines.append(str(fn.profile(*w.inputs, repeat=max(3, w.reps // 2))))
        return "\n".join(lines)
    except Exception as exc:  # noqa: BLE001
        return f"graphjit {w.id}: profile failed: {_error(exc)}"


def _jsonable(rows: dict) -> dict:
    return {name: {k: v for k, v in row.items() if k != "handle"} for name, row in rows.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    ap.add_argument("--only", default="", help="comma-separated workload ids, e.g. W1,W7")
    ap.add_argument("--json", metavar="PATH", help="also write the raw numbers here")
    ap.add_argument("--profile", action="store_true",
                    help="print graphjit's kernels, memory and fn.profile() per workload")
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of failures")
    args = ap.parse_args(argv)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}

    info = machine_info()
    print_machine(info)
    threads = info["numba_threads"]
    try:
        import graphjit
        has_gradients = hasattr(graphjit, "gradients")
    except Exception:  # noqa: BLE001
        has_gradients = False
    report = {"machine": info, "args": vars(args), "workloads": {}}

    for w in workloads.make_workloads(args.quick, lambda wid: others.systems(wid, threads)):
        if only and w.id not in only:
            continue
        print()
        if w.id == "W5" and not has_gradients:
            print("W5: pending (graphjit.gradients not implemented yet)")
            report["workloads"]["W5"] = {"pending": "graphjit.gradients not implemented yet"}
            continue
        rows = run_workload(w, args.verbose)
        print(format_workload(w, rows), flush=True)
        if args.profile:
            print(graphjit_details(w, rows), flush=True)
        report["workloads"][w.id] = {
            "title": w.title, "reps": w.reps, "inner": w.inner,
            "limit_s": w.limit_bytes / BANDWIDTH if w.limit_bytes else None,
            "systems": _jsonable(rows)}

    if not only or "W7" in only:
        wids = ["W2"] if args.quick else ["W2", "W4"]
        systems = list(compile_time.SYSTEMS[:2])
        if info["optional"]["jax"]:
            systems.append(compile_time.SYSTEMS[2])
        print(f"\nW7: compile time in fresh processes (cold: empty cache folders; warm: the "
              f"same folders again){' -- quick: W2 only' if args.quick else ''}")
        w7 = compile_time.measure(systems, wids)
        print(compile_time.format_table(w7, wids))
        report["workloads"]["W7"] = w7

    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
        print(f"\nraw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
