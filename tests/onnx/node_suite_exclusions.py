"""Why test_node_suite.py skips a node case: each entry names what graphjit lacks.

Keys of EXCLUSIONS are regular expressions matched against the whole case name; the
first that matches gives the reason. Besides them, a case with a node graphjit.onnx
has no converter for (or in a domain it does not import) is skipped, the reason
naming those ops. Every other case must pass. `python -m tests.onnx.suite_report -v`
runs the skipped cases too.
"""

from __future__ import annotations

import re

EXCLUSIONS: dict[str, str] = {
    # -- random draws no seed reproduces --------------------------------------------
    r"test_bernoulli\w*":
        "Bernoulli: the expected values are draws of NumPy's global generator (seeded or "
        "not, the case's seed does not decide them), which no implementation reproduces",
    r"test_scan_sum": "Scan-8 (opset 8): its batch axis and sequence_lens (Scan-9 and later "
                      "are imported)",
}


def skip_reason(case) -> str | None:
    """Why the node case `case` (node_cases.NodeCase) is skipped, or None when it runs."""
    for pattern, reason in EXCLUSIONS.items():
        if re.fullmatch(pattern, case.name):
            return reason
    from graphjit.onnx.convert import converter_key
    from tests.onnx.node_cases import converted_ops
    converted = converted_ops()
    missing = sorted({converter_key(n.domain, n.op_type) for n in case.model.graph.node
                      if converter_key(n.domain, n.op_type) not in converted})
    if missing:
        return f"graphjit.onnx has no converter for {', '.join(missing)}"
    return None
