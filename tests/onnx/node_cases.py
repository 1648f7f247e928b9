"""ONNX's backend node-test cases, built in memory, each with the op it tests.

onnx 1.23 no longer ships the node cases as files; `collect_testcases` builds the
same cases (a one-node model, or with `_expanded` the function body of the op its
twin tests, plus inputs and expected outputs) from onnx's case scripts. Either way
a case belongs to its op. Nothing here downloads.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache

# The ops MLPs, CNNs and transformer encoders need: the suite report gives their pass
# rate apart (the suite runs every case, these and the rest alike).
PRIORITY_OPS = frozenset("""
    MatMul Gemm Add Sub Mul Div Relu Conv MaxPool AveragePool GlobalAveragePool
    BatchNormalization Flatten Reshape Transpose Softmax LogSoftmax LayerNormalization Gelu
    Erf Tanh Sigmoid Sqrt Pow Exp Log Neg Reciprocal ReduceMean ReduceSum ReduceMax Concat
    Constant Shape Unsqueeze Squeeze Slice Gather Cast Identity Where Equal Less Not Expand
    ConstantOfShape Split Dropout Clip LeakyRelu HardSigmoid HardSwish Pad Max Min Range
    ArgMax""".split())


@dataclass(frozen=True, eq=False)
class NodeCase:
    name: str  # e.g. test_add_bcast (ONNX's runner names its test name + "_cpu")
    op: str  # the op type the case tests
    model: object  # onnx.ModelProto
    inputs: tuple  # ndarrays (or lists / None for sequence and optional values)
    outputs: tuple  # the expected outputs, same kinds
    opset: int  # the model's default-domain opset
    rtol: float
    atol: float


@cache
def node_cases() -> dict[str, NodeCase]:
    """Every node case of the installed onnx, by name (about 1,900). Building them runs
    onnx's case scripts (~7 s); each pytest worker needs them, so they are kept, per onnx
    version, next to graphjit's kernel cache (GRAPHJIT_CACHE_DIR) and loaded from there."""
    path = _saved_path()
    if path and os.path.exists(path):
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except Exception:  # noqa: BLE001 - a truncated or stale file: build again
            pass
    out = _build()
    if path:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
            with os.fdopen(fd, "wb") as f:
                pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # atomic: a concurrent worker reads the old or the new
        except OSError:
            pass
    return out


def _saved_path() -> str | None:
    import onnx

    from codegen import cache
    if cache.caching_disabled():
        return None
    return os.path.join(cache.cache_dir(), "onnx-node-cases", f"onnx-{onnx.__version__}.pickle")


def _build() -> dict[str, NodeCase]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case scripts overflow casts on purpose
        built = collect_testcases(None)  # None: every op (onnx 1.22 requires the argument)
    ops = {t.name: t.model.graph.node[0].op_type for t in built if "_expanded" not in t.name}
    out = {}
    for t in sorted(built, key=lambda t: t.name):
        opset = next((o.version for o in t.model.opset_import if o.domain in ("", "ai.onnx")),
                     0)
        op = ops.get(t.name.split("_expanded")[0], t.model.graph.node[0].op_type)
        inputs, outputs = t.data_sets[0]
        out[t.name] = NodeCase(t.name, op, t.model, _arrays(inputs), _arrays(outputs), opset,
                               t.rtol, t.atol)
    return out


def _arrays(values) -> tuple:
    """The case scripts give some values as TensorProtos (a dtype NumPy lacks, or exact
    bits): as arrays, like ONNX's runner reads them from files."""
    from onnx import TensorProto, numpy_helper
    return tuple(numpy_helper.to_array(v) if isinstance(v, TensorProto) else v for v in values)


def converted_ops() -> frozenset[str]:
    """The ops graphjit.onnx has a converter for."""
    from graphjit.onnx.convert import CONVERTERS
    return frozenset(CONVERTERS)


def run_case(case: NodeCase) -> None:
    """Run `case` through graphjit.onnx.backend (import, compile, run) and compare with
    ONNX's expected outputs at the case's tolerances: an AssertionError for a wrong
    result, graphjit's UnsupportedError (a NotImplementedError) for what it lacks."""
    from onnx.backend.test.runner import Runner

    from graphjit.onnx import backend

    rep = backend.prepare(case.model)
    outputs = list(rep.run(list(case.inputs)))
    expected, got = _elements(list(case.outputs), outputs)
    Runner.assert_similar_outputs(expected, got, rtol=case.rtol, atol=case.atol)


def _elements(expected: list, got: list) -> tuple[list, list]:
    """Sequence outputs (lists) compared element by element: ONNX's runner recurses into
    them in a way that fails on 0-d elements (it takes len() of each)."""
    flat_expected, flat_got = [], []
    for i, (e, g) in enumerate(zip(expected, got)):
        if isinstance(e, list):
            if not isinstance(g, list) or len(g) != len(e):
                got_what = f"{len(g)} tensors" if isinstance(g, list) else type(g).__name__
                raise AssertionError(f"output {i}: expected a sequence of {len(e)} tensors, "
                                     f"got {got_what}")
            flat_expected += e
            flat_got += g
        elif e is None:  # an empty optional
            if g is not None:
                raise AssertionError(f"output {i}: expected an empty optional, got a value")
        else:
            flat_expected.append(e)
            flat_got.append(g)
    if len(expected) != len(got):
        raise AssertionError(f"expected {len(expected)} outputs, got {len(got)}")
    return flat_expected, flat_got
