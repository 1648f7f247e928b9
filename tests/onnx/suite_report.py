"""Run every ONNX backend node case through graphjit.onnx.backend and count the results.

    python -m tests.onnx.suite_report [-v] [-j JOBS] [--pattern REGEX]

Each case ends passed, wrong (ran, but an output differs from ONNX's expected one:
the count that must stay 0), error (any other exception, a native crash included)
or unsupported (graphjit raised UnsupportedError: an op without a converter, an op
version, attribute or dtype it has not implemented). Counted over all cases and over
the priority ops (node_cases.PRIORITY_OPS). Not part of pytest (that is
test_node_suite.py, which skips what this counts as unsupported, with the reason).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tests.onnx.node_cases import PRIORITY_OPS, node_cases, run_case

STATUSES = ("passed", "wrong", "error", "unsupported")


def classify(name: str) -> tuple[str, str, float]:
    """(status, first line of the message, seconds) of the case called `name`."""
    case = node_cases()[name]
    start = time.perf_counter()
    try:
        run_case(case)
    except NotImplementedError as exc:
        return "unsupported", _first_line(exc), time.perf_counter() - start
    except AssertionError as exc:
        return "wrong", _first_line(exc), time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - any other failure is an error to look at
        return "error", f"{type(exc).__name__}: {_first_line(exc)}", time.perf_counter() - start
    return "passed", "", time.perf_counter() - start


def run_all(names: list[str], jobs: int) -> dict[str, tuple[str, str, float]]:
    """Run the cases in `jobs` worker processes, at most `jobs` at a time, so that when
    a case kills its process (a native crash) only those in flight are suspects: they
    run again one at a time, and the one that crashes alone is reported an error."""
    results: dict[str, tuple[str, str, float]] = {}
    crashes: Counter = Counter()
    pending = list(names)
    while pending:
        suspects = [n for n in pending if crashes[n]]
        _run_pool(suspects or pending, 1 if suspects else jobs, results, crashes)
        pending = [n for n in pending if n not in results]
    return results


def _run_pool(names: list[str], width: int, results: dict, crashes: Counter) -> None:
    with ProcessPoolExecutor(width) as pool:
        queue, running = list(names), {}
        try:
            while queue or running:
                while queue and len(running) < width:
                    name = queue.pop(0)
                    running[pool.submit(classify, name)] = name
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    results[running.pop(future)] = future.result()
        except BrokenProcessPool:
            for name in running.values():
                crashes[name] += 1
                if width == 1:
                    results[name] = ("error", "the process crashed", 0.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _row(title: str, results: dict, names) -> str:
    counts = Counter(results[n][0] for n in names)
    rate = f"{100 * counts['passed'] / len(names):.1f}%" if names else "-"
    return f"{title:<22}{len(names):>7}" + "".join(f"{counts[s]:>12}" for s in STATUSES) + \
        f"{rate:>10}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every case not passed, with its message")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pattern", help="run only the cases whose name matches this regex")
    args = parser.parse_args(argv)

    import onnx

    cases = node_cases()
    names = [n for n in cases if not args.pattern or re.search(args.pattern, n)]
    start = time.perf_counter()
    results = run_all(names, max(args.jobs, 1))
    priority = [n for n in names if cases[n].op in PRIORITY_OPS]
    print(f"ONNX backend node cases of onnx {onnx.__version__} (opset "
          f"{onnx.defs.onnx_opset_version()}), {time.perf_counter() - start:.0f} s")
    print(f"{'':<22}{'cases':>7}" + "".join(f"{s:>12}" for s in STATUSES) + f"{'pass rate':>10}")
    print(_row("all", results, names))
    print(_row(f"priority ops ({len(PRIORITY_OPS)})", results, priority))
    if args.verbose:
        for n in names:
            status, message, _ = results[n]
            if status != "passed":
                print(f"{status:<12}{n} ({cases[n].op}): {message}")
        slow = sorted(names, key=lambda n: -results[n][2])[:10]
        print("slowest:", ", ".join(f"{n} {results[n][2]:.1f}s" for n in slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
