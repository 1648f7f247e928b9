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


def _burst_seconds(call, min_seconds: float = 0.05) -> float:
    """Per-call seconds of a burst long enough to time (at least min_seconds)."""
    import time

    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / n
        n *= 2


def _systems(name: str, batch: int, threads: int):
    import numpy as np
    import onnx_models
    import onnxruntime as ort

    import graphjit.onnx as gjx

    model = onnx_models.MODELS[name]()
    x = onnx_models.example_input(name, batch)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    compiled = gjx.import_model(model).compile()
    want = session.run(None, {"x": x})[0]
    got = compiled(x)
    got = got[0] if isinstance(got, (list, tuple)) else got
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5,
                               err_msg=f"{name}: graphjit and ONNX Runtime disagree")
    return {"graphjit": lambda: compiled(x),
            "ONNX Runtime": lambda: session.run(None, {"x": x})}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=None)
    args = ap.parse_args(argv)
    _set_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import statistics

    import onnx_models

    names = args.only or list(onnx_models.MODELS)
    print(f"{args.threads} thread(s); median of {args.rounds} interleaved rounds, ms per call")
    print(f"{'model':18} {'batch':>5} {'graphjit':>10} {'ORT':>10} {'graphjit/ORT':>13}")
    for name in names:
        for batch in args.batch:
            systems = _systems(name, batch, args.threads)
            times = {system: [] for system in systems}
            for _ in range(args.rounds):
                for system, call in systems.items():
                    times[system].append(_burst_seconds(call))
            gj, ort = (statistics.median(times[s]) * 1e3 for s in systems)
            print(f"{name:18} {batch:5d} {gj:10.3f} {ort:10.3f} {gj / ort:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
