"""Compare a program compiled (graphjit.compile, and Session when asked) with the NumPy
reference interpreter, under one tolerance policy.

Tolerance policy. Where every op between the feeds and a fetched value is exact, the
value must be identical: integer arithmetic, comparisons, views, slices, gathers,
concats, casts, max/min, abs, floor/round, select. Zeros compare by value: kernels are
compiled with LLVM's 'nsz' flag (codegen.vecmath.KERNEL_FASTMATH), so the sign of a zero
result is not promised. NaN must match NaN.

Where inexact ops intervene, the allowed error of each element is measured, not guessed:
the reference is re-run a few times with every inexact op's result (each read of it:
fused kernels may recompute it) scaled by 1 +- ulps*eps, and reductions' inputs scaled
likewise (their summation order is free). The tolerance is `SAFETY` times the largest
change those runs make, so cancellation, conditioning and the op count of the graph are
accounted for per element, while a graph of exact ops keeps a tolerance of zero. An
integer or bool element that any such run changes (a floor, comparison or argmax of a
value within rounding of a tie) is not compared. The ulps per op (`ULPS`) are stated
bounds: vecmath's published bound plus NumPy's own error for transcendental functions;
FMA contraction for multiplies; the reciprocal multiply that 'arcp' allows for
divisions. A wrong buffer read or a wrong index gives O(1) relative errors, millions of
float32 ulps, far above these.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field

import numpy as np

import graphjit as tf
from graphjit.errors import Error
from graphjit.interpreter import evaluate, ops_needed, run_op
from graphjit.testing.program import Built, Program, build

SAFETY = 4.0  # tolerance = SAFETY x the largest deviation of the perturbed runs
SAMPLES = 3  # perturbed reference runs per program

TRANSCENDENTAL = ("Exp", "Log", "Log1p", "Expm1", "Tanh", "Sigmoid", "Erf", "Sin", "Cos")
REDUCING = ("Sum", "Mean", "Prod", "SumToShapeOf", "MatMul", "Conv2D", "Conv2DBackpropInput",
            "Conv2DBackpropFilter", "AvgPool", "AvgPoolGrad", "MaxPoolGrad", "ScatterAddLike")
N = None  # input ulps of a reduction: grow with the number of terms summed (_terms)
EXACT_INPUTS = {"MaxPoolGrad": (0,), "ScatterAddLike": (1, 2)}  # where the max is; indices

#: op type -> (ulps on each float input, ulps on the float output); others are exact.
ULPS: dict[str, tuple] = {
    **{t: (0, 4) for t in TRANSCENDENTAL},  # vecmath bound <= 3 ulps + NumPy's own <= 1
    "Pow": (2, 4),  # exp(y log x): the error of log x grows with y
    "Sqrt": (0, 1), "Rsqrt": (0, 2), "Reciprocal": (0, 1),
    "RealDiv": (0, 2),  # 'arcp': x * (1 / y)
    "Mul": (0, 1), "Square": (0, 1),  # 'contract': the product feeds an FMA unrounded
    "FloorDiv": (2, 0), "FloorMod": (2, 1),  # floor of an 'arcp' quotient
    **{t: (N, 2) for t in REDUCING},  # 'reassoc': any summation order, then a division
}


def _terms(op, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> int:
    """How many terms each output element of a reducing op sums."""
    if op.type == "MatMul":
        a = inputs[0]
        return a.shape[-2] if op.attrs.get("transpose_a") else a.shape[-1]
    if op.type == "Conv2D":
        return int(np.prod(inputs[1].shape[:3]))
    if op.type == "Conv2DBackpropInput":
        f = inputs[1].shape
        return f[0] * f[1] * f[3]
    return max(1, max(a.size for a in inputs) // max(outputs[0].size, 1))


def _noise(value: np.ndarray, ulps: float, rng: np.random.Generator) -> np.ndarray:
    if ulps == 0 or value.dtype.kind != "f" or value.size == 0:
        return value
    eps = np.finfo(value.dtype).eps
    scale = 1 + rng.choice([-1.0, 1.0], size=value.shape) * (ulps * eps)
    return (value * scale.astype(value.dtype)).astype(value.dtype)


def perturbed(built: Built, rng: np.random.Generator) -> list[np.ndarray]:
    """The fetches computed by the reference with every inexact op perturbed (see the
    module docstring)."""
    feeds = dict(zip(built.placeholders, built.values))
    values = dict(feeds)
    fetch_ops = [f.op for f in built.fetches if f not in feeds]
    for op in ops_needed(fetch_ops, set(feeds)):
        inputs = [_noise(values[t], ULPS.get(t.op.type, (0, 0))[1], rng) for t in op.inputs]
        ulps_in = ULPS.get(op.type, (0, 0))[0]
        if ulps_in is None:
            outputs = run_op(op, inputs)
            ulps_in = 2 + _terms(op, inputs, outputs) // 4
        if ulps_in:
            exact = EXACT_INPUTS.get(op.type, ())
            inputs = [a if i in exact else _noise(a, ulps_in, rng) for i, a in enumerate(inputs)]
        values.update(zip(op.outputs, run_op(op, inputs)))
    return [_noise(values[f], ULPS.get(f.op.type, (0, 0))[1], rng) for f in built.fetches]


@dataclass
class Mismatch:
    fetch: str
    engine: str
    what: str  # "value", "shape", "dtype", "input mutated"
    index: tuple = ()
    expected: object = None
    got: object = None
    tolerance: float = 0.0
    count: int = 1  # mismatching elements of this fetch

    def __str__(self) -> str:
        if self.what != "value":
            return f"{self.fetch} ({self.engine}): {self.what}: expected {self.expected}, " \
                   f"got {self.got}"
        return (f"{self.fetch} ({self.engine}): {self.count} element(s) differ; at "
                f"{list(self.index)} expected {self.expected!r}, got {self.got!r} "
                f"(tolerance {self.tolerance:.3g})")


@dataclass
class Outcome:
    """`status`: ok, mismatch, error (compiling or running raised) or invalid (the
    reference itself raised: a generator bug)."""

    program: Program
    status: str
    mismatches: list[Mismatch] = field(default_factory=list)
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status != "ok"


def tolerances(built: Built, reference: list[np.ndarray], seed) -> list[np.ndarray] | None:
    """Per-element tolerance of each fetch (inf: not compared); None when a perturbed run
    raised (the graph's validity hangs on rounding: nothing is compared)."""
    rng = np.random.default_rng(seed)
    tols = [np.zeros(r.shape) for r in reference]
    for _ in range(SAMPLES):
        try:
            runs = perturbed(built, rng)
        except Error:
            return None
        for tol, ref, run in zip(tols, reference, runs):
            with np.errstate(all="ignore"):
                if ref.dtype.kind == "f":
                    diff = np.abs(run.astype(np.float64) - ref.astype(np.float64)) * SAFETY
                    diff = np.where(_same(ref, run), 0.0, diff)
                    diff[np.isnan(diff)] = np.inf
                else:
                    diff = np.where(run == ref, 0.0, np.inf)
            np.maximum(tol, diff, out=tol)
    return tols


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equal, NaN equal to NaN (and -0 to +0)."""
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def compare(name: str, engine: str, expected: np.ndarray, got, tol: np.ndarray) -> Mismatch | None:
    got = np.asarray(got)
    if got.dtype != expected.dtype:
        return Mismatch(name, engine, "dtype", expected=expected.dtype, got=got.dtype)
    if got.shape != expected.shape:
        return Mismatch(name, engine, "shape", expected=expected.shape, got=got.shape)
    with np.errstate(all="ignore"):
        if expected.dtype.kind == "f":
            err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
            bad = ~(_same(expected, got) | (err <= tol))
        else:
            bad = ~(_same(expected, got) | np.isinf(tol))
    if not bad.any():
        return None
    where = np.argwhere(bad)
    if expected.dtype.kind == "f":  # report the worst element relative to its tolerance
        excess = np.where(bad, np.nan_to_num(err, nan=np.inf) - tol, -np.inf)
        index = np.unravel_index(int(np.argmax(excess)), bad.shape)
    else:
        index = tuple(where[0])
    index = tuple(int(i) for i in index)
    return Mismatch(name, engine, "value", index, expected[index].item(), got[index].item(),
                    float(tol[index]), int(bad.sum()))


def _engines(built: Built, session: bool):
    """(engine name, results) of each compiled run: compile, its second call (buffers
    reused), and Session when asked."""
    fn = tf.compile(built.fetches, feeds=built.placeholders)
    first = [np.array(v) for v in fn(*built.values)]
    yield "compile", first
    yield "compile (2nd call)", [np.array(v) for v in fn(*built.values)]
    if session:
        with tf.Session(graph=built.graph) as sess:
            yield "session", sess.run(built.fetches, dict(zip(built.placeholders,
                                                              built.values)))


def check(program: Program) -> Outcome:
    """Build, run on the reference and compiled, and compare under the policy above."""
    try:
        built = build(program)
        reference = evaluate(built.fetches, dict(zip(built.placeholders, built.values)))
    except Exception as exc:  # noqa: BLE001 - any failure here is the generator's
        return Outcome(program, "invalid", message=_summary(exc))
    tols = tolerances(built, reference, (*program.key, 7))
    if tols is None:
        tols = [np.full(r.shape, np.inf) for r in reference]
    originals = [v.copy() for v in built.values]
    mismatches = []
    try:
        for engine, results in _engines(built, program.session):
            for name, exp, got, tol in zip(program.fetches, reference, results, tols):
                found = compare(name, engine, exp, got, tol)
                if found:
                    mismatches.append(found)
    except Exception as exc:  # noqa: BLE001 - compile or run failed: report it
        return Outcome(program, "error", mismatches, _summary(exc))
    for inp, before, after in zip(program.inputs, originals, built.values):
        if not np.array_equal(before, after, equal_nan=True):
            mismatches.append(Mismatch(inp.name, "compile", "input mutated"))
    return Outcome(program, "mismatch" if mismatches else "ok", mismatches,
                   str(mismatches[0]) if mismatches else "")


def _summary(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    text = "".join(lines).strip()
    return text if len(text) < 2000 else text[:2000] + " ..."


def ulp_error(expected: float, got: float, dtype: str) -> float:
    """|got - expected| in ulps of expected (for reports)."""
    spacing = float(np.spacing(np.abs(np.array(expected, dtype))))
    return abs(got - expected) / spacing if spacing and math.isfinite(got) else math.inf
