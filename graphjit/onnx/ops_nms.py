"""ONNX NonMaxSuppression onto graphjit's NonMaxSuppression primitive, a host step
between plans (its output's length depends on the values: graphjit.ops.nms)."""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.export_ops import translates
from graphjit.ops.nms import non_max_suppression


def _scalar(ctx: NodeContext, i: int, what: str) -> Tensor | None:
    """Optional input i as a scalar (ONNX allows a 1-element 1-D tensor), None if omitted."""
    t = ctx.input(i)
    if t is None:
        return None
    if t.shape.is_fully_defined() and int(np.prod(t.shape)) != 1:
        raise ctx.invalid(f"{what} must hold one value, got shape {t.shape}")
    return gj.reshape(t, [])


@converter("NonMaxSuppression", attrs=("center_point_box",))
def convert_nms(ctx: NodeContext) -> Tensor:
    """Selected [batch, class, box] indices; an omitted count selects none (ONNX's 0)."""
    boxes, scores = ctx.inputs[:2]
    mode = ctx.attr("center_point_box", 0)
    if mode not in (0, 1):
        raise ctx.unsupported(f"center_point_box={mode}; ONNX defines 0 and 1")
    count = _scalar(ctx, 2, "max_output_boxes_per_class")
    iou = _scalar(ctx, 3, "iou_threshold")
    least = _scalar(ctx, 4, "score_threshold")
    if count is None:
        count = np.zeros((), np.int64)
    if iou is None:
        iou = np.zeros((), scores.dtype.np)
    elif iou.dtype != scores.dtype:
        iou = gj.cast(iou, scores.dtype)
    if least is not None and least.dtype != scores.dtype:
        least = gj.cast(least, scores.dtype)
    if not isinstance(count, np.ndarray) and count.dtype != dtypes.int64:
        raise ctx.invalid(f"max_output_boxes_per_class has dtype {count.dtype}, not int64")
    return non_max_suppression(boxes, scores, count, iou, least, bool(mode), name=ctx.name)


@translates("NonMaxSuppression")
def _export_nms(ctx) -> str:
    if any(ctx.dtype(i) != dtypes.float32 for i in (0, 1)):
        raise ctx.unsupported("ONNX's NonMaxSuppression takes float32 boxes and scores")
    boxes, scores, count, iou, least = ctx.inputs
    inputs = [boxes, scores, count, iou] + ([least] if ctx.attrs["has_score_threshold"] else [])
    return ctx.node("NonMaxSuppression", *inputs,
                    center_point_box=int(ctx.attrs["center_point_box"]))
