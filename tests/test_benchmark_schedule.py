"""benchmarks/run.py's two schedules on stand-in systems: every system gets the same
calls in each, rotated call by call and in back-to-back blocks, alternating; the table
prints both medians and graphjit's ratio to each system in both."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest


@pytest.fixture
def run(monkeypatch):
    # run.py chooses Numba's threading layer and extends sys.path when imported
    for key, value in (("NUMBA_THREADING_LAYER", "workqueue"), ("OMP_WAIT_POLICY", "PASSIVE")):
        monkeypatch.setenv(key, os.environ.get(key, value))
    monkeypatch.setattr(sys, "path", list(sys.path))
    from benchmarks import run
    return run


def _workload(run, reps, names, log, fail=None):
    x = np.ones(4, np.float32)

    def system(name):
        def build(*inputs):
            def call():
                log.append(name)
                if name == fail and len(log) > 12:
                    raise RuntimeError("stand-in failure")
                return inputs[0] * 1
            return None, call
        return build

    return run.workloads.Workload("WX", "stand-in", (x,), (x.astype(np.float64),),
                                  [(n, system(n)) for n in names], reps=reps)


def _blocks(calls):
    """The log as (name, length) runs of consecutive calls."""
    runs = []
    for name in calls:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    return [tuple(r) for r in runs]


@pytest.mark.parametrize("reps", [3, 7, 10])
def test_both_schedules_give_every_system_the_same_calls(run, reps):
    names = [run.workloads.GRAPHJIT, run.workloads.NUMPY, "other"]
    log = []
    rows = run.run_workload(_workload(run, reps, names, log), verbose=False)
    rounds = max(2, -(-reps // run.B2B_CALLS))
    for name in names:
        assert len(rows[name]["times_s"]) == reps
        assert len(rows[name]["b2b_times_s"]) == rounds * (run.B2B_CALLS - 1)
        assert rows[name]["median_s"] > 0 and rows[name]["b2b_median_s"] > 0
    assert rows[run.workloads.NUMPY]["b2b_ratio_numpy"] == 1.0
    timed = log[-(reps * len(names) + rounds * len(names) * run.B2B_CALLS):]
    # (with three systems the rotation never calls one twice in a row; a block may
    # join a rotated call of the same system before and after it)
    runs = [n for _, n in _blocks(timed)]
    assert sum(n >= run.B2B_CALLS for n in runs) == rounds * len(names)
    assert max(runs) <= run.B2B_CALLS + 2 and sum(runs) == len(timed)
    text = run.format_workload(_workload(run, reps, names, []), rows)
    assert "rotated" in text and "b2b" in text
    assert "graphjit / system, rotated / b2b: NumPy" in text


def test_a_system_failing_midway_is_reported_not_timed(run):
    names = [run.workloads.GRAPHJIT, run.workloads.NUMPY]
    rows = run.run_workload(_workload(run, 10, names, [], fail=run.workloads.NUMPY),
                            verbose=False)
    assert "stand-in failure" in rows[run.workloads.NUMPY]["error"]
    assert rows[run.workloads.NUMPY]["median_s"] is None
    assert rows[run.workloads.GRAPHJIT]["b2b_median_s"] > 0
    text = run.format_workload(_workload(run, 10, names, []), rows)
    assert "stand-in failure" in text and "graphjit / system" not in text
