"""Compare a program compiled (graphjit.compile, twice, and Session when asked) with the
NumPy reference interpreter, under the tolerance policy of graphjit.testing.tolerance.
Shapes and dtypes must match exactly, and the feeds must come back unchanged."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

import numpy as np

import graphjit as tf
from graphjit.api import CompiledFunction
from graphjit.interpreter import evaluate
from graphjit.lower import packed_matmul
from graphjit.testing.program import Built, Program, build
from graphjit.testing.tolerance import tolerances


@dataclass
class Mismatch:
    """One fetched value an engine got wrong: the worst element and how many differ."""

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


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equal, NaN equal to NaN (and -0 to +0)."""
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def compare(name: str, engine: str, expected: np.ndarray, got, tol: np.ndarray) -> Mismatch | None:
    """None when `got` matches `expected` within the per-element tolerance `tol`
    (graphjit.testing.tolerance); else the worst element, relative to its tolerance."""
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
    if expected.dtype.kind == "f":
        excess = np.where(bad, np.nan_to_num(err, nan=np.inf) - tol, -np.inf)
        index = np.unravel_index(int(np.argmax(excess)), bad.shape)
    else:
        index = tuple(np.argwhere(bad)[0])
    index = tuple(int(i) for i in index)
    return Mismatch(name, engine, "value", index, expected[index].item(), got[index].item(),
                    float(tol[index]), int(bad.sum()))


def _engines(built: Built, session: bool):
    """(engine name, results) of each compiled run: compile, its second call (buffers
    reused), the packed tier where the first plan deferred one, and Session when asked."""
    fn = tf.compile(built.fetches, feeds=built.placeholders)
    first = [np.array(v) for v in fn(*built.values)]
    yield "compile", first
    yield "compile (2nd call)", [np.array(v) for v in fn(*built.values)]
    if fn._warming:  # a product deferred to the packed tier (packed_matmul.blas_first),
        # which a program's few calls never reach: its plan, built at once
        # (products beyond the packed rule packed too: the plan the tier races)
        packed = CompiledFunction(built.graph, built.fetches, built.placeholders, tiered=False)
        with packed_matmul.racing():
            values = [np.array(v) for v in packed(*built.values)]
        yield "compile (packed tier)", values
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

