"""Run every ONNX backend node case through graphjit.onnx.backend and count the results.

    python -m tests.onnx.suite_report [-v] [-j JOBS] [--pattern REGEX] [--all-failures]

Unlike tests/onnx/test_node_suite.py (the supported ops' cases, exclusions skipped),
this runs all node cases, exclusions included, in-process, and prints passed /
failed / unsupported (graphjit raised NotImplementedError, e.g. an op without a
converter) over all of them, over the ops the ONNX issue covers, and over every op
graphjit.onnx converts. Not part of pytest: it takes minutes.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tests.onnx.node_cases import COVERED_OPS, NodeCase, node_cases, suite_ops
from tests.onnx.node_suite_exclusions import exclusion_reason


def _load(path: str, type_proto):
    import onnx
    from onnx import numpy_helper

    if not type_proto.HasField("tensor_type"):
        raise NotImplementedError(f"{type_proto.WhichOneof('value')} values (graphjit has "
                                  "tensors only)")
    tensor = onnx.TensorProto()
    with open(path, "rb") as f:
        tensor.ParseFromString(f.read())
    return numpy_helper.to_array(tensor)


def run_case(case: NodeCase) -> tuple[str, str, float]:
    """(status, first line of the error, seconds): passed, failed or unsupported."""
    import onnx
    from onnx.backend.test.runner import Runner

    from graphjit.onnx import backend

    start = time.perf_counter()
    try:
        model = onnx.load(os.path.join(case.path, "model.onnx"))
        rep = backend.prepare(model)
        for data in sorted(glob.glob(os.path.join(case.path, "test_data_set*"))):
            n_in = len(glob.glob(os.path.join(data, "input_*.pb")))
            n_out = len(glob.glob(os.path.join(data, "output_*.pb")))
            inputs = [_load(os.path.join(data, f"input_{i}.pb"), model.graph.input[i].type)
                      for i in range(n_in)]
            expected = [_load(os.path.join(data, f"output_{i}.pb"), model.graph.output[i].type)
                        for i in range(n_out)]
            outputs = list(rep.run(inputs))
            Runner.assert_similar_outputs(expected, outputs, rtol=case.rtol, atol=case.atol)
    except NotImplementedError as exc:
        return "unsupported", _first_line(exc), time.perf_counter() - start
    except Exception as exc:  # a wrong result or any other error: a failure to look at
        return "failed", f"{type(exc).__name__}: {_first_line(exc)}", time.perf_counter() - start
    return "passed", "", time.perf_counter() - start


def run_all(cases: list[NodeCase], jobs: int) -> dict[str, tuple[str, str, float]]:
    """Run the cases in `jobs` worker processes, at most `jobs` at a time, so that when
    a case kills its process (a native crash) only those in flight are suspects: they
    run again one at a time, and the one that crashes alone is reported failed."""
    results: dict[str, tuple[str, str, float]] = {}
    crashes: Counter = Counter()
    pending = list(cases)
    while pending:
        suspects = [c for c in pending if crashes[c.name]]
        if suspects:
            _run_pool(suspects, 1, results, crashes)
        else:
            _run_pool(pending, jobs, results, crashes)
        pending = [c for c in pending if c.name not in results]
    return results


def _run_pool(cases: list[NodeCase], width: int, results: dict, crashes: Counter) -> None:
    with ProcessPoolExecutor(width) as pool:
        queue, running = list(cases), {}
        try:
            while queue or running:
                while queue and len(running) < width:
                    case = queue.pop(0)
                    running[pool.submit(run_case, case)] = case
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    results[running.pop(future).name] = future.result()
        except BrokenProcessPool:
            for case in running.values():
                crashes[case.name] += 1
                if width == 1:
                    results[case.name] = ("failed", "the process crashed", 0.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _table(title: str, results: dict, names) -> str:
    counts = Counter(results[n][0] for n in names)
    return (f"{title:<34}{len(names):>7}{counts['passed']:>8}{counts['failed']:>8}"
            f"{counts['unsupported']:>13}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list the failed and unsupported cases of the suite's ops")
    parser.add_argument("--all-failures", action="store_true",
                        help="with -v, list those of every op")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pattern", help="run only the cases whose name matches this regex")
    args = parser.parse_args(argv)

    import onnx

    cases = node_cases()
    names = [n for n in cases if not args.pattern or re.search(args.pattern, n)]
    start = time.perf_counter()
    results = run_all([cases[n] for n in names], max(args.jobs, 1))
    ops = suite_ops()
    covered = [n for n in names if cases[n].op in COVERED_OPS]
    suite = [n for n in names if cases[n].op in ops]
    excluded = [n for n in suite if exclusion_reason(n)]
    print(f"ONNX backend node cases of onnx {onnx.__version__} "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"{'':<34}{'cases':>7}{'passed':>8}{'failed':>8}{'unsupported':>13}")
    print(_table("all node cases", results, names))
    print(_table(f"covered ops ({len(COVERED_OPS)})", results, covered))
    print(_table(f"converted ops ({len(ops)})", results, suite))
    print(_table("  of which excluded in the suite", results, excluded))
    print(_table("  of which run in the suite", results, [n for n in suite if n not in excluded]))
    if args.verbose:
        shown = names if args.all_failures else suite
        for n in shown:
            status, message, _ = results[n]
            if status == "passed" and exclusion_reason(n) and n in suite:
                print(f"passed      {n} ({cases[n].op}) [excluded, but it passes]")
            elif status != "passed":
                mark = " [excluded]" if exclusion_reason(n) else ""
                print(f"{status:<12}{n} ({cases[n].op}){mark}: {message}")
        slow = sorted(names, key=lambda n: -results[n][2])[:10]
        print("slowest:", ", ".join(f"{n} {results[n][2]:.1f}s" for n in slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
