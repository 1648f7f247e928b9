"""codegen.passes: the decisions the backend prints are made on the loop IR, where these
tests read them (chunking the outer loop, reassociable reductions, Numba's flags)."""

from __future__ import annotations

import numpy as np

from codegen import numba_backend
from codegen.loopir import (
    PARALLEL,
    SERIAL,
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
    kernel_hash,
    verify,
)
from codegen.passes import CHUNK_PARAMS, prepare, reassociate_reductions

F = "float32"
I, J = Var("i0"), Var("j1")
PARAMS = (Param("in0", F, 2, False), Param("out0", F, 1, True))


def row_sums(kind=PARALLEL, start=0) -> Kernel:
    """out0[i] = sum_j in0[i, j] * i (i used as an index and as a value)."""
    value = Call(Fn.MUL, (Load("in0", (I, J)), Call(Fn.CAST, (I,), F)), F)
    body = (Loop("i0", start, Dim("in0", 0), (
        Assign("acc", Const(0.0, F), F),
        Loop("j1", 0, Dim("in0", 1), (Assign("acc", Call(Fn.ADD, (value, Var("acc")), F), F),)),
        Store("out0", (I,), Var("acc")),
    ), kind),)
    return Kernel("row_sums", PARAMS, body)


def test_a_parallel_outer_loop_is_chunked_over_an_unsigned_twin():
    kernel = row_sums()
    verify(kernel)
    prepared = prepare(kernel)
    assert prepared.kernel is kernel and prepared.chunked == kernel.body[0]
    assert not prepared.parallel  # chunks run on graphjit's threads, not prange
    (loop,) = prepared.body
    assert (loop.var, loop.start, loop.stop, loop.kind) == (
        "i0_u", Var(CHUNK_PARAMS[0]), Var(CHUNK_PARAMS[1]), SERIAL)
    text = format_body(prepared.body)
    assert "i0: int64 = cast(i0_u)" in text
    # indexing uses the unsigned twin; the value of i stays the signed variable
    assert "reduce_add(acc, mul(in0[i0_u, j1], cast(i0)))" in text
    assert "out0[i0_u] = acc" in text


def test_only_a_lone_parallel_loop_from_zero_over_shapes_is_chunked():
    assert prepare(row_sums(kind=SERIAL)).chunked is None
    assert prepare(row_sums(start=1)).chunked is None
    twice = row_sums()
    assert prepare(Kernel("k", PARAMS, twice.body * 2)).chunked is None
    loop = twice.body[0]
    over_data = Loop("i0", 0, Call(Fn.CAST, (Load("in0", (0, 0)),), "int64"), loop.body,
                     PARALLEL)
    prepared = prepare(Kernel("k", PARAMS, (over_data,)))
    assert prepared.chunked is None and prepared.parallel


def test_a_float_accumulation_reassociates_and_nothing_else_does():
    acc, x = Var("acc"), Load("in0", (I, J))
    body = (Loop("j1", 0, 4, (
        Assign("acc", Call(Fn.MAXIMUM, (x, acc), F), F),  # accumulator second
        Assign("n", Call(Fn.ADD, (Var("n"), Const(1, "int32")), "int32"), "int32"),
        Assign("t", Call(Fn.ADD, (x, x), F), F),  # not an accumulator
        Assign("acc", Call(Fn.SUB, (acc, x), F), F),  # not reassociable
    )),)
    (loop,) = reassociate_reductions(body)
    assert loop.body[0].value == Call(Fn.REDUCE_MAX, (acc, x), F)
    assert loop.body[1:] == body[0].body[1:]


def test_the_printed_source_follows_the_prepared_kernel():
    kernel = row_sums()
    source = numba_backend.kernel_source(kernel)
    assert source == numba_backend.kernel_source(prepare(kernel))
    assert f"def row_sums(in0, out0, {', '.join(CHUNK_PARAMS)}):" in source
    assert "for i0_u in range(chunk_lo, chunk_hi):" in source
    assert "acc = reduce_add(acc, (in0[i0_u, j1] * np.float32(i0)))" in source
    assert "parallel=False, fastmath=False" in source
    assert kernel_hash(kernel) in source  # the hash of the kernel, not of its prepared body


def test_a_chunked_kernel_runs():
    compiled = numba_backend.compile_kernel(row_sums())
    x = np.random.default_rng(1).normal(size=(300, 7)).astype(F)
    out = np.empty(300, F)
    compiled.call(x, out)
    np.testing.assert_allclose(out, (x * np.arange(300, dtype=F)[:, None]).sum(1), rtol=1e-5)
