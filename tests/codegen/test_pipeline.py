"""codegen.pipeline: a chunked row loop of several passes over each row is skewed so the
passes of consecutive rows share one inner loop; anything else is left alone."""

from __future__ import annotations

import numpy as np
import pytest

from codegen import numba_backend
from codegen.loopir import (
    PARALLEL,
    Assign,
    Call,
    Const,
    Dim,
    Fn,
    Kernel,
    Load,
    Loop,
    Param,
    Store,
    Var,
    format_body,
    verify,
)
from codegen.passes import CHUNK_PARAMS, chunk_loop, prepare
from codegen.pipeline import pipeline_rows

F = "float32"
I, J = Var("i0"), Var("j1")
ROWS = (Param("in0", F, 2, False), Param("out0", F, 2, True), Param("out1", F, 1, True))


def _pass(*body) -> Loop:
    return Loop("j1", 0, Dim("in0", 1), body)


def softmax() -> Kernel:
    """The three passes graphjit's lowering emits for softmax over rows, and the row's sum
    stored after them."""
    x = Load("in0", (I, J))
    body = (
        Assign("mx", Const(float("-inf"), F), F),
        _pass(Assign("mx", Call(Fn.MAXIMUM, (Var("mx"), x), F), F)),
        Assign("s", Const(0.0, F), F),
        _pass(Assign("e", Call(Fn.EXP, (Call(Fn.SUB, (x, Var("mx")), F),), F), F),
              Assign("s", Call(Fn.ADD, (Var("s"), Var("e")), F), F),
              Store("out0", (I, J), Var("e"))),
        _pass(Store("out0", (I, J), Call(Fn.REALDIV, (Load("out0", (I, J)), Var("s")), F))),
        Store("out1", (I,), Var("s")),
    )
    return Kernel("softmax", ROWS, (Loop("i0", 0, Dim("in0", 0), body, PARALLEL),))


@pytest.fixture(scope="module")
def compiled_softmax():
    kernel = softmax()
    verify(kernel)
    return numba_backend.compile_kernel(kernel)


def test_three_passes_share_one_skewed_inner_loop():
    prepared = prepare(softmax())
    loop = prepared.body[-1]
    assert loop.var == "i0_u_it" and loop.start == Var(CHUNK_PARAMS[0])
    lo, hi = Var(CHUNK_PARAMS[0]), Var(CHUNK_PARAMS[1])
    assert loop.stop == Call(Fn.SELECT, (Call(Fn.LESS, (lo, hi), "bool"), Call(
        Fn.ADD, (hi, Const(2, "uint64")), "uint64"), lo), "uint64")
    text = format_body(prepared.body)
    # the fused loop: max of row i, exp of row i-1, division of row i-2
    fused = [s for s in loop.body if isinstance(s, Loop)][0]
    assert fused.stop == Call(Fn.SELECT, (Var("all_active"), Dim("in0", 1), 0), "int64")
    fused_text = format_body(fused.body)
    assert "reduce_max(mx_s0, in0[i0_u_s0, j1])" in fused_text
    assert "out0[i0_u_s1, j1] = e_s1" in fused_text
    assert "out0[i0_u_s2, j1] = realdiv(out0[i0_u_s2, j1], s_s2)" in fused_text
    # scalars move one stage on per iteration, later stages first
    assert text.index("s_s2: float32 = s_s1") < text.index("s_s1: float32 = 0.0:float32")
    assert "i0_u_s1: int64 = i0_u_s0" in text and "mx_s1: float32 = mx_s0" in text
    assert text.endswith("out1[i0_u_s2] = s_s2")  # with the last pass


@pytest.mark.parametrize("cols", [1, 3, 17])
def test_every_chunk_split_gives_softmax(compiled_softmax, cols):
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((7, cols)) * 30).astype(F)
    x[2] = -np.inf  # a row of -inf: NaN, as NumPy's
    x[4, 0] = np.inf
    x[5, -1] = 3e38
    with np.errstate(invalid="ignore"):
        wide = x.astype(np.float64)
        e = np.exp(wide - wide.max(axis=1, keepdims=True))
        want = (e / e.sum(axis=1, keepdims=True)).astype(F)
        sums = np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)
    for bounds in ([0, 7], [0, 1, 2, 3, 4, 5, 6, 7], [0, 2, 7], [0, 3, 4, 7]):
        out, out1 = np.full_like(x, 7.0), np.full(7, 7.0, F)
        for lo, hi in zip(bounds, bounds[1:]):
            compiled_softmax.fn(x, out, out1, lo, hi)
        np.testing.assert_allclose(out, want, rtol=3e-6, atol=1e-30, equal_nan=True)
        np.testing.assert_allclose(out1, sums, rtol=3e-6, equal_nan=True)
    out, out1 = np.full_like(x, 7.0), np.full(7, 7.0, F)
    compiled_softmax.fn(x, out, out1, 3, 3)  # an empty chunk writes nothing
    assert (out == 7.0).all() and (out1 == 7.0).all()


def _unchanged(body) -> bool:
    loop = chunk_loop(Loop("i0", 0, Dim("in0", 0), body, PARALLEL))
    return pipeline_rows(loop, {"out0"}) is loop


def test_loops_that_are_not_row_passes_are_left_alone():
    body = softmax().body[0].body
    x = Load("in0", (I, J))
    assert not _unchanged(body)
    assert _unchanged(body[:2])  # one pass: nothing to overlap
    # a store at another row than the loop's own
    other_row = _pass(Store("out0", (Call(Fn.SUB, (I, 1), "int64"), J), x))
    assert _unchanged(body + (other_row,))
    # an output read at another row
    read_other = _pass(Store("out0", (I, J), Load("out0", (Const(0, "int64"), J))))
    assert _unchanged(body + (read_other,))
    # an array read between the passes
    assert _unchanged(body[:2] + (Assign("s", Load("in0", (I, 0)), F),) + body[3:])
    assert _unchanged(body + (Store("out1", (I,), Load("in0", (I, 0))),))
    # passes over other bounds, or with a loop inside
    assert _unchanged(body + (Loop("j1", 1, Dim("in0", 1), (Store("out0", (I, J), x),)),))
    assert _unchanged(body + (_pass(Loop("k", 0, 2, (Store("out0", (I, J), x),))),))
    # a scalar assigned in two passes
    twice = _pass(Assign("mx", x, F), Store("out0", (I, J), x))
    assert _unchanged(body + (twice,))
    # a store between the passes, or after them at another row
    assert _unchanged(body[:2] + (Store("out1", (I,), Var("mx")),) + body[2:])
    assert _unchanged(body + (Store("out1", (Const(0, "int64"),), Var("mx")),))


def test_more_passes_than_the_limit_are_left_alone():
    x = Load("in0", (I, J))
    passes = tuple(_pass(Store("out0", (I, J), x)) for _ in range(5))
    assert _unchanged(passes)
    assert not _unchanged(passes[:4])
