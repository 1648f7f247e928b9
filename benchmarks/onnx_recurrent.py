"""graphjit against ONNX Runtime on recurrent ONNX models, as PyTorch exports nn.LSTM,
nn.GRU and nn.RNN (batch_first): Transpose, the recurrent node, Squeeze (bidirectional:
Transpose + Reshape), Transpose.

Sequence 32, batch 8, input and hidden 64 by default; weights seeded. Same protocol as
benchmarks/models.py: one thread each (by default), one process, interleaved rounds,
outputs checked to agree first; the table gives median ms per call and graphjit / ORT.

    python benchmarks/onnx_recurrent.py [--seq 32] [--batch 8] [--hidden 64] [--rounds 7]
                                        [--only LSTM GRU] [--bidirectional] [--free-seq]
                                        [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import sys

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_model(op: str, seq: int, hidden: int, features: int, bidirectional: bool,
                    free_seq: bool = False, seed: int = 0):
    """x [batch, seq, features] -> y [batch, seq, dirs * hidden] through one `op` node;
    with free_seq the sequence dim is free (graphjit then runs its while loop, where a
    static one up to recurrent_steps.UNROLL_STEPS is unrolled)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    dirs, g, s = 1 + bidirectional, GATES[op], 1 / np.sqrt(hidden)

    def weight(name, shape):
        return numpy_helper.from_array(rng.uniform(-s, s, shape).astype(np.float32), name)

    inits = [weight("W", (dirs, g * hidden, features)), weight("R", (dirs, g * hidden, hidden)),
             weight("B", (dirs, 2 * g * hidden)),
             numpy_helper.from_array(np.array([0, 0, -1], np.int64), "flat")]
    extra = {"linear_before_reset": 1} if op == "GRU" else {}
    direction = "bidirectional" if bidirectional else "forward"
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    # Y [T, dirs, B, H] -> [T, B, dirs * H] as PyTorch writes it: Squeeze for one
    # direction, Transpose + Reshape for two
    merge = [helper.make_node("Squeeze", ["y4", "axis1"], ["y3"])] if not bidirectional else [
        helper.make_node("Transpose", ["y4"], ["y4t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["y4t", "flat"], ["y3"])]
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node(op, ["xt", "W", "R", "B"], ["y4", "h"], hidden_size=hidden,
                              direction=direction, **extra),
             *merge,
             helper.make_node("Transpose", ["y3"], ["y"], perm=[1, 0, 2])]
    seq_dim = "seq" if free_seq else seq
    graph = helper.make_graph(
        nodes, op.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", seq_dim, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       ["batch", seq_dim, dirs * hidden])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=["LSTM", "GRU", "RNN"])
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process time, for a machine other jobs crowd")
    ap.add_argument("--free-seq", action="store_true",
                    help="a free sequence dim: graphjit's while loop instead of unrolled steps")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from models import _set_threads, against_ort, median_ms

    _set_threads(args.threads)
    import time

    import numpy as np

    x = np.random.default_rng(1).standard_normal(
        (args.batch, args.seq, args.features)).astype(np.float32)
    print(f"{args.threads} thread(s); seq {args.seq}, batch {args.batch}, hidden "
          f"{args.hidden}, features {args.features}; median of {args.rounds} interleaved "
          f"rounds, ms per call ({args.clock} time)")
    print(f"{'model':18} {'graphjit':>10} {'ORT':>10} {'graphjit/ORT':>13}")
    for op in args.only:
        model = recurrent_model(op, args.seq, args.hidden, args.features, args.bidirectional,
                                args.free_seq)
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        gj, ort = median_ms(against_ort(model, {"x": x}, args.threads, op), args.rounds, clock)
        name = op + (" bidir" if args.bidirectional else "") + (" loop" if args.free_seq else "")
        print(f"{name:18} {gj:10.3f} {ort:10.3f} {gj / ort:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
