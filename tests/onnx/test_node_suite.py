"""ONNX's backend node suite (node_cases.py: every case of the installed onnx, built in
memory) run through graphjit.onnx.backend, one test per case.

A case is skipped only with a written reason: a pattern in node_suite_exclusions.py,
or a node whose op graphjit.onnx has no converter for (named in the reason). Every
other case must pass: a wrong result fails, and so does an UnsupportedError (a
converted op that stopped importing). `python -m tests.onnx.suite_report` counts all.
"""

import pytest

pytest.importorskip("onnx")

from tests.onnx.node_cases import node_cases, run_case  # noqa: E402
from tests.onnx.node_suite_exclusions import skip_reason  # noqa: E402


@pytest.mark.parametrize("name", sorted(node_cases()))
def test_node_case(name):
    case = node_cases()[name]
    reason = skip_reason(case)
    if reason:
        pytest.skip(reason)
    run_case(case)
