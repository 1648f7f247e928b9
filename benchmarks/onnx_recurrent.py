"""graphjit against ONNX Runtime on recurrent ONNX models, as PyTorch exports nn.LSTM,
nn.GRU and nn.RNN (batch_first): Transpose, the recurrent node, Squeeze, Transpose.

Sequence 32, batch 8, input and hidden 64 by default; weights seeded. Same protocol as
benchmarks/models.py: one thread each (by default), one process, interleaved rounds,
outputs checked to agree first; the table gives median ms per call and graphjit / ORT.

    python benchmarks/onnx_recurrent.py [--seq 32] [--batch 8] [--hidden 64] [--rounds 7]
                                        [--only LSTM GRU] [--bidirectional]
"""

from __future__ import annotations

import argparse
import os
import sys

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_model(op: str, seq: int, hidden: int, features: int, bidirectional: bool,
                    seed: int = 0):
    """x [batch, seq, features] -> y [batch, seq, dirs * hidden] through one `op` node."""
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
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node(op, ["xt", "W", "R", "B"], ["y4", "h"], hidden_size=hidden,
                              direction=direction, **extra),
             helper.make_node("Transpose", ["y4"], ["y4t"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["y4t", "flat"], ["y3"]),
             helper.make_node("Transpose", ["y3"], ["y"], perm=[1, 0, 2])]
    graph = helper.make_graph(
        nodes, op.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", seq, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", seq, dirs * hidden])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _systems(model, x, threads: int):
    import numpy as np
    import onnxruntime as ort

    import graphjit.onnx as gjx

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
                               err_msg="graphjit and ONNX Runtime disagree")
    return {"graphjit": lambda: compiled(x), "ONNX Runtime": lambda: session.run(None, {"x": x})}


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
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from models import _burst_seconds, _set_threads

    _set_threads(args.threads)
    import statistics

    import numpy as np

    x = np.random.default_rng(1).standard_normal(
        (args.batch, args.seq, args.features)).astype(np.float32)
    print(f"{args.threads} thread(s); seq {args.seq}, batch {args.batch}, hidden "
          f"{args.hidden}, features {args.features}; median of {args.rounds} interleaved "
          "rounds, ms per call")
    print(f"{'model':18} {'graphjit':>10} {'ORT':>10} {'graphjit/ORT':>13}")
    for op in args.only:
        model = recurrent_model(op, args.seq, args.hidden, args.features, args.bidirectional)
        systems = _systems(model, x, args.threads)
        times = {system: [] for system in systems}
        for _ in range(args.rounds):
            for system, call in systems.items():
                times[system].append(_burst_seconds(call))
        gj, ort = (statistics.median(times[s]) * 1e3 for s in systems)
        name = op + (" bidir" if args.bidirectional else "")
        print(f"{name:18} {gj:10.3f} {ort:10.3f} {gj / ort:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
