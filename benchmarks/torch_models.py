"""graphjit against ONNX Runtime on the small models torch.onnx.export wrote
(tests/onnx/torch_models/: residual block, MLP, LSTM, transformer encoder layer,
if/while control flow, conv-resize-conv).

As benchmarks/models.py: one process, single-threaded by default, interleaved rounds
of timed bursts, the median per-call time and the ratio graphjit / ONNX Runtime; the
outputs are checked to agree first. The stored inputs are tiled along the (free) batch
to --batch. A model graphjit cannot convert yet is listed with the ops it lacks.

    python benchmarks/torch_models.py [--batch 2 32] [--rounds 7] [--threads 1] [--only mlp]
                                      [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "tests", "onnx", "torch_models")


def _load(name: str, batch: int):
    import numpy as np
    import onnx

    model = onnx.load(os.path.join(FIXTURES, name + ".onnx"))
    with np.load(os.path.join(FIXTURES, name + ".npz"), allow_pickle=False) as data:
        stored = {k[3:]: data[k] for k in data.files if k.startswith("in_")}
    inputs = {k: np.ascontiguousarray(np.resize(v, (batch, *v.shape[1:])))
              for k, v in stored.items()}
    return model, inputs


def _missing(name: str) -> list[str]:
    import onnx

    import graphjit.onnx as gjx

    def nodes(graph):
        for node in graph.node:
            yield node
            for attr in node.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    yield from nodes(sub)

    model = onnx.load(os.path.join(FIXTURES, name + ".onnx"))
    return sorted({n.op_type for n in nodes(model.graph) if n.op_type not in gjx.CONVERTERS})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[2, 32])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=None)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process time, for a machine other jobs crowd")
    args = ap.parse_args(argv)
    import time
    sys.path.insert(0, HERE)
    from models import _set_threads, against_ort, median_ms

    _set_threads(args.threads)
    names = args.only or sorted(f[:-5] for f in os.listdir(FIXTURES) if f.endswith(".onnx"))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"{args.threads} thread(s); median of {args.rounds} interleaved rounds, ms per call "
          f"({args.clock} time)")
    print(f"{'model':20} {'batch':>5} {'graphjit':>10} {'ORT':>10} {'graphjit/ORT':>13}")
    for name in names:
        missing = _missing(name)
        if missing:
            print(f"{name:20} not imported: no converter for {', '.join(missing)}")
            continue
        for batch in args.batch:
            model, inputs = _load(name, batch)
            gj, ort = median_ms(against_ort(model, inputs, args.threads, name), args.rounds,
                                clock)
            print(f"{name:20} {batch:5d} {gj:10.3f} {ort:10.3f} {gj / ort:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
