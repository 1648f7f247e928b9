"""Non-maximum suppression, as ONNX's NonMaxSuppression.

The primitive NonMaxSuppression(boxes, scores, max_per_class, iou_threshold,
score_threshold) picks, per batch and class, boxes in order of falling score, skipping
those at or under score_threshold (when `has_score_threshold`) and those whose IoU with
a box already picked exceeds iou_threshold, at most max_per_class of them. The result
is one [batch, class, box] int64 row per pick, so its length depends on the values:
the op is `dynamic_shape` and a compiled function runs it on the host between the plans
before and after it (graphjit.staged), with the NumPy kernel below. Boxes are corners
[y1, x1, y2, x2] (any two opposite corners) or, with `center_point_box`, [x, y, w, h].
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError
from graphjit.graph import Tensor
from graphjit.ops._util import check_dtype, convert_to_tensor, graph_of, make
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register

_FLOATS = frozenset({dtypes.float16, dtypes.float32, dtypes.float64})


def _nms_infer(specs, attrs):
    (boxes, box_dtype), (scores, score_dtype), (count, count_dtype), (iou, iou_dtype), \
        (least, least_dtype) = specs
    check_dtype(box_dtype, _FLOATS, "boxes")
    check_dtype(score_dtype, _FLOATS, "scores")
    check_dtype(count_dtype, frozenset({dtypes.int64}), "max_output_boxes_per_class")
    check_dtype(iou_dtype, _FLOATS, "iou_threshold")
    check_dtype(least_dtype, _FLOATS, "score_threshold")
    if len(boxes) != 3 or boxes[2] not in (None, 4):
        raise ShapeError(f"boxes must be [batches, boxes, 4], got {list(boxes)}")
    if len(scores) != 3:
        raise ShapeError(f"scores must be [batches, classes, boxes], got {list(scores)}")
    for i, j in ((0, 0), (1, 2)):
        if None not in (boxes[i], scores[j]) and boxes[i] != scores[j]:
            raise ShapeError(f"boxes {list(boxes)} and scores {list(scores)} disagree")
    for name, shape in (("max_output_boxes_per_class", count), ("iou_threshold", iou),
                        ("score_threshold", least)):
        if len(shape) != 0:
            raise ShapeError(f"{name} must be a scalar, got shape {list(shape)}")
    return (None, 3), dtypes.int64


def _corners(boxes: np.ndarray, center_point_box: bool) -> np.ndarray:
    """[..., 4] boxes as [y_low, x_low, y_high, x_high]."""
    b = boxes.astype(np.float64)
    if center_point_box:
        x, y, w, h = np.moveaxis(b, -1, 0)
        return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=-1)
    y1, x1, y2, x2 = np.moveaxis(b, -1, 0)
    return np.stack([np.minimum(y1, y2), np.minimum(x1, x2),
                     np.maximum(y1, y2), np.maximum(x1, x2)], axis=-1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one [4] corner box with [n, 4] ones (0 where the union is empty)."""
    low = np.maximum(box[:2], others[:, :2])
    high = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    union = area + np.prod(others[:, 2:] - others[:, :2], axis=1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((inter > 0) & (union > 0), inter / union, 0.0)


def _nms_reference(boxes, scores, max_per_class, iou_threshold, score_threshold, *,
                   center_point_box, has_score_threshold):
    limit = int(max_per_class)
    corners = _corners(boxes, center_point_box)
    iou_threshold = float(iou_threshold)
    rows = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            s = scores[b, c]
            order = np.argsort(-s.astype(np.float64), kind="stable")
            if has_score_threshold:
                order = order[s[order] > score_threshold]
            picked: list[int] = []
            for i in order:
                if len(picked) >= max(limit, 0):
                    break
                if picked and np.any(_iou(corners[b, i], corners[b, picked]) > iou_threshold):
                    continue
                picked.append(int(i))
            rows.extend((b, c, i) for i in picked)
    return np.array(rows, np.int64).reshape(-1, 3)


register(OpDef("NonMaxSuppression", _nms_infer, _nms_reference, Fusion.HOST,
               Host("how many boxes it keeps depends on the values: it runs between the "
                    "plans before and after it, with a NumPy kernel"),
               attrs={"center_point_box": Attr(AttrKind.BOOL),
                      "has_score_threshold": Attr(AttrKind.BOOL)},
               dynamic_shape=True, differentiable=False, onnx=Onnx("NonMaxSuppression")))


def non_max_suppression(boxes, scores, max_output_boxes_per_class, iou_threshold,
                        score_threshold=None, center_point_box: bool = False,
                        name: str | None = None) -> Tensor:
    """[picks, 3] int64 (batch, class, box) rows, as ONNX's NonMaxSuppression: scalar
    thresholds and count; score_threshold None keeps every score."""
    graph = graph_of(boxes, scores)
    boxes, scores = (convert_to_tensor(v, graph=graph) for v in (boxes, scores))
    count = convert_to_tensor(max_output_boxes_per_class, dtype=dtypes.int64, graph=graph)
    iou, least = (convert_to_tensor(v, dtype=scores.dtype, graph=graph)
                  for v in (iou_threshold, 0.0 if score_threshold is None else score_threshold))
    return make("NonMaxSuppression", [boxes, scores, count, iou, least],
                {"center_point_box": bool(center_point_box),
                 "has_score_threshold": score_threshold is not None},
                name=name, default_name="NonMaxSuppression")


__all__ = ["non_max_suppression"]
