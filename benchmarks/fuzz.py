"""Differential fuzzing: random graphs compiled vs. the NumPy reference interpreter.

    python -m benchmarks.fuzz --graphs 10000 --seed 3 --jobs 2
    python -m benchmarks.fuzz --seed 3 --index 417 --verbose     # one graph again
    python -m benchmarks.fuzz --graphs 500 --focus conv_block,flatten_dense  # those more

Prints the graphs run, mismatches, errors (compile or run raised), hangs (a graph past
--timeout: its worker is killed), crashes (its worker died) and invalid graphs (the
reference raised: a generator bug), the time, and for each failure a minimized
reproducer to paste. Failures are grouped by cause: the op types of the minimized
graph. Exits 1 when anything failed.
Kernels compiled go to GRAPHJIT_CACHE_DIR (--cache-dir sets it; random graphs rarely
share kernels, so a scratch folder keeps them out of the user's cache).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import queue
import sys
import time

GRAPHS_PER_WORKER = 150  # then a fresh process: compiled kernels pile up in memory


def _run_one(seed: int, index: int, gen_args: tuple, minimize: bool) -> dict:
    from graphjit.testing.differential import check
    from graphjit.testing.minimize import minimize as shrink
    from graphjit.testing.random_graphs import generate

    start = time.perf_counter()
    program = generate(seed, index, *gen_args)
    outcome = check(program)
    result = {"index": index, "status": outcome.status, "message": outcome.message,
              "ops": sum(len(ln.targets) for ln in program.lines)}
    if outcome.failed and minimize and outcome.status != "invalid":
        outcome = shrink(outcome)
    if outcome.failed:
        result.update(_failure(outcome.program, outcome.message,
                               [str(m) for m in outcome.mismatches[:6]]))
    result["seconds"] = time.perf_counter() - start
    return result


def _failure(program, message: str, details: list[str]) -> dict:
    from graphjit.testing.program import build, reproducer
    try:
        types = sorted({op.type for op in build(program).graph.get_operations()}
                       - {"Placeholder", "Const", "Identity"})
    except Exception:  # noqa: BLE001 - an invalid program may not build
        types = []
    return {"message": message, "cause": " ".join(types) or "-", "details": details,
            "reproducer": reproducer(program)}


def _worker(tasks, results, seed: int, gen_args: tuple, minimize: bool) -> None:
    for _ in range(GRAPHS_PER_WORKER):
        index = tasks.get()
        if index is None:
            return
        results.put(("start", os.getpid(), index))
        results.put(("done", os.getpid(), _run_one(seed, index, gen_args, minimize)))
    results.put(("retire", os.getpid(), None))


def _run(indices: list[int], args, gen_args: tuple, on_result) -> None:
    """Run the graphs on --jobs worker processes; kill and replace one whose graph runs
    past --timeout (a hang is a failure too)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    tasks, results = context.Queue(), context.Queue()
    for index in indices:
        tasks.put(index)
    workers: dict[int, object] = {}
    running: dict[int, tuple[int, float]] = {}  # pid -> (graph index, start)
    done = 0

    def spawn() -> None:
        p = context.Process(target=_worker, daemon=True,
                            args=(tasks, results, args.seed, gen_args, not args.no_minimize))
        p.start()
        workers[p.pid] = p

    for _ in range(min(args.jobs, len(indices))):
        spawn()
    while done < len(indices):
        try:
            kind, pid, payload = results.get(timeout=5)
        except queue.Empty:
            kind = None
        if kind == "start":
            running[pid] = (payload, time.monotonic())
        elif kind == "done":
            running.pop(pid, None)
            done += 1
            on_result(payload)
        elif kind == "retire":
            workers.pop(pid).join()
            spawn()
        for pid, (index, started) in list(running.items()):
            worker = workers[pid]
            died = not worker.is_alive() and results.empty()  # a crash sends no "done"
            if died or time.monotonic() - started > args.timeout:
                worker.kill()
                worker.join()
                del workers[pid], running[pid]
                done += 1
                on_result(_lost(args.seed, index, gen_args, args.timeout, worker.exitcode))
                spawn()
    for _ in workers:
        tasks.put(None)
    for p in workers.values():
        p.join(timeout=30)


