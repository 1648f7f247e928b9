"""graphjit against ONNX Runtime on five small ONNX models (benchmarks/onnx_models.py).

Both run the same seeded model on the same input, single-threaded by default (graphjit's
threads, OpenBLAS's and ONNX Runtime's intra-op pool all set to --threads), in one
process, interleaved round by round; each round times a burst of calls and the table
gives the median per-call time and the ratio graphjit / ONNX Runtime. Outputs are
checked to agree before timing.

    python benchmarks/models.py [--batch 1 32] [--rounds 7] [--threads 1] [--only cnn]
"""

from __future__ import annotations

import argparse
import os
import sys


def _set_threads(threads: int) -> None:
    """Before NumPy and graphjit load: their pools read these once."""
    for var in ("GRAPHJIT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def burst_seconds(call, clock=None, min_seconds: float = 0.05) -> float:
    """Per-call seconds of a burst long enough to time (at least min_seconds of `clock`,
    time.perf_counter by default; time.process_time on a machine other jobs crowd)."""
    import time

    clock = clock or time.perf_counter
    n = 1
    while True:
        start = clock()
        for _ in range(n):
            call()
        elapsed = clock() - start
        if elapsed >= min_seconds:
            return elapsed / n
        n *= 2


def against_ort(model, inputs: dict, threads: int, label: str) -> dict:
    """{"graphjit": call, "ONNX Runtime": call} running the ONNX `model` on `inputs`
    (name -> array), ONNX Runtime with `threads` intra- and inter-op threads, not
    spinning; every output is checked to agree before anything is timed."""
    import numba  # noqa: F401 - see below
    import numpy as np
    import onnxruntime as ort

    import graphjit.onnx as gjx

    # Numba is loaded before graphjit compiles: with the kernels in the cache, a process
    # without it runs their native entries first and settles on Numba in a background
    # thread, whose CPU would land in whichever system is being timed then.

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    compiled = gjx.import_model(model).compile()
    want = session.run(None, inputs)
    got = compiled(**inputs)
    got = got if isinstance(got, (list, tuple)) else [got]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5,
                                   err_msg=f"{label}: graphjit and ONNX Runtime disagree")
    return {"graphjit": lambda: compiled(**inputs),
            "ONNX Runtime": lambda: session.run(None, inputs)}


def median_ms(systems: dict, rounds: int, clock=None) -> list[float]:
    """Median per-call milliseconds of each system over `rounds` interleaved rounds (each
    round times one burst of every system, so load changes hit all alike)."""
    import statistics

    times = {system: [] for system in systems}
    for _ in range(rounds):
        for system, call in systems.items():
            times[system].append(burst_seconds(call, clock))
    return [statistics.median(times[s]) * 1e3 for s in systems]


def _systems(name: str, batch: int, threads: int):
    import onnx_models

    return against_ort(onnx_models.MODELS[name](), {"x": onnx_models.example_input(name, batch)},
                       threads, name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=None)
    args = ap.parse_args(argv)
    _set_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import onnx_models

    names = args.only or list(onnx_models.MODELS)
    print(f"{args.threads} thread(s); median of {args.rounds} interleaved rounds, ms per call")
    print(f"{'model':18} {'batch':>5} {'graphjit':>10} {'ORT':>10} {'graphjit/ORT':>13}")
    for name in names:
        for batch in args.batch:
            gj, ort = median_ms(_systems(name, batch, args.threads), args.rounds)
            print(f"{name:18} {batch:5d} {gj:10.3f} {ort:10.3f} {gj / ort:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
