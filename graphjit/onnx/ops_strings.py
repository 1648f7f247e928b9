"""ONNX string ops onto graphjit's string primitives (graphjit.ops.strings, host steps):
RegexFullMatch and StringConcat."""

from __future__ import annotations

import re

from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import translates
from graphjit.ops.strings import regex_full_match, string_concat


@converter("RegexFullMatch", attrs=("pattern",))
def convert_regex_full_match(ctx: NodeContext) -> Tensor:
    """Python's re stands in for RE2: the two agree on the common syntax; a pattern
    Python cannot compile is refused, naming the node."""
    x = ctx.inputs[0]
    pattern = ctx.attr("pattern")
    if pattern is None:
        raise ctx.invalid("needs a 'pattern' attribute")
    try:
        re.compile(pattern)
    except re.error as e:
        raise ctx.unsupported(f"pattern {pattern!r}: Python's re cannot compile it ({e})") \
            from None
    if not x.dtype.is_string:
        raise ctx.invalid(f"X must be strings, got {x.dtype}")
    return regex_full_match(x, pattern, name=ctx.name)


@translates("RegexFullMatch")
def _export_regex(ctx) -> str:
    return ctx.node("RegexFullMatch", ctx.inputs[0], pattern=ctx.attrs["pattern"])


@converter("StringConcat")
def convert_string_concat(ctx: NodeContext) -> Tensor:
    x, y = ctx.inputs
    for i, t in enumerate((x, y)):
        if not t.dtype.is_string:
            raise ctx.invalid(f"input {i} must be strings, got {t.dtype}")
    return string_concat(x, y, name=ctx.name)


@translates("StringConcat")
def _export_concat(ctx) -> str:
    return ctx.node("StringConcat", *ctx.inputs)
