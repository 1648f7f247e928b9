"""Registry-driven random graphs for differential testing (compiled vs. the reference).

`generate(seed, index)` returns graph `index` of the stream `seed`, a Program: its
placeholders and feed values, lines of public-API Python (elementwise chains with
broadcasting, reductions over any axes, softmax/log-softmax/layer-norm/moments, matmul,
views, slices, concat, gather, convolutions and conv -> bias -> relu -> pool chains,
size-1 transposes, flattens into dense layers, recurrences, int and float dtypes), several
fetched intermediates, and often `tf.gradients` of a random scalar loss. Each graph has its own
`np.random.Generator` seeded by (seed, index), so one graph regenerates alone.

`BUILDERS` maps a builder to the op types it creates; `NOT_GENERATED` lists each
registered op type no builder makes, with the reason. A test holds the two to the op
registry, so a newly registered op fails it until it is generated or excused.
"""

from __future__ import annotations

import numpy as np

from graphjit.registry import all_op_defs
from graphjit.testing import (  # noqa: F401  (registration)
    builders_control,
    builders_layout,
    builders_math,
    builders_recurrent,
    builders_shape,
)
from graphjit.testing.gen import BUILDERS, Draft, Gen, Var
from graphjit.testing.program import Program, prune

#: Registered op types the generator never makes, and why.
NOT_GENERATED = {
    "Assign": "stateful: writes a variable, so a graph is no longer a function of its feeds",
    "VariableV2": "stateful: its value lives in a session; freeze turns it into a Const",
    "RandomStandardNormal": "random: the engines need not draw the same numbers",
    "RandomUniform": "random: the engines need not draw the same numbers",
    "TruncatedNormal": "random: the engines need not draw the same numbers",
    "RandomUniformLike": "random: dropout's mask, drawn from a RandomUniform key",
    "RandomLike": "random: a draw of a run-time shape, from a RandomUniform key",
    "CandidateSampler": "random: candidate classes drawn from a RandomUniform key",
    "NoOp": "control only: it has no value to compare",
    "ScalarSummary": "its value is a string (a serialized protobuf) no generated op reads",
    "HistogramSummary": "its value is a string (a serialized protobuf) no generated op reads",
    "MergeSummary": "it reads summaries, which are not generated",
    "Print": "prints to stderr on every run (its value is its input's; cases cover it)",
    "Bitcast": "reinterprets bytes: random floats read as ints (or back) are no values "
               "the other generated ops compare meaningfully; cases cover it",
    "Unique": "its output's size depends on values, so it runs as a host step between "
              "plans; cases cover it (tests/graphjit/test_staged.py the staging)",
    "Fft": "an ONNX-layout transform (a last axis of real and imaginary parts) no other "
           "generated op builds on, and its round-off is NumPy's FFT's; cases cover it",
    "NonMaxSuppression": "how many boxes it keeps depends on values (a host step between "
                         "plans); tests/onnx/test_nms_import.py covers it",
    "RegexFullMatch": "reads strings, which are not generated; "
                      "tests/onnx/test_strings_import.py covers it",
    "StringConcat": "reads strings, which are not generated; "
                    "tests/onnx/test_strings_import.py covers it",
    "StringNormalizer": "reads strings, which are not generated; "
                        "tests/onnx/test_strings_import.py covers it",
    "StringSplit": "reads strings, which are not generated; "
                   "tests/onnx/test_strings_import.py covers it",
    "ImageDecoder": "reads encoded image bytes (decoded by Pillow, an optional "
                    "dependency); tests/onnx/test_image_import.py covers it",
    "WhileStack": "ONNX Loop with scan outputs imports it; "
                  "tests/graphjit/test_while_stack.py and tests/onnx/"
                  "test_control_flow_import.py cover it",
    "ScanStack": "ONNX Scan imports it; tests/graphjit/test_while_stack.py and "
                 "tests/onnx/test_control_flow_import.py cover it",
    "DeferredGrad": "gradients of unknown rank, expanded before a run: "
                    "tests/graphjit/test_unknown_rank_graphs.py builds generated graphs "
                    "on placeholders without shapes",
}

#: Op types only gradients create (the backward rules of the ops the builders make).
GRADIENT_OPS = ("ReshapeLike", "SumToShapeOf", "StridedSliceGrad", "ScatterAddLike",
                "MaxPoolGrad", "AvgPoolGrad", "Conv2DBackpropInput", "Conv2DBackpropFilter",
                "WhileHistory")

DEFAULT_SIZE = 12  # at most this many lines (a line is one public call, 1-10 ops)


def covered_op_types() -> set[str]:
    """Op types some builder, the inputs (Placeholder) or the gradient step creates."""
    made = {t for b in BUILDERS.values() for t in b.makes}
    return made | set(GRADIENT_OPS) | {"Placeholder", "Const"}


def uncovered_op_types() -> set[str]:
    """Registered op types neither generated nor excused (should be empty)."""
    return set(all_op_defs()) - covered_op_types() - set(NOT_GENERATED)


def _base_shape(rng: np.random.Generator) -> tuple:
    rank = int(rng.choice([0, 1, 2, 3], p=[0.05, 0.25, 0.45, 0.25]))
    return tuple(int(d) for d in rng.integers(1, 6, size=rank))


