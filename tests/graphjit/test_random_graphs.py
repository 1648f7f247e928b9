"""Random multi-op graphs compiled vs. the reference interpreter (the oracle), and the
generator's own guarantees: it covers the op registry, regenerates a graph from its
(seed, index), and its tolerance policy and minimizer do what they promise.

CI runs GRAPHS graphs of a fixed seed in CHUNKS parametrized chunks (so `pytest -n`
spreads them); GRAPHJIT_LONG_TESTS=1 runs ten times as many. A failure prints each
graph's reproducer; `python -m benchmarks.fuzz --seed SEED --index I --size SIZE`
minimizes it.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import pytest

from graphjit.registry import all_op_defs
from graphjit.testing.differential import Outcome, check, compare
from graphjit.testing.minimize import minimize
from graphjit.testing.program import Input, Line, Program, build, reproducer
from graphjit.testing.random_graphs import (
    NOT_GENERATED,
    covered_op_types,
    generate,
    uncovered_op_types,
)
from graphjit.testing.tolerance import tolerances

SEED = 20261201
GRAPHS = 300 * (10 if os.environ.get("GRAPHJIT_LONG_TESTS") == "1" else 1)
CHUNKS = 12
SIZE = 8  # at most 8 lines a graph: ~6 kernels, ~0.2 s of compiling each


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_graphs_compiled_equal_the_reference(chunk):
    failures = []
    for index in range(chunk, GRAPHS, CHUNKS):
        outcome = check(generate(SEED, index, SIZE))
        if outcome.failed:
            failures.append(outcome)
    assert not failures, f"{len(failures)} graph(s) failed:\n\n" + "\n\n".join(
        f"{o.program.key} {o.status}: {o.message}\n{reproducer(o.program)}" for o in failures)


def test_every_registered_op_is_generated_or_excused():
    assert not uncovered_op_types(), "registered op types no builder makes: add a builder " \
        "(graphjit/testing/builders_*.py) or a reason in NOT_GENERATED"
    assert set(NOT_GENERATED) <= set(all_op_defs()), "NOT_GENERATED names unknown op types"
    assert not set(NOT_GENERATED) & covered_op_types()


def test_builders_make_the_op_types_they_claim():
    """Generation alone (no compiling): every claimed op type shows up in some graph."""
    wanted = covered_op_types()
    for index in range(3000):
        if not wanted:
            break
        wanted -= {op.type for op in build(generate(1, index)).graph.get_operations()}
    assert not wanted, f"claimed but never generated: {sorted(wanted)}"


def test_a_graph_regenerates_alone_from_its_seed_and_index():
    later = generate(SEED, 17)
    for index in range(3):
        generate(SEED, index)
    again = generate(SEED, 17)
    assert reproducer(again) == reproducer(later)
    assert [i.value.tobytes() for i in again.inputs] == [i.value.tobytes() for i in later.inputs]
    assert reproducer(generate(SEED + 1, 17)) != reproducer(later)


def _program(lines: list[tuple[str, str]], value: np.ndarray, fetches=None) -> Program:
    inp = Input("x1", value.dtype.name, (None,) * value.ndim, value)
    body = tuple(Line((t,), expr, tuple(sorted({"x1"} | {a for a, _ in lines if a in expr})))
                 for t, expr in lines)
    return Program((0, 0), (inp,), body, tuple(fetches or [lines[-1][0]]))


def _tolerance(program: Program) -> tuple[np.ndarray, np.ndarray]:
    built = build(program)
    from graphjit.interpreter import evaluate
    reference = evaluate(built.fetches, dict(zip(built.placeholders, built.values)))
    return reference[0], tolerances(built, reference, 0)[0]


def test_exact_ops_must_match_bitwise():
    x = np.linspace(-2, 2, 7).astype(np.float32)
    ref, tol = _tolerance(_program([("t2", "tf.maximum(x1[::-1] + 1.0, x1) - 0.5")], x))
    assert not tol.any()
    off_by_one_ulp = np.nextafter(ref, np.float32(np.inf))
    assert compare("t2", "compile", ref, off_by_one_ulp, tol) is not None
    assert compare("t2", "compile", ref, ref.copy(), tol) is None


def test_inexact_ops_get_ulp_tolerances_that_still_catch_small_errors():
    x = np.linspace(-2, 2, 7).astype(np.float32)
    ref, tol = _tolerance(_program([("t2", "tf.nn.softmax(tf.tanh(x1) * 3.0)")], x))
    eps = np.finfo(np.float32).eps
    assert np.all(tol > 0) and np.all(tol < 200 * eps * np.abs(ref))
    assert compare("t2", "compile", ref, ref * np.float32(1 + 1e-3), tol) is not None
    assert compare("t2", "compile", ref, ref * np.float32(1 + 2 * eps), tol) is None


def test_cancellation_widens_the_tolerance_where_it_happens():
    """exp(x) - exp(x) of two separately rounded exps: zero in the reference, an ulp of
    exp(x) where a kernel recomputes one of them differently."""
    x = np.array([1.0, 2.0], np.float32)
    program = _program([("t2", "tf.exp(x1)"), ("t3", "t2 - tf.identity(t2)")], x)
    ref, tol = _tolerance(program)
    assert np.all(ref == 0) and np.all(tol >= np.spacing(np.exp(x)))


def test_minimize_keeps_the_failure_and_drops_the_rest():
    def checker(program: Program) -> Outcome:
        text = reproducer(program)
        return Outcome(program, "mismatch" if "tf.exp" in text else "ok")

    x = np.linspace(0.5, 2, 6).astype(np.float64)
    program = _program([("t2", "tf.sin(x1)"), ("t3", "tf.exp(t2) * 2.0"), ("t4", "t3 + t2"),
                        ("t5", "tf.reduce_sum(t4)"), ("t6", "tf.cos(x1)")], x,
                       fetches=["t5", "t6"])
    small = minimize(Outcome(program, "mismatch"), checker).program
    assert [line.source() for line in small.lines] == ["t3 = tf.exp(x1) * 2.0",
                                                       "t5 = tf.reduce_sum(t3)"]
    assert small.fetches == ("t5",)


def test_reproducer_is_a_script_that_runs():
    program = generate(SEED, 3)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(reproducer(program), {"__name__": "__reproducer__"})
    assert len(out.getvalue().splitlines()) == len(program.fetches)
    assert check(program).status in ("ok", "mismatch")  # the checker runs the same graph


def test_a_product_deferred_to_the_packed_tier_is_also_run_packed(monkeypatch):
    """A program's two calls never reach the packed tier (packed_matmul.PACKED_AFTER_CALLS):
    the checker runs that tier's plan too, so its kernels meet generated graphs."""
    import graphjit as tf
    from graphjit.api import CompiledFunction

    # (with the packed kernel in the disk cache the first plan is packed already: no tier)
    monkeypatch.setattr(CompiledFunction, "_packed_cached", lambda self, signature: False)
    from graphjit.testing import differential
    from graphjit.testing.program import Built

    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 40], name="x")
        weights = np.random.default_rng(0).standard_normal((40, 24)).astype(np.float32)
        y = tf.nn.relu(tf.matmul(x, tf.constant(weights)))
    built = Built(graph, [x], [y], [np.random.default_rng(1).standard_normal((4, 40))
                                    .astype(np.float32)], namespace={})
    engines = dict(differential._engines(built, session=False))
    assert list(engines) == ["compile", "compile (2nd call)", "compile (packed tier)"]
    want = np.maximum(built.values[0] @ weights, 0)
    for results in engines.values():
        np.testing.assert_allclose(results[0], want, rtol=1e-5, atol=1e-5)
