"""ONNX's own backend test suite (the node cases shipped in the onnx wheel) run through
graphjit.onnx.backend, for every op graphjit.onnx converts.

The cases come from `onnx.backend.test.BackendTest`; only node cases of the suite's
ops are collected (nothing downloads), and those listed in node_suite_exclusions.py
are skipped with their reason. `python -m tests.onnx.suite_report` runs them all.
"""

import unittest

import pytest

pytest.importorskip("onnx")

import onnx.backend.test  # noqa: E402

from graphjit.onnx import backend  # noqa: E402
from tests.onnx.node_cases import node_cases, suite_ops  # noqa: E402
from tests.onnx.node_suite_exclusions import exclusion_reason  # noqa: E402


class OnnxBackendNodeModelTest(unittest.TestCase):
    """One test per ONNX node case of a supported op (`test_<case>_cpu`)."""


def _collect() -> None:
    # ONNX's runner makes a test per case and device; only the CPU node cases are taken
    # (its own class holding them all is not put where pytest would collect it).
    runner = onnx.backend.test.BackendTest(backend, __name__)
    every = runner.test_cases["OnnxBackendNodeModelTest"]
    ops = suite_ops()
    for case in node_cases().values():
        if case.op not in ops:
            continue
        name = case.name + "_cpu"
        test = getattr(every, name)
        reason = exclusion_reason(case.name)
        if reason:
            test = unittest.skip(reason)(test)
        setattr(OnnxBackendNodeModelTest, name, test)


_collect()
