"""Differential fuzzing: random graphs compiled vs. the NumPy reference interpreter.

    python -m benchmarks.fuzz --graphs 10000 --seed 3 --jobs 2
    python -m benchmarks.fuzz --seed 3 --index 417 --verbose     # one graph again

Prints the graphs run, mismatches, errors (compile or run raised) and invalid graphs
(the reference raised: a generator bug), the time, and for each failure a minimized
reproducer to paste. Failures are grouped by cause: the op types of the minimized
graph. Exits 1 when anything failed. Kernels compiled go to GRAPHJIT_CACHE_DIR
(--cache-dir sets it; random graphs rarely share kernels, so a scratch folder keeps
them out of the user's cache).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def _run_one(seed: int, index: int, size: int, minimize: bool) -> dict:
    from graphjit.testing.differential import check
    from graphjit.testing.minimize import minimize as shrink
    from graphjit.testing.program import build, reproducer
    from graphjit.testing.random_graphs import generate

    start = time.perf_counter()
    program = generate(seed, index, size)
    outcome = check(program)
    result = {"index": index, "status": outcome.status, "message": outcome.message,
              "ops": sum(len(ln.targets) for ln in program.lines), "seconds": 0.0}
    if outcome.failed and minimize and outcome.status != "invalid":
        outcome = shrink(outcome)
    if outcome.failed:
        try:
            types = sorted({op.type for op in build(outcome.program).graph.get_operations()}
                           - {"Placeholder", "Const", "Identity"})
        except Exception:  # noqa: BLE001 - an invalid program may not build
            types = []
        result.update(message=outcome.message, cause=" ".join(types) or "-",
                      details=[str(m) for m in outcome.mismatches[:6]],
                      reproducer=reproducer(outcome.program))
    result["seconds"] = time.perf_counter() - start
    return result


def _chunk(args: tuple) -> list[dict]:
    seed, indices, size, minimize = args
    return [_run_one(seed, i, size, minimize) for i in indices]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=100, help="how many graphs")
    parser.add_argument("--seed", type=int, default=0, help="the stream: graph i is (seed, i)")
    parser.add_argument("--start", type=int, default=0, help="first graph index")
    parser.add_argument("--index", type=int, nargs="*", help="run only these graph indices")
    parser.add_argument("--size", type=int, default=None, help="most lines per graph")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--no-minimize", action="store_true", help="print failures unshrunk")
    parser.add_argument("--cache-dir", help="GRAPHJIT_CACHE_DIR for the compiled kernels")
    parser.add_argument("--verbose", action="store_true", help="a line per graph")
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ["GRAPHJIT_CACHE_DIR"] = args.cache_dir
    from graphjit.testing.random_graphs import DEFAULT_SIZE

    size = args.size or DEFAULT_SIZE
    indices = args.index if args.index else list(range(args.start, args.start + args.graphs))
    chunks = [(args.seed, indices[i:i + 5], size, not args.no_minimize)
              for i in range(0, len(indices), 5)]
    start = time.perf_counter()
    results: list[dict] = []
    if args.jobs > 1:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        # a fresh worker now and then: compiled kernels pile up in a process
        with ProcessPoolExecutor(args.jobs, mp_context=context, max_tasks_per_child=40) as pool:
            for batch in pool.map(_chunk, chunks):
                results += batch
                _progress(batch, results, len(indices), start, args.verbose)
    else:
        for chunk in chunks:
            results += _chunk(chunk)
            _progress(results[-len(chunk[1]):], results, len(indices), start, args.verbose)
    return _report(args.seed, results, time.perf_counter() - start)


def _progress(batch: list[dict], results: list[dict], total: int, start: float,
              verbose: bool) -> None:
    for r in batch:
        if verbose or r["status"] != "ok":
            print(f"graph {r['index']}: {r['status']} ({r['ops']} results, "
                  f"{r['seconds']:.1f} s) {r['message'][:300]}", flush=True)
    if len(results) % 100 < len(batch) and not verbose:
        failed = sum(r["status"] != "ok" for r in results)
        print(f"... {len(results)}/{total} graphs, {failed} failed, "
              f"{time.perf_counter() - start:.0f} s", flush=True)


def _report(seed: int, results: list[dict], seconds: float) -> int:
    counts = collections.Counter(r["status"] for r in results)
    failed = [r for r in results if r["status"] != "ok"]
    for r in failed:
        print(f"\n=== graph ({seed}, {r['index']}): {r['status']}; cause: {r['cause']}")
        for line in r["details"] or [r["message"]]:
            print("  " + line)
        print(r["reproducer"])
    print(f"\ngraphs run: {len(results)}   ok: {counts['ok']}   mismatches: "
          f"{counts['mismatch']}   errors: {counts['error']}   invalid (generator): "
          f"{counts['invalid']}   time: {seconds:.1f} s")
    causes = collections.Counter((r["status"], r["cause"]) for r in failed)
    for (status, cause), n in causes.most_common():
        print(f"  {n:5d}  {status:8s} {cause}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
