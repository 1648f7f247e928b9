"""Summary ops (TF1's tf.summary.scalar, histogram, merge, merge_all).

A summary op's value is a serialized `Summary` protobuf, a scalar of the `string`
dtype, as in TF1: `sess.run(merged)` gives the bytes `FileWriter.add_summary` takes.
Protobufs are no kernel's business, so these ops run on the host (Fusion.HOST), in
both engines alike; graphjit.ops._summary_proto writes the bytes, needing no protobuf
library. Summaries join the graph collection GraphKeys.SUMMARIES ("summaries"), which
`merge_all` merges.

Tags follow TF1's summary_scope: the name, cleaned of characters TensorBoard does not
take, opens a name scope, and the scope's name is both the tag and the op's name, so a
second `scalar("loss", ...)` is tagged "loss_1" and one under a name scope "train/loss".
"""

from __future__ import annotations

import contextlib
import re

import numpy as np

from graphjit import dtypes
from graphjit.errors import GraphError, InvalidArgumentError, ShapeError
from graphjit.graph import Tensor
from graphjit.ops._summary_proto import histogram_summary, scalar_summary, summary_tags
from graphjit.ops._util import NUMERIC, check_dtype, convert_to_tensor, graph_of, op_errors
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register

SUMMARIES = "summaries"  # graphjit.GraphKeys.SUMMARIES


def _bytes_value(data: bytes) -> np.ndarray:
    out = np.empty((), object)
    out[()] = data
    return out


def _scalar_infer(specs, attrs):
    (shape, dtype), = specs
    check_dtype(dtype, NUMERIC, "the summarized value")
    if len(shape) != 0:
        raise ShapeError(f"a scalar summary takes a scalar, got shape {list(shape)}: reduce "
                         "it first (graphjit.reduce_mean) or summarize it as a histogram")
    return (), dtypes.string


def _histogram_infer(specs, attrs):
    (_, dtype), = specs
    check_dtype(dtype, NUMERIC, "the summarized values")
    return (), dtypes.string


def _merge_infer(specs, attrs):
    if not specs:
        raise GraphError("merge needs at least one summary")
    for i, (_, dtype) in enumerate(specs):
        if not dtype.is_string:
            raise GraphError(f"input {i} is a {dtype} tensor, not a summary (a string tensor "
                             "of serialized Summary protobufs)")
    return (), dtypes.string


def _scalar_reference(x, *, tag):
    return _bytes_value(scalar_summary(tag, float(x)))


def _histogram_reference(values, *, tag):
    x = np.asarray(values, np.float64)
    if not np.isfinite(x).all():  # TF: "Nan in summary histogram for: <tag>"
        raise InvalidArgumentError(f"the values of histogram '{tag}' hold NaN or infinity, "
                                   "which a histogram cannot count (TF refuses them too)")
    return _bytes_value(histogram_summary(tag, x))


def _merge_reference(*summaries):
    parts, seen = [], set()
    for array in summaries:
        for data in np.asarray(array, object).reshape(-1):
            try:
                tags = summary_tags(data) if isinstance(data, bytes) else None
            except ValueError as exc:
                tags = exc
            if not isinstance(tags, list):
                raise InvalidArgumentError(f"input {data!r:.40} is not a serialized Summary "
                                           f"protobuf ({tags or type(data).__name__})")
            for tag in tags:
                if tag in seen:
                    raise InvalidArgumentError(f"the tag '{tag}' is in two of the merged "
                                               "summaries (TF refuses duplicate tags too)")
                seen.add(tag)
            parts.append(data)
    return _bytes_value(b"".join(parts))  # concatenated messages are their merge


_HOST = Host("builds a serialized Summary protobuf, bytes, which kernels do not compute")
_NO_ONNX = NoOnnx("summaries log to TensorBoard; ONNX models have no such op")
_TAG = {"tag": Attr(AttrKind.STR)}

