"""ONNX's backend node-test cases (shipped in the onnx wheel), each with the op it tests.

A case directory holds a one-node model, or with `_expanded` the function body of
the op its twin tests; either way the case belongs to that op. Nothing here
downloads: only the `node` kind is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

# The ops the ONNX import issue covers (the suite also runs every other op that
# graphjit.onnx has a converter for).
COVERED_OPS = frozenset("""
    MatMul Gemm Add Sub Mul Div Relu Conv MaxPool AveragePool GlobalAveragePool
    BatchNormalization Flatten Reshape Transpose Softmax LogSoftmax LayerNormalization Gelu
    Erf Tanh Sigmoid Sqrt Pow Exp Log Neg Reciprocal ReduceMean ReduceSum ReduceMax Concat
    Constant Shape Unsqueeze Squeeze Slice Gather Cast Identity Where Equal Less Not Expand
    ConstantOfShape Split Dropout Clip LeakyRelu HardSigmoid HardSwish Pad Max Min Range
    ArgMax""".split())


@dataclass(frozen=True)
class NodeCase:
    name: str  # the directory name, e.g. test_add_bcast (the test is name + "_cpu")
    op: str  # the op type the case tests
    path: str  # its directory
    opset: int  # the model's default-domain opset
    rtol: float
    atol: float


@cache
def node_cases() -> dict[str, NodeCase]:
    """Every node case of the installed onnx, by name."""
    import onnx
    from onnx.backend.test.loader import load_model_tests

    cases = {t.name: t for t in load_model_tests(kind="node")}
    ops, opsets = {}, {}
    for name, t in cases.items():
        model = onnx.load(os.path.join(t.model_dir, "model.onnx"), load_external_data=False)
        opsets[name] = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                            0)
        if "_expanded" not in name:
            ops[name] = model.graph.node[0].op_type
    out = {}
    for name, t in sorted(cases.items()):
        op = ops[name.split("_expanded")[0]]
        out[name] = NodeCase(name, op, t.model_dir, opsets[name], t.rtol, t.atol)
    return out


def suite_ops() -> frozenset[str]:
    """The ops whose cases the node suite runs: the covered ones and any converted op."""
    from graphjit.onnx.convert import CONVERTERS
    return COVERED_OPS | frozenset(CONVERTERS)
