"""ONNX string ops onto graphjit's string primitives (graphjit.ops.strings, host steps):
RegexFullMatch, StringConcat, StringNormalizer and StringSplit."""

from __future__ import annotations

import re

from graphjit.errors import UnsupportedError
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import translates
from graphjit.ops.strings import (
    regex_full_match,
    string_concat,
    string_normalizer,
    string_split,
)


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


_SINCE = 20  # the opset that added RegexFullMatch, StringConcat and StringSplit


def _needs_opset_20(ctx) -> None:
    if ctx.opset < _SINCE:
        raise ctx.unsupported(f"ONNX has {ctx.op.type} from opset {_SINCE} on")


@translates("RegexFullMatch")
def _export_regex(ctx) -> str:
    _needs_opset_20(ctx)
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
    _needs_opset_20(ctx)
    return ctx.node("StringConcat", *ctx.inputs)


@converter("StringNormalizer",
           attrs=("case_change_action", "is_case_sensitive", "locale", "stopwords"))
def convert_string_normalizer(ctx: NodeContext) -> Tensor:
    """Stopwords drop whole elements, as onnxruntime (ONNX's Python reference also strips
    accents, which the spec does not ask); case changes are Python's, locale-free."""
    x = ctx.inputs[0]
    if not x.dtype.is_string:
        raise ctx.invalid(f"X must be strings, got {x.dtype}")
    locale = ctx.attr("locale") or "en_US"
    if not locale.startswith("en"):
        raise ctx.unsupported(f"locale {locale!r}: graphjit changes case as Python does, "
                              "right for English only")
    action = ctx.attr("case_change_action") or "NONE"
    if action not in ("LOWER", "UPPER", "NONE"):
        raise ctx.unsupported(f"case_change_action {action!r}; ONNX defines LOWER, UPPER "
                              "and NONE")
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[0] not in (None, 1)):
        raise ctx.invalid(f"X must be [C] or [1, C], got shape {x.shape}")
    return string_normalizer(x, list(ctx.attr("stopwords") or ()), action,
                             bool(ctx.attr("is_case_sensitive", 0)), name=ctx.name)


@translates("StringNormalizer")
def _export_normalizer(ctx) -> str:
    stops = ctx.value(1)
    if stops is None:
        raise UnsupportedError("StringNormalizer: ONNX's stopwords are an attribute; these "
                               "are computed at run time")
    extra = {"stopwords": [s.decode("utf-8") for s in stops.reshape(-1)]} if stops.size else {}
    return ctx.node("StringNormalizer", ctx.inputs[0],
                    case_change_action=ctx.attrs["case_change_action"],
                    is_case_sensitive=int(ctx.attrs["is_case_sensitive"]), **extra)


@converter("StringSplit", attrs=("delimiter", "maxsplit"))
def convert_string_split(ctx: NodeContext) -> list[Tensor]:
    x = ctx.inputs[0]
    if not x.dtype.is_string:
        raise ctx.invalid(f"X must be strings, got {x.dtype}")
    maxsplit = ctx.attr("maxsplit")
    if maxsplit is not None and maxsplit < 0:
        raise ctx.invalid(f"maxsplit must be >= 0, got {maxsplit}")
    return string_split(x, ctx.attr("delimiter") or "", maxsplit, name=ctx.name)


@translates("StringSplit")
def _export_split(ctx) -> list[str]:
    _needs_opset_20(ctx)
    extra = {} if ctx.attrs["maxsplit"] is None else {"maxsplit": ctx.attrs["maxsplit"]}
    return ctx.node("StringSplit", ctx.inputs[0], outputs=2,
                    delimiter=ctx.attrs["delimiter"], **extra)
