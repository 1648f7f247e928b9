"""The loop IR, the Numba backend and the on-disk kernel cache (no graphjit imports)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from codegen import cache, numba_backend
from codegen.loopir import (
    PARALLEL,
    ArrayView,
    Call,
    Const,
    Dim,
    ExternCall,
    Kernel,
    Load,
    Loop,
    Param,
    Store,
    Var,
    VerifyError,
    format_kernel,
    kernel_hash,
)


def add_exp_kernel(name="add_exp", constant=1.0):
    i0, i1 = Var("i0"), Var("i1")
    value = Call("exp", (Call("add", (Load("in0", (i0, i1)), Load("in1", (i1,))), "float32"),),
                 "float32")
    value = Call("mul", (value, Const(constant, "float32")), "float32")
    body = (Loop("i0", 0, Dim("out0", 0), (
        Loop("i1", 0, Dim("out0", 1), (Store("out0", (i0, i1), value),)),), PARALLEL),)
    params = (Param("in0", "float32", 2, False), Param("in1", "float32", 1, False),
              Param("out0", "float32", 2, True))
    return Kernel(name, params, body)


def test_printer_is_readable():
    text = format_kernel(add_exp_kernel())
    assert text.splitlines()[0] == ("kernel add_exp(in0: float32[2d], in1: float32[1d], "
                                    "out out0: float32[2d]):")
    assert "parallel for i0 in [0, out0.shape[0]):" in text
    assert "out0[i0, i1] = mul(exp(add(in0[i0, i1], in1[i1])), 1.0:float32)" in text


def test_structural_hash_ignores_the_name_but_not_the_structure():
    assert kernel_hash(add_exp_kernel("a")) == kernel_hash(add_exp_kernel("b"))
    assert kernel_hash(add_exp_kernel(constant=1.0)) != kernel_hash(add_exp_kernel(constant=2.0))


def test_compiled_kernel_runs_and_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    compiled = numba_backend.compile_kernel(add_exp_kernel("first", constant=3.0))
    again = numba_backend.compile_kernel(add_exp_kernel("second", constant=3.0))
    assert again is compiled  # same structure: compiled once
    x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    b = np.arange(5, dtype=np.float32) / 5
    out = np.empty_like(x)
    compiled.call(x, b, out)
    np.testing.assert_allclose(out, 3 * np.exp(x + b), rtol=1e-6)
    assert compiled.path.startswith(str(tmp_path))
    assert "prange" in compiled.source and "def first(" in compiled.source


def gemm_kernel(name="gemm"):
    """out0 (as rows x cols) = in0 (3-D, as a matrix) times the transpose of in1."""
    rows = Call("mul", (Dim("in0", 0), Dim("in0", 1)), "int64")
    a = ArrayView("in0", (rows, Dim("in0", 2)))
    b = ArrayView("in1", None, transposed=True)
    out = ArrayView("out0", (Call("mul", (Dim("out0", 0), Dim("out0", 1)), "int64"),
                             Dim("out0", 2)))
    params = (Param("in0", "float64", 3, False), Param("in1", "float64", 2, False),
              Param("out0", "float64", 3, True))
    return Kernel(name, params, (ExternCall("matmul", (a, b), out),))


def test_extern_call_prints_runs_and_compiles_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    text = format_kernel(gemm_kernel())
    assert ("reshape(out0, (mul(out0.shape[0], out0.shape[1]), out0.shape[2])) = extern "
            "matmul(reshape(in0, (mul(in0.shape[0], in0.shape[1]), in0.shape[2])), "
            "transpose(in1))") in text
    before = numba_backend.compile_count
    compiled = numba_backend.compile_kernel(gemm_kernel())
    assert compiled.is_extern and numba_backend.compile_count == before
    assert "site.matmul(" in compiled.source and "numba" not in compiled.source
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 4))
    out = np.empty((2, 3, 5))
    compiled.call(a, b, out)
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-12)
    assert "extern" in compiled.llvm() and "extern" in compiled.asm()


def test_extern_kernel_refuses_loops_beside_its_calls():
    kernel = gemm_kernel()
    mixed = Kernel("mixed", kernel.params, kernel.body + add_exp_kernel().body)
    with pytest.raises(TypeError, match="only extern calls"):
        numba_backend.kernel_source(mixed)


def test_numba_failure_carries_the_source(monkeypatch):
    """A kernel the verifier accepts but Numba cannot type (here: its source is edited)."""
    kernel = Kernel("bad", (Param("in0", "float32", 1, False), Param("out0", "float32", 1, True)),
                    (Loop("i0", 0, Dim("out0", 0), (
                        Store("out0", (Var("i0"),), Load("in0", (Var("i0"),))),)),))
    real = numba_backend.kernel_source
    monkeypatch.setattr(numba_backend, "kernel_source",
                        lambda k: real(k).replace("in0[i0]", "in0[i0, i0]"))
    with pytest.raises(numba_backend.BackendError) as info:
        numba_backend.compile_kernel(kernel)
    assert "def bad(in0, out0)" in info.value.source


def test_an_ill_formed_kernel_is_refused_before_numba():
    bad = Kernel("bad", (Param("in0", "float32", 1, False), Param("out0", "float32", 1, True)),
                 (Loop("i0", 0, Dim("out0", 0), (
                     Store("out0", (Var("i0"),), Load("in0", (Var("i0"), Var("i0")))),)),))
    with pytest.raises(VerifyError, match="rank-1"):
        numba_backend.compile_kernel(bad)


def test_corrupt_cache_file_is_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    source = "x = 1\n"
    path = cache.write_source(source)
    with open(path, "w") as f:
        f.write("garbage that is not the promised source")
    with pytest.warns(UserWarning, match="corrupt"):
        again = cache.write_source(source)
    assert again == path and open(path).read() == source


def test_unwritable_cache_falls_back_with_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(blocker))
    with pytest.warns(UserWarning, match="not writable"):
        path = cache.write_source("y = 2\n")
    assert os.path.exists(path) and not path.startswith(str(blocker))


def test_second_process_loads_kernels_from_the_disk_cache(tmp_path):
    script = textwrap.dedent("""
        import time, numpy as np
        from codegen import numba_backend
        from tests.codegen.test_backend import add_exp_kernel
        start = time.perf_counter()
        compiled = numba_backend.compile_kernel(add_exp_kernel("proc", constant=7.0))
        x = np.ones((2, 3), np.float32); out = np.empty_like(x)
        compiled.call(x, np.zeros(3, np.float32), out)
        print(numba_backend.compile_count, round(out[0, 0]))
    """)
    env = dict(os.environ, GRAPHJIT_CACHE_DIR=str(tmp_path))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, cwd=root, text=True,
                           capture_output=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0] == ["1", str(round(7 * np.e))]  # first process compiles
    assert runs[1] == ["0", str(round(7 * np.e))]  # second one loads machine code from disk
