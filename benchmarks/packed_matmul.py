"""The packed matmul kernel against BLAS inside graphjit, and ONNX Runtime, on the small
ONNX MLPs (benchmarks/onnx_models.py, and the torch-exported MLP of tests/onnx).

For each model and batch: graphjit with the packed rule off (every MatMul a BLAS call,
graphjit.lower.packed_matmul.MAX_ROWS = 0), graphjit as shipped, and ONNX Runtime, all
single-threaded, in one process, interleaved in shuffled order round by round. Each
round times a burst in process time (other jobs on a shared machine stretch wall time,
not this process's CPU time); the table gives the min and the median per call.

    python benchmarks/packed_matmul.py [--only mlp4 mlp torch_mlp] [--batch 1 32] [--rounds 15]

graphjit as shipped plans these products as BLAS calls first and switches to packed
kernels after graphjit.lower.packed_matmul.PACKED_AFTER_CALLS calls (the tier,
graphjit.api): each system is called past its switch before the timing.

--cold times first calls instead: import, compile and one call of each model and batch,
BLAS only and as shipped, each in a fresh process with an empty kernel cache (process
time, Numba's import not counted), repeated --rounds times; the min and the median. The
last column is the shipped one's next PACKED_AFTER_CALLS calls: its switch to packed
kernels, cold.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _model(name: str, batch: int):
    import numpy as np
    import onnx

    if name == "torch_mlp":
        folder = os.path.join(os.path.dirname(HERE), "tests", "onnx", "torch_models")
        with np.load(os.path.join(folder, "mlp.npz"), allow_pickle=False) as data:
            stored = {k[3:]: data[k] for k in data.files if k.startswith("in_")}
        inputs = {k: np.ascontiguousarray(np.resize(v, (batch, *v.shape[1:])))
                  for k, v in stored.items()}
        return onnx.load(os.path.join(folder, "mlp.onnx")), inputs
    import onnx_models
    return onnx_models.MODELS[name](), {"x": onnx_models.example_input(name, batch)}


def _systems(model, inputs: dict) -> dict:
    import numpy as np
    import onnxruntime as ort

    import graphjit.onnx as gjx
    from graphjit.lower import packed_matmul

    shipped = packed_matmul.MAX_ROWS
    systems = {}
    for label, rows in (("graphjit, BLAS only", 0), ("graphjit", shipped)):
        packed_matmul.MAX_ROWS = rows  # read when the first call plans
        try:
            fn = gjx.import_model(model).compile()
            for _ in range(packed_matmul.PACKED_AFTER_CALLS + 1):  # past the tier's switch
                fn(**inputs)
        finally:
            packed_matmul.MAX_ROWS = shipped
        systems[label] = lambda fn=fn: fn(**inputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    systems["ONNX Runtime"] = lambda: session.run(None, inputs)
    want = session.run(None, inputs)[0]
    for label in ("graphjit, BLAS only", "graphjit"):
        got = systems[label]()
        got = got[0] if isinstance(got, (list, tuple)) else got
        np.testing.assert_allclose(np.asarray(got).reshape(want.shape), want, rtol=1e-4,
                                   atol=1e-5, err_msg=f"{label} and ONNX Runtime disagree")
    return systems


def _times(systems: dict, rounds: int, burst: int) -> dict:
    times = {label: [] for label in systems}
    for _ in range(rounds):
        order = list(systems.items())
        random.shuffle(order)
        for label, call in order:
            start = time.process_time()
            for _ in range(burst):
                call()
            times[label].append((time.process_time() - start) / burst * 1e6)
    return times


def _first_call(name: str, batch: int, rows: int) -> None:
    """Run in a fresh process: print the CPU seconds of the first call, then of the next
    PACKED_AFTER_CALLS calls (the shipped function's switch to packed kernels)."""
    import numba  # noqa: F401  (its import is every system's, not counted)

    import graphjit.onnx as gjx
    from graphjit.lower import packed_matmul

    packed_matmul.MAX_ROWS = rows
    model, inputs = _model(name, batch)
    start = time.process_time()
    fn = gjx.import_model(model).compile()
    fn(**inputs)
    first = time.process_time() - start
    for _ in range(packed_matmul.PACKED_AFTER_CALLS):
        fn(**inputs)
    print(first, time.process_time() - start - first)


def _cold(args) -> None:
    import subprocess
    import tempfile

    from graphjit.lower import packed_matmul

    print("first call in a fresh process and kernel cache; CPU s, min / median")
    print(f"{'model':10s} {'batch':>5s} {'BLAS only':>13s} {'graphjit':>13s} "
          f"{'its switch':>13s}")
    for name in args.only:
        for batch in args.batch:
            times = {0: [], packed_matmul.MAX_ROWS: []}
            switch = []
            for _ in range(args.rounds):
                for rows, got in times.items():
                    with tempfile.TemporaryDirectory() as cache:
                        env = dict(os.environ, GRAPHJIT_CACHE_DIR=cache)
                        out = subprocess.run(
                            [sys.executable, __file__, "--first-call", name, str(batch),
                             str(rows)], env=env, check=True, capture_output=True,
                            text=True).stdout
                    got.append(float(out.split()[-2]))
                    if rows:
                        switch.append(float(out.split()[-1]))
            cells = [f"{min(v):5.2f} /{statistics.median(v):5.2f}"
                     for v in (*times.values(), switch)]
            print(f"{name:10s} {batch:5d} {cells[0]:>13s} {cells[1]:>13s} {cells[2]:>13s}",
                  flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", default=["mlp4", "mlp", "torch_mlp"])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--cold", action="store_true", help="time first calls (see above)")
    ap.add_argument("--first-call", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for var in ("GRAPHJIT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.path.insert(0, HERE)
    if args.first_call:
        name, batch, rows = args.first_call
        _first_call(name, int(batch), int(rows))
        return 0
    if args.cold:
        _cold(args)
        return 0
    # With the kernels in the cache, a process runs their native entries for the first
    # calls and settles on Numba in a background thread, whose CPU time process_time
    # counts against whatever is timed then (~50 us a call of the first model): Numba
    # loaded first, kernels load on it and every round times the steady state.
    import numba  # noqa: F401
    print("1 thread; us per call, min / median of interleaved bursts, process time")
    print(f"{'model':10s} {'batch':>5s} {'BLAS only':>15s} {'graphjit':>15s} "
          f"{'ONNX Runtime':>15s}  graphjit/ORT (min)")
    for name in args.only:
        for batch in args.batch:
            systems = _systems(*_model(name, batch))
            start = time.process_time()
            systems["graphjit"]()
            burst = max(20, min(2000, int(2e-3 / max(time.process_time() - start, 1e-7))))
            t = _times(systems, args.rounds, burst)
            cells = [f"{min(v):7.1f} /{statistics.median(v):6.1f}" for v in t.values()]
            ratio = min(t["graphjit"]) / min(t["ONNX Runtime"])
            print(f"{name:10s} {batch:5d} {cells[0]:>15s} {cells[1]:>15s} {cells[2]:>15s}  "
                  f"{ratio:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