register(OpDef("ScalarSummary", _scalar_infer, _scalar_reference, Fusion.HOST, _HOST,
               attrs=_TAG, onnx=_NO_ONNX, differentiable=False))
register(OpDef("HistogramSummary", _histogram_infer, _histogram_reference, Fusion.HOST, _HOST,
               attrs=_TAG, onnx=_NO_ONNX, differentiable=False))
register(OpDef("MergeSummary", _merge_infer, _merge_reference, Fusion.HOST, _HOST,
               onnx=_NO_ONNX, differentiable=False))


# -- the public functions --------------------------------------------------------

_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w.]")


@contextlib.contextmanager
def _summary_scope(op_type: str, name, family, tensor: Tensor):
    """TF1's summary_scope: yields (tag, scope); the op is named by the scope."""
    with op_errors(op_type, name if isinstance(name, str) else None, op_type, [tensor]):
        if not isinstance(name, str) or not isinstance(family, (str, type(None))):
            raise InvalidArgumentError(f"the summary name must be a string, got {name!r}"
                                       if not isinstance(name, str) else
                                       f"family must be a string or None, got {family!r}")
        name = _INVALID_TAG_CHARACTERS.sub("_", name).lstrip("/")
        family = None if family is None else _INVALID_TAG_CHARACTERS.sub("_", family).lstrip("/")
        if not name:
            raise GraphError("the summary name is empty")
    with tensor.graph.name_scope(name if family is None else f"{family}/{name}") as scope:
        yield scope.rstrip("/") if family is None else f"{family}/{scope.rstrip('/')}", scope


def _collect(tensor: Tensor, collections, default) -> None:
    for key in dict.fromkeys(default if collections is None else collections):
        tensor.graph.add_to_collection(key, tensor)


def _summary(op_type: str, name, values, collections, family) -> Tensor:
    values = convert_to_tensor(values)
    with _summary_scope(op_type, name, family, values) as (tag, scope):
        out = values.graph.create_op(op_type, (values,), {"tag": tag}, name=scope).outputs[0]
    _collect(out, collections, [SUMMARIES])
    return out


def scalar(name: str, tensor, collections=None, family=None) -> Tensor:
    """A summary of a scalar value, tagged `name` (TF1's tf.summary.scalar): a string
    scalar, the serialized Summary, added to `collections` (default: SUMMARIES)."""
    return _summary("ScalarSummary", name, tensor, collections, family)


def histogram(name: str, values, collections=None, family=None) -> Tensor:
    """A histogram summary of `values` over TF's default buckets (tf.summary.histogram);
    a NaN or infinity among the values fails the run, as in TF."""
    return _summary("HistogramSummary", name, values, collections, family)


def merge(inputs, collections=None, name: str | None = None) -> Tensor:
    """One Summary holding the values of all `inputs` (string tensors of serialized
    summaries); a tag found twice fails the run, as in TF."""
    with op_errors("MergeSummary", name, "Merge/MergeSummary",
                   inputs if isinstance(inputs, (list, tuple)) else [inputs]):
        if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
            raise InvalidArgumentError(f"merge takes a list of summary tensors, got "
                                       f"{inputs!r:.60}")
    graph = graph_of(*inputs)
    with graph.as_default():
        tensors = [convert_to_tensor(t) for t in inputs]
    with graph.name_scope(name or "Merge"):
        out = graph.create_op("MergeSummary", tensors, name=name,
                              default_name="MergeSummary").outputs[0]
    _collect(out, collections, [])
    return out


def merge_all(key: str = SUMMARIES, scope: str | None = None, name: str | None = None):
    """The merge of every summary in collection `key` (under `scope`), or None when
    there is none (TF1's tf.summary.merge_all)."""
    from graphjit.variables import get_collection
    summaries = get_collection(key, scope)
    return merge(summaries, name=name) if summaries else None


__all__ = ["scalar", "histogram", "merge", "merge_all"]
