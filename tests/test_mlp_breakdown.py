"""benchmarks/mlp_breakdown.py on a small batch: it lists every product graphjit's plan
runs as a BLAS call (so its floor covers them all) and prints the whole table."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest


@pytest.fixture
def breakdown(monkeypatch):
    monkeypatch.setenv("NUMBA_THREADING_LAYER", os.environ.get("NUMBA_THREADING_LAYER",
                                                               "workqueue"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    from benchmarks import mlp_breakdown
    return mlp_breakdown


@pytest.mark.parametrize("backward", [False, True])
def test_products_are_the_plans_extern_steps(breakdown, backward):
    import graphjit as tf
    inputs = breakdown.workloads.mlp_inputs(np.random.default_rng(0), 8)
    fn = breakdown.workloads.graphjit_mlp(tf, backward=backward)
    fn(*inputs)
    externs = [k for k in fn.kernels if str(k).startswith("<extern")]
    products = breakdown.gemms(inputs, backward)
    assert len(products) == len(externs) == (8 if backward else 3)
    for name, a, b in products:  # (each a product NumPy's version computes)
        assert a.shape[1] == b.shape[0], name


def test_prints_the_table(breakdown, capsys):
    breakdown.main(["--rounds", "1", "--reps", "1", "--batch", "8"])
    out = capsys.readouterr().out
    for text in ("W4:", "W5:", "GEMM x.T @ dh1", "the floor", "copy/transpose steps: none",
                 "NumPy bias grad 1", "calls: graphjit", "0.9x NumPy"):
        assert text in out
