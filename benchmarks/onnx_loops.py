"""graphjit against ONNX Runtime on ONNX control flow with per-iteration outputs: a Loop
that stops when its data says so (no trip count) and stacks a scan output, and a Scan
over a long sequence (a running sum, every partial sum kept).

Same protocol as benchmarks/models.py: one thread each (by default), one process,
interleaved rounds, outputs checked to agree first; the table gives median ms per call
and graphjit / ORT.

    python benchmarks/onnx_loops.py [--loop-steps 137] [--scan-steps 1000] [--width 4]
                                    [--rounds 7] [--only loop scan] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import sys

DECAY = 0.96


def decay_loop_model(width: int):
    """v [width] -> (v_final, rows [iterations, width]): v *= 0.96 while sum(v) > 1,
    each iteration's new v a scan output; no trip count, so the count is the data's."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    f = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("Mul", ["v_in", "decay"], ["v_out"]),
         helper.make_node("ReduceSum", ["v_out"], ["total"], keepdims=0),
         helper.make_node("Greater", ["total", "one"], ["go"]),
         helper.make_node("Identity", ["v_out"], ["row"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", f, [width])],
        [helper.make_tensor_value_info("go", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", f, [width]),
         helper.make_tensor_value_info("row", f, [width])],
        [numpy_helper.from_array(_f32(DECAY), "decay"),
         numpy_helper.from_array(_f32(1.0), "one")])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["", "go0", "v"], ["v_final", "rows"], body=body)],
        "decay_loop",
        [helper.make_tensor_value_info("v", f, [width]),
         helper.make_tensor_value_info("go0", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("v_final", f, [width]),
         helper.make_tensor_value_info("rows", f, [None, width])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def running_sum_model(steps: int, width: int):
    """x [steps, width] -> (s_final, partial sums [steps, width]) through one Scan."""
    import onnx
    from onnx import TensorProto, helper

    f = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["row"])],
        "body",
        [helper.make_tensor_value_info("s_in", f, [width]),
         helper.make_tensor_value_info("x_t", f, [width])],
        [helper.make_tensor_value_info("s_out", f, [width]),
         helper.make_tensor_value_info("row", f, [width])])
    graph = helper.make_graph(
        [helper.make_node("Scan", ["s0", "x"], ["s_final", "sums"], body=body,
                          num_scan_inputs=1)],
        "running_sum",
        [helper.make_tensor_value_info("s0", f, [width]),
         helper.make_tensor_value_info("x", f, [steps, width])],
        [helper.make_tensor_value_info("s_final", f, [width]),
         helper.make_tensor_value_info("sums", f, [steps, width])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _f32(x):
    import numpy as np
    return np.asarray(x, np.float32)


def loop_inputs(steps: int, width: int) -> dict:
    """v whose sum falls to 1 after `steps` iterations of the decay."""
    import numpy as np
    total = DECAY ** -(steps - 0.5)  # between steps-1 and steps decays above 1
    return {"v": np.full(width, total / width, np.float32), "go0": np.array(True)}


def scan_inputs(steps: int, width: int) -> dict:
    import numpy as np
    rng = np.random.default_rng(2)
    return {"s0": np.zeros(width, np.float32),
            "x": rng.standard_normal((steps, width)).astype(np.float32)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loop-steps", type=int, default=137)
    ap.add_argument("--scan-steps", type=int, default=1000)
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=["loop", "scan"])
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process time, for a machine other jobs crowd")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from models import _set_threads, against_ort, median_ms

    _set_threads(args.threads)
    import time

    cases = {
        "loop": (f"Loop, data exit, {args.loop_steps} it.",
                 lambda: decay_loop_model(args.width),
                 lambda: loop_inputs(args.loop_steps, args.width)),
        "scan": (f"Scan, {args.scan_steps} steps",
                 lambda: running_sum_model(args.scan_steps, args.width),
                 lambda: scan_inputs(args.scan_steps, args.width)),
    }
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"{args.threads} thread(s); width {args.width}; median of {args.rounds} "
          f"interleaved rounds, ms per call ({args.clock} time)")
    print(f"{'case':28} {'graphjit':>10} {'ORT':>10} {'graphjit/ORT':>13}")
    for key in args.only:
        label, model, inputs = cases[key]
        gj, ort = median_ms(against_ort(model(), inputs(), args.threads, label),
                            args.rounds, clock)
        print(f"{label:28} {gj:10.3f} {ort:10.3f} {gj / ort:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