def _add_input(g: Gen, dtype: str, full: bool = False) -> Var:
    """A placeholder of a shape broadcasting with the base shape (`full`: the base)."""
    start = int(g.rng.integers(len(g.base) + 1)) if g.chance(0.3) else 0
    shape = tuple(d if g.chance(0.75) else 1 for d in g.base[start:])
    if full:
        shape = g.base
    var = g.new_input(shape, dtype)
    g.inputs.extend(g._pending)
    g._pending.clear()
    g.pool.append(var)
    return var


def _gradients(g: Gen) -> None:
    """loss = a sum of reductions of some float tensors; fetch d loss / d (float inputs and
    maybe an intermediate)."""
    inputs = {i.name for i in g.inputs}
    read = {a for line in g.lines for a in line.args}
    floats = [v for v in g.pool if v.kind == "f" and v.name not in inputs]
    leaves = [v for v in floats if v.name not in read]
    if not floats:
        return
    chosen = [g.choice(leaves if leaves and g.chance(0.7) else floats)
              for _ in range(int(g.rng.integers(1, 4)))]
    terms = [g.choice(["tf.reduce_sum({})", "tf.reduce_mean({})", "tf.reduce_sum({0} * {0})",
                       "tf.reduce_max({})"]).format(v.name) for v in chosen]
    losses = g.commit(Draft(" + ".join(dict.fromkeys(terms)), chosen), "loss")
    if not losses:
        return
    wrt = [v for v in g.pool if v.name in inputs and v.kind == "f"]
    if floats and g.chance(0.3):
        wrt.append(g.choice(floats))
    if wrt:
        names = ", ".join(v.name for v in wrt)
        g.commit(Draft(f"tf.gradients({losses[0].name}, [{names}])", [losses[0], *wrt],
                       len(wrt), unpack=True), "gradients")


def _fetches(g: Gen) -> list[str]:
    """Up to four unconsumed results plus a few intermediates (several fetched values)."""
    inputs = {i.name for i in g.inputs}
    read = {a for line in g.lines for a in line.args}
    results = [v.name for v in g.pool if v.name not in inputs]
    leaves = [n for n in results if n not in read]
    inner = [n for n in results if n in read]
    g.rng.shuffle(leaves)
    g.rng.shuffle(inner)
    fetches = leaves[:4] + inner[:int(g.rng.integers(0, 3))]
    if not fetches or g.chance(0.03):
        fetches.append(g.choice([v.name for v in g.pool]))
    return list(dict.fromkeys(fetches))


FOCUS_FACTOR = 10.0  # how much likelier the builders named in `focus` are drawn


def _large_base_shape(rng: np.random.Generator) -> tuple:
    """Rows of LARGE_ELEMENTS elements or more in all: row kernels (softmax, norms,
    reductions over the last axis) then run as parallel chunked row loops, whose passes
    codegen.pipeline software-pipelines."""
    rows = int(rng.choice([2, 3, 7, 16, 40, 130]))
    return rows, -(-LARGE_ELEMENTS // rows) + int(rng.integers(0, 40))


LARGE_ELEMENTS = 1 << 15  # lower.emit.PARALLEL_MIN_ELEMENTS


def generate(seed: int, index: int, size: int = DEFAULT_SIZE, focus: str = "",
             large: bool = False) -> Program:
    """Graph `index` of stream `seed` (see the module docstring); `focus`, builder names
    separated by commas, draws those FOCUS_FACTOR times as often (to aim a run at new
    rules); `large` makes the inputs (rows, cols) of LARGE_ELEMENTS elements or more."""
    rng = np.random.default_rng([seed, index])
    fdtype = str(rng.choice(["float32", "float64"], p=[0.6, 0.4]))
    idtype, base = str(rng.choice(["int32", "int64"])), _base_shape(rng)
    g = Gen(rng, fdtype=fdtype, idtype=idtype, base=_large_base_shape(rng) if large else base,
            edge=bool(rng.random() < 0.15))
    int_graph = g.chance(0.2)
    for k in range(int(rng.integers(1, 4))):
        _add_input(g, g.idtype if int_graph and k == 0 or g.chance(0.15) else g.fdtype,
                   full=large and k == 0)
    builders = list(BUILDERS.values())
    focused = set(filter(None, focus.split(",")))
    if focused - set(BUILDERS):
        raise ValueError(f"unknown builders {sorted(focused - set(BUILDERS))}")
    weights = np.array([b.weight * (FOCUS_FACTOR if b.name in focused else 1.0)
                        for b in builders])
    wanted = int(rng.integers(max(2, size // 3), size + 1))
    for _ in range(4 * wanted):
        if len(g.lines) >= wanted:
            break
        b = builders[int(rng.choice(len(builders), p=weights / weights.sum()))]
        draft = b.fn(g)
        if draft is not None:
            g.commit(draft, b.name)
        g._pending.clear()  # inputs of a builder that gave up
    if g.chance(0.45):
        _gradients(g)
    return prune(Program((seed, index), tuple(g.inputs), tuple(g.lines), tuple(_fetches(g)),
                         session=g.chance(0.2), size=size, focus=focus,
                         large=large))