def _lost(seed: int, index: int, gen_args: tuple, timeout: float, exitcode: int | None) -> dict:
    """A graph whose worker never answered: it ran past --timeout (a hang, killed here),
    or the process died on its own (a crash: a signal or an exit code)."""
    from graphjit.testing.random_graphs import generate
    if exitcode in (None, -9):  # killed by us after the timeout
        status, message = "hang", f"no result after {timeout:.0f} s (worker killed)"
    else:
        status, message = "crash", f"the worker process died (exit code {exitcode})"
    return {"index": index, "status": status, "ops": 0, "seconds": timeout,
            **_failure(generate(seed, index, *gen_args), message, [message])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=100, help="how many graphs")
    parser.add_argument("--seed", type=int, default=0, help="the stream: graph i is (seed, i)")
    parser.add_argument("--start", type=int, default=0, help="first graph index")
    parser.add_argument("--index", type=int, nargs="*", help="run only these graph indices")
    parser.add_argument("--size", type=int, default=None, help="most lines per graph")
    parser.add_argument("--focus", default="",
                        help="comma-separated builder names drawn ten times as often "
                             "(e.g. conv_block,channel_bias,relu_pool,unit_transpose,"
                             "flatten_dense)")
    parser.add_argument("--large", action="store_true",
                        help="inputs of 32768+ elements (parallel chunked row kernels, "
                             "software-pipelined)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one graph (and its minimization) may take")
    parser.add_argument("--no-minimize", action="store_true", help="print failures unshrunk")
    parser.add_argument("--cache-dir", help="GRAPHJIT_CACHE_DIR for the compiled kernels")
    parser.add_argument("--verbose", action="store_true", help="a line per graph")
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ["GRAPHJIT_CACHE_DIR"] = args.cache_dir
    from graphjit.testing.random_graphs import DEFAULT_SIZE

    gen_args = (args.size or DEFAULT_SIZE, args.focus, args.large)
    indices = args.index if args.index else list(range(args.start, args.start + args.graphs))
    start = time.perf_counter()
    results: list[dict] = []

    def on_result(r: dict) -> None:
        results.append(r)
        if args.verbose or r["status"] != "ok":
            print(f"graph {r['index']}: {r['status']} ({r['ops']} results, "
                  f"{r['seconds']:.1f} s) {r['message'][:300]}", flush=True)
        if len(results) % 100 == 0 and not args.verbose:
            failed = sum(x["status"] != "ok" for x in results)
            print(f"... {len(results)}/{len(indices)} graphs, {failed} failed, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)

    _run(indices, args, gen_args, on_result)
    return _report(args.seed, sorted(results, key=lambda r: r["index"]),
                   time.perf_counter() - start)


def _report(seed: int, results: list[dict], seconds: float) -> int:
    counts = collections.Counter(r["status"] for r in results)
    failed = [r for r in results if r["status"] != "ok"]
    for r in failed:
        print(f"\n=== graph ({seed}, {r['index']}): {r['status']}; cause: {r['cause']}")
        for line in r["details"] or [r["message"]]:
            print("  " + line)
        print(r["reproducer"])
    print(f"\ngraphs run: {len(results)}   ok: {counts['ok']}   mismatches: "
          f"{counts['mismatch']}   errors: {counts['error']}   hangs: {counts['hang']}   "
          f"crashes: {counts['crash']}   "
          f"invalid (generator): {counts['invalid']}   time: {seconds:.1f} s")
    causes = collections.Counter((r["status"], r["cause"]) for r in failed)
    for (status, cause), n in causes.most_common():
        print(f"  {n:5d}  {status:8s} {cause}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
