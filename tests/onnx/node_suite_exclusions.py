"""The node cases of supported ops that tests/onnx/test_node_suite.py does not run, and why.

Keys are regular expressions matched against the whole case name (without the
`_cpu` suffix); the first that matches gives the reason. Every entry names what
graphjit lacks. Besides them, cases whose model is older than opset 13 (the oldest
graphjit.onnx imports, by design) are excluded. Cases of ops outside the suite
(node_cases.suite_ops) are not listed: they are not collected at all.
`python -m tests.onnx.suite_report -v` runs the excluded cases too and flags any
that passes.
"""

from __future__ import annotations

import re

EXCLUSIONS: dict[str, str] = {
    # -- element types graphjit does not have --------------------------------
    r"test_\w*(uint|UINT)(16|32|64)\w*":
        "uint16/uint32/uint64 tensors: graphjit's only unsigned dtype is uint8",
    r"test_\w*(bfloat16|BFLOAT16)\w*": "bfloat16 tensors: not a graphjit dtype",
    r"test_cast\w*(FLOAT8|FLOAT4E2M1|INT4|INT2|e8m0)\w*":
        "float8/float4/int4/int2 tensors: not graphjit dtypes",
    r"test_\w*(string|STRING)\w*": "string tensors: graphjit has no string dtype",
    r"test_identity_(opt|sequence)":
        "optional and sequence values: graphjit has tensors only",
    # -- ops and attributes not converted ---------------------------------------
    r"test_range_\w+_expanded": "the expanded body uses Loop (control flow): not converted",
    r"test_batchnorm_\w+_training_mode":
        "BatchNormalization in training mode (batch statistics, running-mean outputs)",
    r"test_training_dropout(_default)?(_mask)?":
        "Dropout in training mode with a non-zero ratio draws random masks",
    r"test_maxpool_with_argmax\w*": "MaxPool's Indices output",
}


def exclusion_reason(case: str) -> str | None:
    """Why `case` is excluded, or None when it runs."""
    from tests.onnx.node_cases import node_cases
    opset = node_cases()[case].opset
    if opset < 13:
        return f"the model is opset {opset}: graphjit.onnx imports opset 13 and newer"
    for pattern, reason in EXCLUSIONS.items():
        if re.fullmatch(pattern, case):
            return reason
    return None
